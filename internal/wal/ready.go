package wal

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// ReadySegments lists up to limit WAL files of the pg_wal directory walDir
// that PostgreSQL has marked ready for archiving (archive_status/<name>.ready),
// oldest first, other than skip. Segments only: history and backup-label
// files are left to PostgreSQL's own order.
func ReadySegments(walDir, skip string, limit int) []string {
	if limit <= 0 {
		return nil
	}
	entries, err := os.ReadDir(filepath.Join(walDir, "archive_status"))
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".ready")
		if !ok || name == skip || !IsSegment(name) {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) > limit {
		names = names[:limit]
	}
	return names
}

// MarkDone tells PostgreSQL a WAL file is archived, as its archiver does
// after archive_command succeeds: archive_status/<name>.ready becomes .done.
//
// Safety rule: call it only after Push succeeded for that file. PostgreSQL
// (13+) checks that a .ready file still exists before archiving it, so a
// file marked done here is skipped rather than pushed twice; had it been
// pushed twice anyway, the identical re-push would succeed.
func MarkDone(walDir, name string) error {
	dir := filepath.Join(walDir, "archive_status")
	if err := os.Rename(filepath.Join(dir, name+".ready"), filepath.Join(dir, name+".done")); err != nil {
		return err
	}
	return repo.SyncDir(dir)
}
