package drill

import (
	"errors"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

func TestTargetValidateAndApply(t *testing.T) {
	started := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		target *Target
		err    bool
		want   restore.Request
		text   string
	}{
		{"none", nil, false, restore.Request{}, ""},
		{"offset", &Target{OffsetSeconds: 3600}, false, restore.Request{Target: started.Add(-time.Hour)}, "1h0m0s before the drill's start"},
		{"xid exclusive", &Target{XID: "742", Exclusive: true}, false, restore.Request{Point: restore.Point{XID: "742", Exclusive: true}}, "xid 742 (exclusive)"},
		{"restore point", &Target{RestorePoint: "before-release"}, false, restore.Request{Point: restore.Point{Name: "before-release"}}, "restore point before-release"},
		{"immediate", &Target{Immediate: true}, false, restore.Request{Point: restore.Point{Immediate: true}}, "immediate (end of the base backup)"},
		{"two targets", &Target{LSN: "0/1", XID: "9"}, true, restore.Request{}, ""},
		{"empty", &Target{}, true, restore.Request{}, ""},
		{"exclusive offset", &Target{OffsetSeconds: 60, Exclusive: true}, true, restore.Request{}, ""},
		{"malformed lsn", &Target{LSN: "five"}, true, restore.Request{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.target.Validate()
			if c.err {
				if err == nil || (!errors.Is(err, ErrInvalidTarget) && !errors.Is(err, restore.ErrInvalidTarget)) {
					t.Fatalf("Validate() = %v, want an invalid target", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var req restore.Request
			c.target.apply(&req, started)
			if !req.Target.Equal(c.want.Target) || req.Point != c.want.Point || c.target.String() != c.text {
				t.Fatalf("request target %s point %+v, %q", req.Target, req.Point, c.target.String())
			}
		})
	}
}
