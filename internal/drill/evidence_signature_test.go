package drill

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// TestEvidenceSignedByTheAgentVerifiesAndAForgeryDoesNot: evidence written
// by a drill with the agent's key verifies against that key; a "passed"
// record a writer of the bucket put beside it (unsigned, or signed by its
// own key) does not, and neither does the agent's record against a trust
// that does not hold the agent's key.
func TestEvidenceSignedByTheAgentVerifiesAndAForgeryDoesNot(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	agent, _ := signature.Generate()
	attacker, _ := signature.Generate()
	trust, _ := signature.NewTrust(agent.Public().String())

	spec := Spec{Schedule: "nightly", Layout: l, Signer: agent, EvidenceRetention: time.Hour}
	ev := &Evidence{ID: "20261101T000000Z-real", Schedule: "nightly", Passed: false, Finished: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	if err := writeEvidence(ctx, store, spec, ev); err != nil {
		t.Fatal(err)
	}
	got, err := Latest(ctx, store, l, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := got.SignedBy(trust); err != nil || id != agent.Public().ID() {
		t.Fatalf("the agent's own evidence: signer %q, %v", id, err)
	}
	if _, err := got.SignedBy(signature.Trust{}); !errors.Is(err, signature.ErrUnknownSigner) {
		t.Fatalf("evidence checked against nobody's key: %v, want ErrUnknownSigner", err)
	}

	forge := func(id string, signer *signature.Signer) *Evidence {
		t.Helper()
		body := `{"format":1,"id":"` + id + `","schedule":"nightly","passed":true,"finished":"2026-11-0` + id[len(id)-1:] + `T00:00:00Z"}`
		key := l.DrillEvidenceKey("nightly", id)
		if _, err := store.Put(ctx, key, strings.NewReader(body), objectstore.PutOptions{Size: -1,
			Metadata: signer.Sign(key, []byte(body), nil)}); err != nil {
			t.Fatal(err)
		}
		evs, err := List(ctx, store, l, "nightly")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.ID == id {
				return e
			}
		}
		t.Fatalf("forged evidence %s not listed", id)
		return nil
	}
	if _, err := forge("20261102T000000Z-x2", nil).SignedBy(trust); !errors.Is(err, signature.ErrUnsigned) {
		t.Fatalf("unsigned forgery: %v, want ErrUnsigned", err)
	}
	if _, err := forge("20261103T000000Z-x3", attacker).SignedBy(trust); !errors.Is(err, signature.ErrUnknownSigner) {
		t.Fatalf("forgery signed by the attacker's key: %v, want ErrUnknownSigner", err)
	}
}
