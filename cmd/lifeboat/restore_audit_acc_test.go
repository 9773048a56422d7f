package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// `lifeboat restore audit` lists a signed, locked record and exits 0;
// once an unsigned record is added beside it, it flags that one and
// exits 1.
func TestAccRestoreAuditCommand(t *testing.T) {
	env := testenv.Require(t)
	m := env.MinIO[0]
	ctx := context.Background()
	cfg := repo.AgentConfig{Endpoint: m.Endpoint, PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		Bucket: fmt.Sprintf("audit-cmd-%08x", rand.Uint32()), Prefix: "pg", Cluster: "main"}
	client, err := objectstore.NewClient(ctx, cfg.ObjectStore())
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: cfg.Bucket}); err != nil {
		t.Fatal(err)
	}
	store := client.Store(cfg.Bucket)
	body, _ := cfg.Marshal()
	cfgPath := filepath.Join(t.TempDir(), "lifeboat.json")
	if err := os.WriteFile(cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := signature.Generate()
	l := cfg.Layout()
	put := func(id string, s *signature.Signer, retain bool) {
		for _, phase := range []string{repo.AuditStarted, repo.AuditFinished} {
			rec := restore.AuditRecord{Format: 1, ID: id, Phase: phase, Cluster: "main", Kind: restore.KindCluster, FrontEnd: restore.FrontEndCLI,
				Started: time.Now().UTC().Truncate(time.Second), Result: restore.AuditSucceeded, DataDirectory: "/srv/copy"}
			b, _ := json.Marshal(rec)
			key := l.RestoreAuditKey(id, phase)
			opts := objectstore.PutOptions{Size: int64(len(b)), Metadata: s.Sign(key, b, nil)}
			if retain {
				opts.RetainUntil = time.Now().Add(time.Hour)
			}
			if _, err := store.Put(ctx, key, bytes.NewReader(b), opts); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func() (string, error) {
		var out bytes.Buffer
		err := runRestoreAudit(ctx, signedListing{agentFlags: agentFlags{configPath: cfgPath}, keys: []string{signer.Public().String()},
			format: "text", out: &out}, nil)
		return out.String(), err
	}
	put("20261130T100000.000Z-aaaaaaaa", signer, true)
	out, err := run()
	if err != nil || !strings.Contains(out, "20261130T100000.000Z-aaaaaaaa succeeded cluster restore via cli") || strings.Contains(out, "FLAGGED") {
		t.Fatalf("a sound record: %v\n%s", err, out)
	}
	put("20261130T110000.000Z-bbbbbbbb", nil, false)
	out, err = run()
	if !errors.Is(err, errAuditFlagged) || exitCode(err) != 1 || !strings.Contains(out, "FLAGGED: unsigned") || !strings.Contains(out, "FLAGGED: not under object lock") {
		t.Fatalf("an unsigned record: %v (exit %d)\n%s", err, exitCode(err), out)
	}
}
