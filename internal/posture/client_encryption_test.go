package posture

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	agekey "filippo.io/age"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// TestClientEncryptionControl: the control fails a repository whose newest
// WAL or backup is stored in the clear, or whose policy declares no
// recipients; passes when the policy declares them and the newest backup
// and WAL are encrypted to them; warns when they are encrypted to other
// recipients than the policy's.
func TestClientEncryptionControl(t *testing.T) {
	ctx := context.Background()
	recipientStrings := map[*crypt.Recipients][]string{}
	newRecipients := func() *crypt.Recipients {
		id, err := agekey.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		list := []string{id.Recipient().String()}
		r, err := crypt.ParseRecipients(list)
		if err != nil {
			t.Fatal(err)
		}
		recipientStrings[r] = list
		return r
	}
	a, b := newRecipients(), newRecipients()
	for _, tc := range []struct {
		name       string
		policy     *crypt.Recipients // declared
		wrote      *crypt.Recipients // what the agent encrypted with
		wantStatus Status
		wantIn     string
	}{
		{"in the clear", nil, nil, Fail, "not encrypted"},
		{"encrypted, not declared", nil, a, Fail, "no recipients declared"},
		{"declared, stored in the clear", a, nil, Fail, "not encrypted"},
		{"declared and encrypted", a, a, Pass, "encrypted to"},
		{"rotated in the policy, not yet by the agent", b, a, Warn, "other recipients"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := objectstore.NewMemory("b")
			l := repo.Layout{Prefix: "pg", Cluster: "main"}
			p := repo.Policy{Cluster: "main", Schedule: "0 2 * * *"}
			if tc.policy != nil {
				p.Encryption = &repo.Encryption{Recipients: recipientStrings[tc.policy]}
			}
			if err := repo.WritePolicy(ctx, store, l, p, nil); err != nil {
				t.Fatal(err)
			}
			seg := filepath.Join(t.TempDir(), "000000010000000000000003")
			if err := os.WriteFile(seg, bytes.Repeat([]byte{7}, 1<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := wal.Push(ctx, store, wal.Config{Layout: l, SystemIdentifier: 42, Recipients: tc.wrote}, seg); err != nil {
				t.Fatal(err)
			}
			m := backup.Manifest{Format: backup.FormatVersion, Kind: backup.KindPhysical, ID: "20261130T070000Z-ab12", Cluster: "main",
				StartTime: time.Now().Add(-time.Hour), StopTime: time.Now().Add(-time.Hour), WALSegmentSize: 16 << 20,
				WALStart: "000000010000000000000003", WALStop: "000000010000000000000003", Encryption: tc.wrote.Info()}
			raw, _ := json.Marshal(m)
			if _, err := store.Put(ctx, l.BackupManifestKey(m.ID), bytes.NewReader(raw), objectstore.PutOptions{Size: int64(len(raw))}); err != nil {
				t.Fatal(err)
			}
			o, err := Gather(ctx, Target{Store: store, Prefix: "pg", Clusters: []string{"main"}})
			if err != nil {
				t.Fatal(err)
			}
			f, ok := Evaluate(o, Params{}).Find(ControlClientEncryption, "main")
			if !ok || f.Status != tc.wantStatus || !bytes.Contains([]byte(f.Observed), []byte(tc.wantIn)) {
				t.Fatalf("got %s %q (found %v), want %s with %q; evidence %+v", f.Status, f.Observed, ok, tc.wantStatus, tc.wantIn, f.Evidence)
			}
			if len(f.Evidence) < 2 {
				t.Fatalf("evidence names the newest backup and WAL: %+v", f.Evidence)
			}
		})
	}
}
