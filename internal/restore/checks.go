package restore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
)

// Check kinds.
const (
	// CheckSQL: the query's single value, as text, equals Expected.
	CheckSQL = "sql"
	// CheckRowCountFloor: the query's single value, a number, is at least Expected.
	CheckRowCountFloor = "row_count_floor"
	// CheckAttachments: every ir_attachment.store_fname of the tenant
	// resolves in the object store as of the restore point (tenant restores
	// with attachments).
	CheckAttachments = "attachments"
	// CheckRPO: the restored point is at most Expected (a duration) older
	// than the start of the restore.
	CheckRPO = "rpo"
)

// Check is one assertion on the restored copy. The JSON form is the one
// drill schedules store in the repository.
type Check struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	SQL      string `json:"sql,omitempty"`
	Expected string `json:"expected,omitempty"`
	// Database the query runs in (cluster restores); "" = postgres. A
	// tenant restore's checks always run in the restored database.
	Database string `json:"database,omitempty"`
}

// CheckResult is one check's outcome.
type CheckResult struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Passed   bool   `json:"passed"`
	Expected string `json:"expected,omitempty"`
	Observed string `json:"observed,omitempty"`
	// Detail is the database's error, or what a failing check found.
	Detail string `json:"detail,omitempty"`
}

// ObservedError is CheckResult.Observed of a check that could not be
// evaluated (its query failed, its expectation is malformed); Detail says
// why.
const ObservedError = "error"

// String is the check's outcome in one line: "pass", "fail: <error>" or
// "fail: got <value>".
func (r CheckResult) String() string {
	switch {
	case r.Passed:
		return "pass"
	case r.Observed == ObservedError:
		return "fail: " + r.Detail
	default:
		return "fail: got " + r.Observed + suffix(r.Detail)
	}
}

// Failure describes a failing check for a person: what was expected, what
// the copy showed.
func (r CheckResult) Failure() string {
	if r.Observed == ObservedError {
		return fmt.Sprintf("check %q could not be evaluated on the restored copy: %s", r.Name, r.Detail)
	}
	return fmt.Sprintf("check %q: expected %q, observed %q on the restored copy%s", r.Name, r.Expected, r.Observed, suffix(r.Detail))
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// AllPassed reports whether every result passed (true for none).
func AllPassed(rs []CheckResult) bool {
	for _, r := range rs {
		if !r.Passed {
			return false
		}
	}
	return true
}

// evaluateChecks runs every check against the restored copy out describes
// (its server must be running). It never fails as a whole: a check that
// cannot be evaluated is a failed check saying why.
func evaluateChecks(ctx context.Context, checks []Check, out *Outcome) []CheckResult {
	var rs []CheckResult
	for _, c := range checks {
		r := CheckResult{Name: c.Name, Kind: c.Kind, Expected: c.Expected}
		switch c.Kind {
		case CheckSQL, CheckRowCountFloor, "":
			if r.Kind == "" {
				r.Kind = CheckSQL
			}
			val, err := queryValue(ctx, out.DSN(c.Database), c.SQL)
			if err != nil {
				r.Observed, r.Detail = ObservedError, err.Error()
				break
			}
			r.Observed = val
			if r.Kind == CheckSQL {
				r.Passed = val == c.Expected
			} else {
				var got, floor float64
				_, e1 := fmt.Sscan(val, &got)
				_, e2 := fmt.Sscan(c.Expected, &floor)
				r.Passed = e1 == nil && e2 == nil && got >= floor
				r.Expected = ">= " + c.Expected
			}
		case CheckAttachments:
			r.Expected = "0 unresolved"
			a := out.Attachments
			if a == nil {
				r.Observed, r.Detail = "n/a", "attachment checks need a tenant restore with attachments"
				break
			}
			r.Observed = fmt.Sprintf("%d unresolved of %d", len(a.Missing), a.Referenced)
			r.Passed = len(a.Missing) == 0
			if !r.Passed {
				r.Detail = "first: " + a.Missing[0]
			}
		case CheckRPO:
			limit, err := time.ParseDuration(c.Expected)
			if err != nil {
				r.Observed, r.Detail = ObservedError, "expected must be a duration: "+err.Error()
				break
			}
			age := out.Started.Sub(out.RestoredToTime).Truncate(time.Second)
			r.Expected, r.Observed = "<= "+limit.String(), age.String()
			r.Passed = !out.RestoredToTime.IsZero() && age <= limit
		default:
			r.Observed, r.Detail = ObservedError, "unknown check kind "+c.Kind
		}
		rs = append(rs, r)
	}
	return rs
}

// queryValue runs one check query in its own connection (checks may name
// different databases).
func queryValue(ctx context.Context, dsn, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	return pg.QueryValue(ctx, conn, sql)
}
