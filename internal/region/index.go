package region

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Entry is one object verified at the destination.
type Entry struct {
	// ETag and Size are the source object's when it was copied: a source
	// object whose ETag or size differs has changed and is copied again.
	ETag string `json:"etag"`
	Size int64  `json:"size"`
	// SHA256 is the hex SHA-256 of the object: of the bytes read from the
	// source (or as their manifest records it), which the destination
	// checked the bytes it stored against on arrival (or, where it could
	// not, which they had when read back).
	SHA256 string `json:"sha256"`
	// Modified is the source object's LastModified.
	Modified time.Time `json:"modified"`
	Verified time.Time `json:"verified"`
}

// Status is what one copy pass measured.
type Status struct {
	// ListedAt is when the source was listed: objects written after it are
	// not yet known to the pass.
	ListedAt time.Time `json:"listed_at"`
	Finished time.Time `json:"finished"`
	// OldestPending is the LastModified of the oldest object of the listing
	// not verified at the destination when the pass ended (zero: none).
	OldestPending  time.Time `json:"oldest_pending,omitempty"`
	PendingObjects int       `json:"pending_objects"`
	PendingBytes   int64     `json:"pending_bytes"`
	// CanaryRTTSeconds is the round trip of the canary: written in the
	// source, copied, read back verified from the destination.
	CanaryRTTSeconds float64 `json:"canary_rtt_seconds"`
	Copied           int     `json:"copied"`
	CopiedBytes      int64   `json:"copied_bytes"`
	Failures         int     `json:"failures"`
	LastError        string  `json:"last_error,omitempty"`
}

// Lag is the recovery region's lag at now: the age of the oldest object
// not yet verified at the destination — the oldest pending object of the
// last listing, or, when none was pending, anything written since that
// listing — plus the canary's round trip.
func (s Status) Lag(now time.Time) time.Duration {
	age := now.Sub(s.ListedAt)
	if !s.OldestPending.IsZero() && now.Sub(s.OldestPending) > age {
		age = now.Sub(s.OldestPending)
	}
	if age < 0 {
		age = 0
	}
	return age + time.Duration(s.CanaryRTTSeconds*float64(time.Second))
}

// segment is one object of the copy index at the destination. The index is
// a journal: each pass appends a segment with what it verified (and what
// verification found broken), so the destination's object lock keeps small
// versions rather than a rewritten whole index per pass; every
// compactEvery segments a Full one restates everything.
type segment struct {
	Format  int              `json:"format"`
	Seq     uint64           `json:"seq"`
	Full    bool             `json:"full"`
	Written time.Time        `json:"written"`
	Entries map[string]Entry `json:"entries,omitempty"`
	// Invalid are keys whose destination copy failed verification: they
	// are copied again.
	Invalid []string `json:"invalid,omitempty"`
	Status  *Status  `json:"status,omitempty"`
}

const (
	indexFormat  = 1
	compactEvery = 64
)

// Index is the copy index of one recovery region of one cluster, as read
// from the destination.
type Index struct {
	Entries map[string]Entry
	// Status is the last pass's (nil before the first).
	Status *Status
	seq    uint64
	// sinceFull counts segments after the newest full one.
	sinceFull int
}

// ReadIndex reads the copy index of region name from the destination. A
// destination without one returns an empty index.
func ReadIndex(ctx context.Context, dest objectstore.Store, l repo.Layout, name string) (*Index, error) {
	var keys []string
	err := dest.List(ctx, l.RegionIndexDir(name), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindRegionIndex && k.Region == name {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the copy index of region %s: %w", name, err)
	}
	sort.Strings(keys)
	idx := &Index{Entries: map[string]Entry{}}
	// Read backwards to the newest full segment, then apply forwards.
	var segs []*segment
	for i := len(keys) - 1; i >= 0; i-- {
		s, err := readSegment(ctx, dest, keys[i])
		if err != nil {
			return nil, err
		}
		segs = append(segs, s)
		if s.Full {
			break
		}
	}
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if s.Full {
			idx.Entries = map[string]Entry{}
			idx.sinceFull = 0
		} else {
			idx.sinceFull++
		}
		for k, e := range s.Entries {
			idx.Entries[k] = e
		}
		for _, k := range s.Invalid {
			delete(idx.Entries, k)
		}
		if s.Status != nil {
			idx.Status = s.Status
		}
		idx.seq = s.Seq
	}
	return idx, nil
}

func readSegment(ctx context.Context, dest objectstore.Store, key string) (*segment, error) {
	rc, _, err := dest.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading copy index segment %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading copy index segment %s: %w", key, err)
	}
	var s segment
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("copy index segment %s: %w", key, err)
	}
	return &s, nil
}

// append writes a segment with entries, invalid keys and status; with
// nothing to say it writes nothing. Past compactEvery segments the
// segment is a full one.
func (idx *Index) append(ctx context.Context, dest objectstore.Store, l repo.Layout, name string, entries map[string]Entry, invalid []string, st *Status, now time.Time) error {
	if len(entries) == 0 && len(invalid) == 0 && st == nil {
		return nil
	}
	for k, e := range entries {
		idx.Entries[k] = e
	}
	for _, k := range invalid {
		delete(idx.Entries, k)
	}
	s := segment{Format: indexFormat, Seq: idx.seq + 1, Written: now.UTC(), Status: st}
	if idx.sinceFull+1 >= compactEvery {
		s.Full, s.Entries = true, idx.Entries
	} else {
		s.Entries, s.Invalid = entries, invalid
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	key := l.RegionIndexKey(name, s.Seq)
	// NOTE: IfAbsent: two agents appending the same sequence number would
	// lose one's entries; the loser fails and its pass is redone.
	if _, err := dest.Put(ctx, key, bytes.NewReader(b), objectstore.PutOptions{IfAbsent: true, Size: int64(len(b))}); err != nil {
		return fmt.Errorf("writing copy index segment %s: %w", key, err)
	}
	idx.seq = s.Seq
	if s.Full {
		idx.sinceFull = 0
	} else {
		idx.sinceFull++
	}
	if st != nil {
		idx.Status = st
	}
	return nil
}
