package region

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// Problem is one object of the index the destination does not hold as
// verified: missing, or with other bytes.
type Problem struct {
	Key string
	Err error
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Checked  int
	Problems []Problem
}

// Verify reads back every object the index says is verified at the
// destination and compares its SHA-256. Objects found missing or changed
// are dropped from the index (a segment lists them as invalid), so the next
// copy pass writes them again; the report names them.
func Verify(ctx context.Context, o Options) (*VerifyReport, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	idx, err := ReadIndex(ctx, o.Dest, o.Layout, o.Name)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(idx.Entries))
	for k := range idx.Entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rep := &VerifyReport{}
	var mu sync.Mutex
	var fatal error
	parallel(ctx, o.Workers, keys, func(k string) {
		got, err := digest(ctx, o.Dest, k)
		mu.Lock()
		defer mu.Unlock()
		rep.Checked++
		switch {
		case errors.Is(err, objectstore.ErrNotFound):
			rep.Problems = append(rep.Problems, Problem{Key: k, Err: fmt.Errorf("%s: missing at the destination: %w", k, err)})
		case err != nil:
			if fatal == nil {
				fatal = fmt.Errorf("verifying %s: %w", k, err)
			}
		case got != idx.Entries[k].SHA256:
			rep.Problems = append(rep.Problems, Problem{Key: k, Err: &MismatchError{Key: k, Want: idx.Entries[k].SHA256, Got: got}})
		}
	})
	sort.Slice(rep.Problems, func(i, j int) bool { return rep.Problems[i].Key < rep.Problems[j].Key })
	if len(rep.Problems) > 0 {
		invalid := make([]string, len(rep.Problems))
		for i, p := range rep.Problems {
			invalid[i] = p.Key
		}
		if err := idx.append(ctx, o.Dest, o.Layout, o.Name, nil, invalid, nil, o.Now()); err != nil {
			return rep, err
		}
	}
	if fatal != nil {
		return rep, fatal
	}
	return rep, ctx.Err()
}

// Measure computes the region's status now, without copying: the source
// listed against the destination's index (pending objects and bytes, the
// oldest pending), with the canary round trip of the last pass. It is what
// a refresh reports, whatever the agent last said.
func Measure(ctx context.Context, o Options) (*Status, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	idx, err := ReadIndex(ctx, o.Dest, o.Layout, o.Name)
	if err != nil {
		return nil, err
	}
	st := &Status{ListedAt: o.Now().UTC()}
	if idx.Status != nil {
		st.CanaryRTTSeconds = idx.Status.CanaryRTTSeconds
		st.Finished = idx.Status.Finished
		st.Failures = idx.Status.Failures
		st.LastError = idx.Status.LastError
	}
	own := o.Layout.RegionConfigKey(o.Name)
	err = o.Source.List(ctx, o.Layout.RootDir(), func(obj objectstore.ObjectInfo) error {
		if !Copyable(o.Layout, obj.Key) && obj.Key != own {
			return nil
		}
		if e, ok := idx.Entries[obj.Key]; ok && e.ETag == obj.ETag && e.Size == obj.Size {
			return nil
		}
		st.PendingObjects++
		st.PendingBytes += obj.Size
		if st.OldestPending.IsZero() || obj.LastModified.Before(st.OldestPending) {
			st.OldestPending = obj.LastModified.UTC()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the source %s/%s: %w", o.Source.Bucket(), o.Layout.RootDir(), err)
	}
	return st, nil
}
