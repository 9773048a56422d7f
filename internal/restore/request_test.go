package restore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// TestSource: the form a plan shows is the form an apply reads back, and
// nothing else is taken for a source.
func TestSource(t *testing.T) {
	for _, s := range []restore.Source{restore.BackupSource("20261125T094100Z"), restore.DumpSource("20261125T094100Z-acme"),
		restore.BackupSource("a+wal")} {
		got, err := restore.ParseSource(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v", s.String(), got, err, s)
		}
	}
	if got := restore.BackupSource("B1").String(); got != "backup:B1+wal" {
		t.Errorf("BackupSource = %q", got)
	}
	if got := restore.DumpSource("D1").String(); got != "dump:D1" {
		t.Errorf("DumpSource = %q", got)
	}
	for _, bad := range []string{"", "backup:", "backup:+wal", "backup:B1", "dump:", "B1", "wal:B1", "latest"} {
		if s, err := restore.ParseSource(bad); !errors.Is(err, restore.ErrInvalidSource) {
			t.Errorf("ParseSource(%q) = %+v, %v; want ErrInvalidSource", bad, s, err)
		}
	}
}

// TestCheckResultString: what lifeboat_restore's check_results shows.
func TestCheckResultString(t *testing.T) {
	for _, tc := range []struct {
		r    restore.CheckResult
		want string
	}{
		{restore.CheckResult{Passed: true, Observed: "42"}, "pass"},
		{restore.CheckResult{Observed: "41"}, "fail: got 41"},
		{restore.CheckResult{Observed: restore.ObservedError, Detail: `relation "x" does not exist`}, `fail: relation "x" does not exist`},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestRequestRefusals: a request that cannot be planned or executed says
// why before anything is read or written.
func TestRequestRefusals(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("repo")
	l := repo.Layout{Prefix: "p", Cluster: "c"}
	if _, err := restore.PlanRestore(ctx, store, restore.Request{Kind: "both", Layout: l}); err == nil {
		t.Error("PlanRestore of an unknown kind succeeded")
	}
	_, err := restore.PlanRestore(ctx, store, restore.Request{Kind: restore.KindCluster, Layout: l, Source: restore.DumpSource("d")})
	if !errors.Is(err, restore.ErrInvalidSource) {
		t.Errorf("cluster restore from a dump: %v, want ErrInvalidSource", err)
	}
	if _, err := restore.Execute(ctx, store, restore.Request{Kind: restore.KindCluster, Layout: l}, nil); err == nil {
		t.Error("Execute without a plan succeeded")
	}
	var ow *restore.OutsideWindowError
	if _, err := restore.PlanRestore(ctx, store, restore.Request{Kind: restore.KindCluster, Layout: l}); !errors.As(err, &ow) {
		t.Errorf("PlanRestore of an empty repository: %v, want *OutsideWindowError", err)
	}
}
