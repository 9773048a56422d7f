package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// ClusterInfo is the repository's identity record (cluster.json): which
// PostgreSQL cluster, by system identifier, the repository belongs to.
type ClusterInfo struct {
	// SystemIdentifier is pg_control's system identifier, in decimal as
	// pg_controldata prints it. NOTE: a string, because JSON numbers lose
	// precision above 2^53 in most readers (jq, JavaScript).
	SystemIdentifier string `json:"system_identifier"`
	// Cluster is the name the repository was created under.
	Cluster string `json:"cluster"`
	// CreatedAt is when the first agent wrote this record.
	CreatedAt time.Time `json:"created_at"`
}

// ErrForeignCluster means the repository belongs to another PostgreSQL
// cluster (a different system identifier).
var ErrForeignCluster = errors.New("repository belongs to another PostgreSQL cluster")

// ForeignClusterError says which identifiers differ.
type ForeignClusterError struct {
	Key        string
	Repository uint64
	Local      uint64
}

func (e *ForeignClusterError) Error() string {
	return fmt.Sprintf("%v: %s records system identifier %d, this data directory has %d; "+
		"give this cluster its own cluster name or prefix (a restored or re-initialised cluster is a new cluster)",
		ErrForeignCluster, e.Key, e.Repository, e.Local)
}

// Unwrap lets errors.Is(err, ErrForeignCluster) match.
func (e *ForeignClusterError) Unwrap() error { return ErrForeignCluster }

// EnsureCluster makes sure the repository at layout belongs to the cluster
// with system identifier sysid: the first call records it (a conditional
// put, so two first agents cannot both win), later calls compare, and a
// mismatch returns a *ForeignClusterError.
//
// Safety rule: WAL of two clusters mixed under one name would make every
// restore from it wrong in ways no checksum catches, so it is refused before
// anything is written (WAL-G and barman-cloud do the same).
func EnsureCluster(ctx context.Context, store objectstore.Store, layout Layout, sysid uint64) (ClusterInfo, error) {
	if sysid == 0 {
		return ClusterInfo{}, errors.New("system identifier is 0: not read from pg_control")
	}
	key := layout.ClusterInfoKey()
	info, err := ReadCluster(ctx, store, layout)
	if errors.Is(err, objectstore.ErrNotFound) {
		info = ClusterInfo{SystemIdentifier: strconv.FormatUint(sysid, 10), Cluster: layout.Cluster, CreatedAt: time.Now().UTC()}
		body, _ := json.MarshalIndent(info, "", "  ")
		_, err = store.Put(ctx, key, bytes.NewReader(body), objectstore.PutOptions{IfAbsent: true, Size: int64(len(body)),
			Metadata: map[string]string{"lifeboat-system-identifier": info.SystemIdentifier}})
		if err == nil {
			return info, nil
		}
		if !errors.Is(err, objectstore.ErrExists) {
			return ClusterInfo{}, fmt.Errorf("recording cluster identity: %w", err)
		}
		// Another agent wrote it first: compare with what it wrote.
		info, err = ReadCluster(ctx, store, layout)
	}
	if err != nil {
		return ClusterInfo{}, err
	}
	got, err := strconv.ParseUint(info.SystemIdentifier, 10, 64)
	if err != nil {
		return ClusterInfo{}, fmt.Errorf("%s: bad system_identifier %q: %w", key, info.SystemIdentifier, err)
	}
	if got != sysid {
		return ClusterInfo{}, &ForeignClusterError{Key: store.Bucket() + "/" + key, Repository: got, Local: sysid}
	}
	return info, nil
}

// ReadCluster reads the identity record; a repository without one returns
// an error wrapping objectstore.ErrNotFound.
func ReadCluster(ctx context.Context, store objectstore.Store, layout Layout) (ClusterInfo, error) {
	key := layout.ClusterInfoKey()
	r, _, err := store.Get(ctx, key)
	if err != nil {
		return ClusterInfo{}, fmt.Errorf("reading cluster identity: %w", err)
	}
	defer r.Close()
	var info ClusterInfo
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&info); err != nil {
		return ClusterInfo{}, fmt.Errorf("reading cluster identity %s: %w", key, err)
	}
	return info, nil
}
