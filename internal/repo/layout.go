package repo

import "strings"

// Layout names the keys of one cluster's repository in the bucket.
type Layout struct {
	// Prefix is an optional key prefix; leading and trailing slashes are
	// ignored.
	Prefix string
	// Cluster is the cluster's name in the repository.
	Cluster string
}

// Root is "<prefix>/<cluster>" (or "<cluster>" without a prefix), with no
// trailing slash.
func (l Layout) Root() string {
	p := strings.Trim(l.Prefix, "/")
	if p == "" {
		return l.Cluster
	}
	return p + "/" + l.Cluster
}

// ClusterInfoKey is the key of the repository's identity record.
func (l Layout) ClusterInfoKey() string { return l.Root() + "/cluster.json" }

// WALDir is the key prefix of archived WAL, with a trailing slash. Files
// are grouped by timeline below it: WALDir() + "<timeline>/<file>.<ext>".
func (l Layout) WALDir() string { return l.Root() + "/wal/" }
