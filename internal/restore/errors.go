package restore

import (
	"errors"
	"fmt"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
)

var (
	// ErrOutsideWindow means the requested point in time is not restorable
	// (before the oldest usable backup, after the newest archived WAL, or
	// across a WAL gap). Returned as an *OutsideWindowError.
	ErrOutsideWindow = errors.New("point in time outside the restorable window")
	// ErrTargetNotEmpty means the target data directory exists and is not empty.
	ErrTargetNotEmpty = errors.New("target data directory is not empty")
	// ErrRestoreInProgress means another live process is restoring into the
	// target data directory.
	ErrRestoreInProgress = errors.New("restore in progress")
	// ErrPortInUse means the target port is taken.
	ErrPortInUse = errors.New("port in use")
	// ErrRecoveryFailed means PostgreSQL did not reach the target (a missing WAL
	// segment, a corrupt one, a server that would not start). The error
	// carries the last lines of the server log.
	ErrRecoveryFailed = errors.New("recovery failed")
	// ErrTablespaces means the backup has tablespaces besides the main data
	// directory. Their absolute paths would point the copy at the source's
	// tablespace directories, so such backups are refused until a
	// tablespace mapping is supported.
	ErrTablespaces = errors.New("backup has extra tablespaces")
	// ErrCannotDecrypt means the backup, dump or WAL a restore needs is
	// encrypted and no identity held decrypts it; it wraps the
	// *crypt.MissingIdentityError naming the recipients. Plans fail with it.
	ErrCannotDecrypt = errors.New("no identity decrypts what the restore reads")
	// ErrNotARestore means RemoveCluster or DropTenant was pointed at something
	// Lifeboat did not restore (no lifeboat-restore.json, no restore
	// comment): it is left alone.
	ErrNotARestore = errors.New("not a Lifeboat restore")
	// ErrBadTimeline means recovery_target_timeline is not latest, current or a
	// timeline number.
	ErrBadTimeline = errors.New("invalid recovery target timeline")
	// ErrTargetExists means the tenant restore's new database already exists.
	ErrTargetExists = errors.New("target database already exists")
)

// OutsideWindowError says which point was asked for and what the
// repository can restore.
type OutsideWindowError struct {
	// Target is the requested time (zero for "latest").
	Target time.Time
	Window catalog.Window
	// Reason adds detail (the backup asked for, a WAL gap).
	Reason string
}

func (e *OutsideWindowError) Error() string {
	w := e.Window
	var s string
	switch {
	case !w.Restorable && e.Target.IsZero():
		s = "nothing is restorable: no complete base backup has all the WAL it needs"
	case !w.Restorable:
		s = fmt.Sprintf("%s is outside the restorable window: nothing is restorable (no complete base backup has all the WAL it needs)",
			e.Target.UTC().Format(time.RFC3339Nano))
	default:
		s = fmt.Sprintf("%s is outside the restorable window %s … %s (backup %s to WAL segment %s)",
			e.Target.UTC().Format(time.RFC3339Nano), w.Earliest.UTC().Format(time.RFC3339), w.Latest.UTC().Format(time.RFC3339),
			w.FromBackup, w.LatestSegment)
	}
	if len(w.Gaps) > 0 {
		s += fmt.Sprintf("; archived WAL has %d gap(s), first %s..%s", len(w.Gaps), w.Gaps[0].From, w.Gaps[0].To)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap lets errors.Is(err, ErrOutsideWindow) match.
func (e *OutsideWindowError) Unwrap() error { return ErrOutsideWindow }
