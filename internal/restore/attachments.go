package restore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// DefaultAttachmentQuery lists the attachment objects an Odoo database
// references.
const DefaultAttachmentQuery = "SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname IS NOT NULL"

// attachmentWorkers is the number of object copies in flight.
const attachmentWorkers = 8

// checkPrefixes keeps the restored copies from landing on, or inside, the
// live attachments (or DropTenant from deleting them).
func checkPrefixes(a *AttachmentOptions) error {
	if a.Store == nil {
		return errors.New("attachments: no store")
	}
	src, dst := a.SourcePrefix, a.TargetPrefix
	if dst == "" || strings.Trim(dst, "/") == "" {
		return errors.New("attachments: the target prefix must not be empty (it would be the whole bucket)")
	}
	if strings.HasPrefix(src, dst) || strings.HasPrefix(dst, src) {
		return fmt.Errorf("attachments: target prefix %q and source prefix %q overlap: the restore would write into (or DropTenant delete) live attachments", dst, src)
	}
	return nil
}

// restoreAttachments copies, for every store_fname the restored database
// references, the object version that was current at `at` (the newest
// version with LastModified <= at, unless that is a delete marker) from
// SourcePrefix to TargetPrefix, and reports the names that do not resolve.
// One listing of the source prefix's versions serves every lookup.
func restoreAttachments(ctx context.Context, dsn string, a AttachmentOptions, at time.Time) (*AttachmentReport, error) {
	query := a.Query
	if query == "" {
		query = DefaultAttachmentQuery
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("attachments: connecting to the restored database: %w", err)
	}
	var names []string
	rows, err := conn.Query(ctx, query)
	if err == nil {
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	conn.Close(context.Background())
	if err != nil {
		return nil, fmt.Errorf("attachments: %s: %w", query, err)
	}

	// The version current at `at` for each key: versions come newest first.
	current := map[string]objectstore.ObjectInfo{}
	decided := map[string]bool{}
	src := a.Store
	if a.ReadStore != nil {
		src = a.ReadStore
	}
	err = src.ListVersions(ctx, a.SourcePrefix, func(o objectstore.ObjectInfo) error {
		if decided[o.Key] || o.LastModified.After(at) {
			return nil
		}
		decided[o.Key] = true
		if !o.DeleteMarker {
			current[o.Key] = o
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("attachments: listing versions under %s: %w", a.SourcePrefix, err)
	}

	rep := &AttachmentReport{Referenced: len(names)}
	jobs := make(chan objectstore.ObjectInfo)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for i := 0; i < attachmentWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range jobs {
				err := copyVersion(ctx, src, a.Store, o, a.TargetPrefix+strings.TrimPrefix(o.Key, a.SourcePrefix))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				} else if err == nil {
					rep.Copied++
				}
				mu.Unlock()
			}
		}()
	}
	for _, name := range names {
		o, ok := current[a.SourcePrefix+name]
		if !ok {
			rep.Missing = append(rep.Missing, name)
			continue
		}
		jobs <- o
	}
	close(jobs)
	wg.Wait()
	sort.Strings(rep.Missing)
	if firstErr != nil {
		return rep, firstErr
	}
	return rep, nil
}

func copyVersion(ctx context.Context, src, store objectstore.Store, o objectstore.ObjectInfo, to string) error {
	body, info, err := src.GetVersion(ctx, o.Key, o.VersionID)
	if err != nil {
		return fmt.Errorf("attachments: reading %s version %s: %w", o.Key, o.VersionID, err)
	}
	defer body.Close()
	if _, err := store.Put(ctx, to, body, objectstore.PutOptions{Size: info.Size, Metadata: info.Metadata}); err != nil {
		return fmt.Errorf("attachments: writing %s: %w", to, err)
	}
	return nil
}

// deletePrefix deletes every object under prefix.
func deletePrefix(ctx context.Context, store objectstore.Store, prefix string) error {
	var keys []string
	if err := store.List(ctx, prefix, func(o objectstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := store.Delete(ctx, k); err != nil {
			return fmt.Errorf("deleting %s: %w", k, err)
		}
	}
	return nil
}
