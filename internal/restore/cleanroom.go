package restore

// A clean-room restore (Request.CleanRoom) is the restore after a
// credential compromise: the copy must come from data the attacker could
// not have touched, and must not give the attacker a way back in.
//
// Safety rules, each with a test:
//   - It reads with restorer (read-only) credentials: the front end gives a
//     read-only store and writes audit records and kept plans through
//     AuditOptions.Store; the copy's restore_command gets only the
//     restorer's keys.
//   - With NotAfter (the declared compromise time) every read, the plan's
//     and restore_command's, sees the repository as it was then
//     (objectstore.AsOf, AgentConfig.ReadAsOf): a backup or WAL segment the
//     attacker shadowed with a new version or hid behind a delete marker
//     reads as it was, and anything written since does not exist. A
//     point in time after NotAfter is refused.
//   - Before PostgreSQL starts, every archived WAL segment the plan replays
//     is read and checked against its recorded SHA-256 (the base backup's
//     parts are checked against its manifest as they are extracted, and
//     history files as restore_command fetches them): a corrupt or
//     tampered object fails the restore before any server runs.
//   - The copy never archives (archive_mode off, no archive_command, as
//     every restore), listens on the loopback (or the declared address),
//     and its superuser gets a fresh random password (Outcome.Superuser*),
//     so a password the attacker knew from the source does not open it.
//   - Only a cluster restore can be a clean room: a tenant restore goes
//     into a live server.

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Clean-room errors, matched with errors.Is.
var (
	// ErrCleanRoom means a clean-room restore was asked for something it
	// cannot be (a tenant restore).
	ErrCleanRoom = errors.New("not a valid clean-room restore")
	// ErrAfterCompromise means the point in time lies after NotAfter, or
	// NotAfter lies in the future.
	ErrAfterCompromise = errors.New("point in time after the declared compromise")
)

// validCleanRoom checks the clean-room arguments of r.
func (r *Request) validCleanRoom() error {
	if r.CleanRoom && r.Kind != KindCluster {
		return fmt.Errorf("%w: a %s restore goes into a live server; only a cluster restore into a new data directory can be a clean room", ErrCleanRoom, r.Kind)
	}
	if r.NotAfter.IsZero() {
		return nil
	}
	if r.NotAfter.After(time.Now()) {
		return fmt.Errorf("%w: not_after %s is in the future", ErrAfterCompromise, r.NotAfter.UTC().Format(time.RFC3339))
	}
	if !r.Target.IsZero() && r.Target.After(r.NotAfter) {
		return fmt.Errorf("%w: point in time %s is after not_after %s; choose a point before the compromise, or latest (the newest point before it)",
			ErrAfterCompromise, r.Target.UTC().Format(time.RFC3339), r.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// readStore is what r reads: the repository as of NotAfter when set.
func (r *Request) readStore(store objectstore.Store) objectstore.Store {
	if r.NotAfter.IsZero() {
		return store
	}
	return objectstore.AsOf(store, r.NotAfter)
}

// setSuperuserPassword gives role a fresh random password on the restored
// server (reached over its private, trusted socket).
func setSuperuserPassword(ctx context.Context, dsn, role string) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	password := base64.RawURLEncoding.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("connecting to the clean-room copy: %w", err)
	}
	defer conn.Close(ctx)
	// NOTE: ALTER ROLE takes no bind parameters; both are quoted here.
	sql := fmt.Sprintf("ALTER ROLE %s WITH PASSWORD %s", pgx.Identifier{role}.Sanitize(), "'"+strings.ReplaceAll(password, "'", "''")+"'")
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("setting a fresh password for %s on the clean-room copy: %w", role, err)
	}
	return password, nil
}

// ErrBadVerifier means a superuser verifier that is not a SCRAM-SHA-256
// verifier.
var ErrBadVerifier = errors.New("not a SCRAM-SHA-256 verifier")

// setSuperuserVerifier gives role the password whose SCRAM-SHA-256
// verifier is verifier: PostgreSQL stores a verifier given as the password
// as it is, so the password itself never reaches this host.
func setSuperuserVerifier(ctx context.Context, dsn, role, verifier string) error {
	if !scramVerifier.MatchString(verifier) {
		return fmt.Errorf("clean-room superuser: %w", ErrBadVerifier)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connecting to the clean-room copy: %w", err)
	}
	defer conn.Close(ctx)
	// NOTE: the verifier is checked above to hold no quote.
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER ROLE %s WITH PASSWORD '%s'", pgx.Identifier{role}.Sanitize(), verifier)); err != nil {
		return fmt.Errorf("setting the requested password verifier for %s on the clean-room copy: %w", role, err)
	}
	return nil
}

// scramVerifier is PostgreSQL's stored SCRAM-SHA-256 form.
var scramVerifier = regexp.MustCompile(`^SCRAM-SHA-256\$[0-9]{1,7}:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$`)

// ScramVerifier renders password's SCRAM-SHA-256 verifier as PostgreSQL
// stores it (RFC 7677; 4096 iterations and a random 16-byte salt, as
// PostgreSQL's own client does).
func ScramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramVerifierWith(password, salt, 4096)
}

func scramVerifierWith(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(mac(salted, "Server Key"))), nil
}

// VerifierMatches reports whether verifier is password's SCRAM-SHA-256
// verifier.
func VerifierMatches(verifier, password string) bool {
	if !scramVerifier.MatchString(verifier) {
		return false
	}
	head, _, _ := strings.Cut(strings.TrimPrefix(verifier, "SCRAM-SHA-256$"), "$")
	iter, salt64, _ := strings.Cut(head, ":")
	n, err1 := strconv.Atoi(iter)
	salt, err2 := base64.StdEncoding.DecodeString(salt64)
	if err1 != nil || err2 != nil {
		return false
	}
	v, err := scramVerifierWith(password, salt, n)
	return err == nil && hmac.Equal([]byte(v), []byte(verifier))
}

// Forensic change kinds.
const (
	ChangeWritten     = "written"       // a key that had no version before
	ChangeOverwritten = "overwritten"   // a new version over an existing key
	ChangeDeleted     = "delete marker" // a delete marker
)

// ForensicChange is one version or delete marker written into a
// repository after a time.
type ForensicChange struct {
	Time   time.Time
	Key    string
	Kind   string // the repository object's kind (repo.Kind), "unknown object" outside the layout
	Change string // ChangeWritten, ChangeOverwritten or ChangeDeleted
}

// String is the change as plans list it.
func (c ForensicChange) String() string {
	return fmt.Sprintf("%s %s %s (%s)", c.Time.UTC().Format(time.RFC3339), c.Change, c.Key, c.Kind)
}

// ForensicReport is what changed in a repository since a time: the
// forensic context a clean-room plan shows next to the recovery point it
// chose before that time. Versions removed for good leave no trace in a
// listing; object lock is what keeps those from happening.
type ForensicReport struct {
	// Since is the declared compromise time; Until when the listing
	// started (a change made while it ran may or may not be in it).
	Since, Until time.Time
	Changes      []ForensicChange // oldest first
	// Counts by change kind.
	Written, Overwritten, DeleteMarkers int
}

// Summary is one line: the counts, and the kinds of objects touched.
func (r *ForensicReport) Summary() string {
	if len(r.Changes) == 0 {
		return fmt.Sprintf("nothing written into the repository since %s (listed %s)", r.Since.UTC().Format(time.RFC3339), r.Until.UTC().Format(time.RFC3339))
	}
	kinds := map[string]int{}
	for _, c := range r.Changes {
		kinds[c.Kind+" "+c.Change]++
	}
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	return fmt.Sprintf("since %s (listed %s): %d objects written, %d overwritten, %d delete markers (%s)", r.Since.UTC().Format(time.RFC3339),
		r.Until.UTC().Format(time.RFC3339), r.Written, r.Overwritten, r.DeleteMarkers, strings.Join(parts, ", "))
}

// Lines lists the changes, at most n (then a last line says how many were
// left out).
func (r *ForensicReport) Lines(n int) []string {
	out := make([]string, 0, min(len(r.Changes), n+1))
	for i, c := range r.Changes {
		if i == n {
			out = append(out, fmt.Sprintf("... and %d more", len(r.Changes)-n))
			break
		}
		out = append(out, c.String())
	}
	return out
}

// Forensics lists every version and delete marker written into the
// repository of l after since (ListObjectVersions).
func Forensics(ctx context.Context, store objectstore.Store, l repo.Layout, since time.Time) (*ForensicReport, error) {
	rep := &ForensicReport{Since: since, Until: time.Now().UTC()}
	var key string
	var pending []objectstore.ObjectInfo // this key's versions after since, newest first
	older := false                       // this key has a version at or before since
	flush := func() {
		for i := len(pending) - 1; i >= 0; i-- { // oldest first
			o := pending[i]
			c := ForensicChange{Time: o.LastModified, Key: o.Key, Kind: "unknown object"}
			if k, ok := l.Parse(o.Key); ok {
				c.Kind = k.Kind.String()
			}
			switch {
			case o.DeleteMarker:
				c.Change = ChangeDeleted
				rep.DeleteMarkers++
			case older || i < len(pending)-1:
				c.Change = ChangeOverwritten
				rep.Overwritten++
			default:
				c.Change = ChangeWritten
				rep.Written++
			}
			rep.Changes = append(rep.Changes, c)
		}
		pending, older = nil, false
	}
	err := store.ListVersions(ctx, l.RootDir(), func(o objectstore.ObjectInfo) error {
		if o.Key != key {
			flush()
			key = o.Key
		}
		if o.LastModified.After(since) {
			pending = append(pending, o)
		} else {
			older = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the repository's versions: %w", err)
	}
	flush()
	sort.SliceStable(rep.Changes, func(i, j int) bool { return rep.Changes[i].Time.Before(rep.Changes[j].Time) })
	return rep, nil
}
