// Package wal archives and restores PostgreSQL WAL files: Push is what
// `lifeboat wal-push` (archive_command) does, Fetch what `lifeboat
// wal-fetch` (restore_command) does.
//
// Object layout, below repo.Layout.WALDir():
//
//	<prefix>/<cluster>/wal/<timeline, 8 hex>/<file name>.<ext>
//
// where ext is the codec's extension (zst, lz4, raw; see package
// compression). The codec is read back from the extension, so segments
// written under an older default stay readable.
//
// A compressed object is a sequence of frames, one per 2 MiB chunk of the
// file (compressed on every core at once), sometimes followed by a padding
// frame that readers skip: the upload starts before the last chunks are
// compressed, with a length predicted from the first ones, and padding makes
// the object that length exactly (see encoding.payload). Any zstd or lz4
// reader, the command-line tools included, reads the sequence as the file.
//
// Object metadata (S3 user metadata):
//
//	lifeboat-sha256       hex SHA-256 of the original (uncompressed) file
//	lifeboat-size         original size in bytes
//	lifeboat-system-id    the cluster's system identifier (pg_control)
//
// Safety rules, each enforced in Push and tested:
//   - an archived file is never overwritten: writes are conditional
//     (If-None-Match), so two concurrent pushers cannot both write;
//   - re-pushing a file already archived with identical bytes succeeds
//     without writing (PostgreSQL re-archives after a crash);
//   - a file archived with different bytes, under any codec, is refused with
//     a *ConflictError, and the archived one stays (this covers .history
//     files, whose overwrite would silently fork timelines);
//   - a repository that records another cluster's system identifier is
//     refused with a *repo.ForeignClusterError before anything is written.
package wal
