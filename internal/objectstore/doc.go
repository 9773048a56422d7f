// Package objectstore is Lifeboat's only door to object storage.
//
// Store is the small, bucket-scoped interface every engine package uses to
// read and write the repository (WAL, backups, manifests, policies, evidence).
// Two implementations satisfy it and run the same conformance suite
// (objectstoretest.Run): S3, on aws-sdk-go-v2, for any S3 API (AWS S3 in
// production, MinIO locally), and Memory, for unit tests of engine logic.
//
// Bucket-level administration (object lock, versioning, encryption, lifecycle,
// tags, public access) lives on Client, since only a real S3 API has it.
//
// Errors are sentinels, wrapped with %w: ErrNotFound, ErrExists,
// ErrObjectLocked, ErrBucketNotFound, ErrBucketNotEmpty, ErrUnreachable and
// ErrAccessDenied. Callers test them with errors.Is.
package objectstore
