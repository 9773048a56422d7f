// Package repo describes the Lifeboat repository (the backup bucket) as the
// agent sees it: where things live in it (Layout), which cluster it belongs
// to (ClusterInfo, EnsureCluster), and the agent configuration file that
// points an agent at it (AgentConfig).
//
// Layout of one cluster's repository, under an optional prefix:
//
//	<prefix>/<cluster>/cluster.json                      identity, written once
//	<prefix>/<cluster>/wal/<timeline>/<file>.<ext>       archived WAL (package wal)
//
// The agent configuration is a JSON file (no new dependency, and the
// provider renders it with AgentConfig.Marshal). A file that holds a secret
// key must not be readable by group or others: Load refuses it.
package repo
