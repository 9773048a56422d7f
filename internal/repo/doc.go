// Package repo describes the Lifeboat repository (the backup bucket) as the
// agent sees it: where things live in it (Layout), which cluster it belongs
// to (ClusterInfo, EnsureCluster), and the agent configuration file that
// points an agent at it (AgentConfig).
//
// Layout of one cluster's repository, under an optional prefix. Layout is
// the one place these keys are spelled and decoded (Layout.Parse); the
// packages named write and read them:
//
//	<prefix>/<cluster>/cluster.json                        identity, written once
//	<prefix>/<cluster>/policy.json                         backup policy (provider)
//	<prefix>/<cluster>/wal/<timeline>/<file>.<ext>         archived WAL (wal)
//	<prefix>/<cluster>/basebackups/<id>/...                base backups (backup)
//	<prefix>/<cluster>/tenants/<db>/<id>.dump|.json        tenant dumps (backup)
//	<prefix>/<cluster>/drills/<name>/schedule.json         drill schedule (drill)
//	<prefix>/<cluster>/drills/<name>/evidence/<id>.json    drill evidence, locked (drill)
//	<prefix>/<cluster>/leases/<job>/<generation>.json      job leases (agentd)
//	<prefix>/<cluster>/jobs/<job>/last.json                job records (agentd)
//	<prefix>/<cluster>/redis/<instance>/<id>.rdb.<ext>     Redis snapshot (redisx)
//	<prefix>/<cluster>/redis/<instance>/<id>.json          its manifest, written last
//	<prefix>/<cluster>/redis-schedules/<instance>.json     Redis snapshot schedule, signed (redisx)
//
// Only wal/, basebackups/, tenants/ and redis/ hold backup data
// (DataFolders): a lifecycle rule may expire them, never anything else.
//
// The agent configuration is a JSON file (no new dependency, and the
// provider renders it with AgentConfig.Marshal). A file that holds a secret
// key must not be readable by group or others: Load refuses it.
package repo
