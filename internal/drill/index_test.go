package drill

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// An index's signature is verified once per trusted key and the verdict
// kept, for a valid and a forged index alike: every schedule of a plan
// asks Usable, and asking again never turns a verdict around.
func TestStoredIndexSignatureVerdictIsKept(t *testing.T) {
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	agent, _ := signature.Generate()
	other, _ := signature.Generate()
	agentTrust, _ := signature.NewTrust(agent.Public().String())
	otherTrust, _ := signature.NewTrust(other.Public().String())
	x := &Index{Format: IndexFormat, Cluster: "main", Generated: time.Now().UTC(), Schedules: []IndexEntry{{Name: "tenant-acme", Body: []byte(`{}`)}}}
	body, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	meta := agent.Sign(l.DrillIndexKey(), body, nil)
	good := &StoredIndex{Index: x, body: body, meta: meta}
	forgedBody := append([]byte{}, body...)
	forgedBody[len(forgedBody)-2] = ' '
	forged := &StoredIndex{Index: x, body: forgedBody, meta: meta}
	for i := range 3 {
		if why := good.Usable(l, agentTrust, time.Now()); why != "" {
			t.Fatalf("ask %d: the agent's index refused: %s", i, why)
		}
		if why := forged.Usable(l, agentTrust, time.Now()); !strings.Contains(why, "not signed by a trusted key") {
			t.Fatalf("ask %d: a forged index: %q", i, why)
		}
		if why := good.Usable(l, otherTrust, time.Now()); !strings.Contains(why, "not signed by a trusted key") {
			t.Fatalf("ask %d: the agent's index under another key's trust: %q", i, why)
		}
	}
	if len(good.checked) != 1 || len(forged.checked) != 1 {
		t.Fatalf("verdicts kept: %d and %d, want one each (the agent's key)", len(good.checked), len(forged.checked))
	}
}
