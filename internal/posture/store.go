package posture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
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
}

// ReportID is a report's id in the repository: its generation time, UTC,
// to the second, so that reports list by date.
func ReportID(r *Report) string { return r.Generated.UTC().Format("20060102T150405Z") }

// StoreReport writes r in format under l's posture reports, once (a report
// of the same second and format is never overwritten), with its sha256 in
// the object's metadata and a COMPLIANCE retention of retain: an auditor
// fetches the exact report of a date, and checks it against the sum.
func StoreReport(ctx context.Context, store objectstore.Store, l repo.Layout, r *Report, format string, retain time.Duration) (StoredReport, error) {
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
		Metadata:    map[string]string{MetaReportSHA256: out.SHA256, MetaReportFormat: ext},
		RetainUntil: out.RetainUntil, RetentionMode: objectstore.ModeCompliance,
	})
	if errors.Is(err, objectstore.ErrNoObjectLock) {
		return out, fmt.Errorf("storing %s: %w", out.Key, ErrReportNotLocked)
	}
	if err != nil {
		return out, fmt.Errorf("storing the posture report %s: %w", out.Key, err)
	}
	out.Version = info.VersionID
	return out, nil
}
