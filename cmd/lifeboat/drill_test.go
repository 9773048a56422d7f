package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

func TestDrillReportTableAndMarkdown(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 30, 0, 0, time.UTC)
	evs := []*drill.Evidence{
		{ID: "a", Schedule: "nightly", Passed: true, Finished: at, RTOSeconds: 42.4, RTOTargetSeconds: 900, Source: "backup:b1+wal", RestoredToTime: at.Add(-time.Minute),
			Checks: []drill.CheckResult{{Name: "rows", Passed: true, Observed: "500"}}},
		{ID: "b", Schedule: "nightly", Passed: false, Finished: at.Add(24 * time.Hour), RTOSeconds: 61, RTOTargetSeconds: 900, Source: "backup:b2+wal",
			Checks: []drill.CheckResult{{Name: "rows", Passed: false, Observed: "0"}, {Name: "fresh", Passed: true}}},
	}
	var table bytes.Buffer
	if err := writeReport(&table, "table", "nightly", evs, signature.Trust{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "passed") || !strings.Contains(lines[2], "FAILED") || !strings.Contains(lines[2], "rows=0") || !strings.Contains(lines[2], "1/2") {
		t.Fatalf("table:\n%s", table.String())
	}
	var md bytes.Buffer
	if err := writeReport(&md, "markdown", "nightly", evs, signature.Trust{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| finished | result |") || !strings.Contains(md.String(), "| 2026-11-25T03:30:00Z | passed | 42.4 | 900 | backup:b1+wal |") {
		t.Fatalf("markdown:\n%s", md.String())
	}
	if err := writeReport(&md, "html", "nightly", evs, signature.Trust{}); err == nil {
		t.Fatal("an unknown format must be refused")
	}
}

// TestDrillReportMarksEvidenceWithoutATrustedSignature: with --evidence-key,
// a record that is not signed by a trusted key is marked, so a reviewer
// does not count a forged "passed" as a drill.
func TestDrillReportMarksEvidenceWithoutATrustedSignature(t *testing.T) {
	agent, _ := signature.Generate()
	trust, _ := signature.NewTrust(agent.Public().String())
	evs := []*drill.Evidence{{ID: "a", Schedule: "nightly", Passed: true, Finished: time.Now()}}
	var out bytes.Buffer
	if err := writeReport(&out, "table", "nightly", evs, trust); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "SIGNATURE NOT VERIFIED: document is not signed") {
		t.Fatalf("unsigned evidence not marked:\n%s", out.String())
	}
	out.Reset()
	if err := writeReport(&out, "table", "nightly", evs, signature.Trust{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "SIGNATURE") {
		t.Fatalf("marked without any trusted key:\n%s", out.String())
	}
}
