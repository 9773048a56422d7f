package posture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// Metadata of a stored report.
const (
	MetaReportSHA256 = "lifeboat-sha256"
	MetaReportFormat = "lifeboat-format"
)

// ErrReportNotLocked is returned when a report would be stored in a bucket
// without object lock: a report anyone may rewrite is no evidence.
var ErrReportNotLocked = errors.New("posture: the bucket has no object lock; a stored report must be immutable")

// Formats maps the report formats to their file extensions.
var Formats = map[string]string{"markdown": "md", "md": "md", "json": "json", "csv": "csv", "html": "html"}

// Render writes r in format (markdown, json, csv or html).
func (r *Report) Render(w io.Writer, format string) error {
	switch format {
	case "markdown", "md":
		_, err := io.WriteString(w, r.Markdown())
		return err
	case "json":
		b, err := r.JSON()
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case "csv":
		return r.CSV(w)
	case "html":
		return r.HTML(w)
	default:
		return fmt.Errorf("unknown format %q: use markdown, json, csv or html", format)
	}
}

// StoredReport is where a report was stored.
type StoredReport struct {
	Key, Version, SHA256 string
	RetainUntil          time.Time
	// Signer is the key ID that signed the report ("" unsigned).
	Signer string
}

// ReportID is a report's id in the repository: its generation time, UTC,
// to the second, so that reports list by date.
func ReportID(r *Report) string { return r.Generated.UTC().Format("20060102T150405Z") }

// StoreReport writes r in format under l's posture reports, once (a report
// of the same second and format is never overwritten), with its sha256 in
// the object's metadata and a COMPLIANCE retention of retain: an auditor
// fetches the exact report of a date, and checks it against the sum.
// signer (the writer's key; nil: unsigned, which ListReports flags) signs
// the stored bytes, so a report written by any other credential shows as
// unsigned or forged.
func StoreReport(ctx context.Context, store objectstore.Store, l repo.Layout, r *Report, format string, retain time.Duration, signer *signature.Signer) (StoredReport, error) {
	ext, ok := Formats[format]
	if !ok {
		return StoredReport{}, fmt.Errorf("unknown format %q: use markdown, json, csv or html", format)
	}
	var buf bytes.Buffer
	if err := r.Render(&buf, format); err != nil {
		return StoredReport{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	out := StoredReport{Key: l.PostureReportKey(ReportID(r), ext), SHA256: hex.EncodeToString(sum[:]),
		RetainUntil: time.Now().Add(retain).UTC().Truncate(time.Second)}
	info, err := store.Put(ctx, out.Key, bytes.NewReader(buf.Bytes()), objectstore.PutOptions{
		IfAbsent: true, Size: int64(buf.Len()),
		Metadata:    signer.Sign(out.Key, buf.Bytes(), map[string]string{MetaReportSHA256: out.SHA256, MetaReportFormat: ext}),
		RetainUntil: out.RetainUntil, RetentionMode: objectstore.ModeCompliance,
	})
	if errors.Is(err, objectstore.ErrNoObjectLock) {
		return out, fmt.Errorf("storing %s: %w", out.Key, ErrReportNotLocked)
	}
	if err != nil {
		return out, fmt.Errorf("storing the posture report %s: %w", out.Key, err)
	}
	out.Version = info.VersionID
	if signer != nil {
		out.Signer = signer.Public().ID()
	}
	return out, nil
}

// ReportEntry is one stored report as ListReports judged it.
type ReportEntry struct {
	Key, Version, Format string
	Size                 int64
	// SHA256 is the sum of the bytes read; RecordedSHA256 the one in the
	// object's metadata.
	SHA256, RecordedSHA256 string
	// SignedBy is the key ID whose signature verified; SignatureError says
	// why none did (unsigned, unknown signer, forged).
	SignedBy       string
	SignatureError error
	// Locked reports whether the version read is under an object-lock
	// retention that has not ended; LockedUntil is its end.
	Locked      bool
	LockedUntil time.Time
	// LaterVersions counts versions and delete markers written over the
	// report after the first.
	LaterVersions int
}

// Flags says what is wrong with e judged against trust: nothing when the
// report is signed by a trusted key, matches its sum, is locked and was
// never written over.
func (e ReportEntry) Flags(trust signature.Trust) []string {
	var out []string
	if f := trust.Flag(e.SignatureError); f != "" {
		out = append(out, f)
	}
	if e.RecordedSHA256 != e.SHA256 {
		out = append(out, fmt.Sprintf("sha256 %s does not match the recorded %q", e.SHA256, e.RecordedSHA256))
	}
	if !e.Locked {
		out = append(out, "not under object lock")
	}
	if e.LaterVersions > 0 {
		out = append(out, fmt.Sprintf("%d version(s) or delete marker(s) written over the report", e.LaterVersions))
	}
	return out
}

// ListReports reads every stored posture report of l, oldest first, at its
// first version (object lock keeps that one; anything written later cannot
// replace it), and verifies each against trust.
func ListReports(ctx context.Context, store objectstore.Store, l repo.Layout, trust signature.Trust) ([]ReportEntry, error) {
	type first struct {
		versionID string
		later     int
	}
	originals := map[string]*first{}
	var keys []string
	err := store.ListVersions(ctx, l.PostureReportsDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); !ok || k.Kind != repo.KindPostureReport {
			return nil
		}
		// Newest first: each entry supersedes the previous as the first.
		f, seen := originals[o.Key]
		if !seen {
			f = &first{}
			originals[o.Key] = f
			keys = append(keys, o.Key)
		} else {
			f.later++
		}
		if !o.DeleteMarker {
			f.versionID = o.VersionID
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing posture reports: %w", err)
	}
	sort.Strings(keys)
	out := make([]ReportEntry, 0, len(keys))
	for _, key := range keys {
		f := originals[key]
		k, _ := l.Parse(key)
		e := ReportEntry{Key: key, Version: f.versionID, Format: k.Ext, LaterVersions: f.later}
		if f.versionID == "" {
			e.SignatureError = &signature.Error{Key: key, Err: signature.ErrUnsigned}
			out = append(out, e)
			continue
		}
		rc, info, err := store.GetVersion(ctx, key, f.versionID)
		if err != nil {
			return nil, fmt.Errorf("reading posture report %s: %w", key, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading posture report %s: %w", key, err)
		}
		sum := sha256.Sum256(body)
		e.Size, e.SHA256, e.RecordedSHA256 = int64(len(body)), hex.EncodeToString(sum[:]), info.Metadata[MetaReportSHA256]
		e.SignedBy, e.SignatureError = trust.Signed(key, body, info.Metadata)
		if r, ok := store.(interface {
			Retention(ctx context.Context, key, versionID string) (time.Time, string, bool)
		}); ok {
			until, _, has := r.Retention(ctx, key, f.versionID)
			e.Locked, e.LockedUntil = has && until.After(time.Now()), until
		}
		out = append(out, e)
	}
	return out, nil
}
