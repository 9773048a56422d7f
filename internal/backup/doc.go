// Package backup takes the backups Lifeboat keeps in a cluster's repository:
// physical base backups streamed over PostgreSQL's replication protocol
// (BASE_BACKUP), and logical per-tenant dumps (pg_dump -Fc), each written as
// stored parts followed by a Lifeboat manifest.
//
// Object layout, below repo.Layout.Root():
//
//	basebackups/<id>/<archive>/<part, 6 digits>   e.g. base.tar.zst/000000
//	basebackups/<id>/backup_manifest              PostgreSQL's own manifest
//	basebackups/<id>/manifest.json                Lifeboat's manifest, last
//	tenants/<database>/<id>.dump                  pg_dump -Fc output
//	tenants/<database>/<id>.json                  its manifest, last
//
// <id> is the UTC start time and a random suffix (20261125T213000Z-3f9a), so
// keys sort by time. An archive is one tar per tablespace, as PostgreSQL
// sends it, compressed as a single stream and cut into parts of
// Options.PartSize stored bytes; the parts concatenated in order are the
// archive. The codec is read from the archive name's extension (.zst, .lz4,
// none for .tar), so old backups stay readable when the default changes.
//
// Safety rules, each enforced here and tested:
//   - A backup exists only once its manifest is written, and the manifest is
//     written last, with a conditional put, after every part and
//     PostgreSQL's backup_manifest were acknowledged by the store. Listing,
//     verification, restore and pruning ignore a backup without one (see
//     package catalog), so a backup that was killed half-way can never be
//     mistaken for a complete one.
//   - Every stored part is recorded in the manifest with its size and
//     SHA-256 as stored, so verification needs no trust in the store.
//   - Parts and manifests are written with If-None-Match: a backup never
//     overwrites another one's objects.
//   - A tenant dump holds exactly one database: pg_dump is run per database
//     and never with --create or a cluster-wide tool.
package backup
