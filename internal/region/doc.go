// Package region keeps a verified copy of a cluster's repository in a
// second object store (a recovery region) and measures how far behind it
// is.
//
// The copy is the agent's (mode "agent"): it works between any two
// S3-compatible stores and checks content, which store-side replication
// does not. A pass lists the cluster's repository in the source and copies
// every object not yet verified at the destination, under the same key,
// with its metadata (signatures and checksums travel with it), under the
// destination bucket's own object lock:
//   - data first (WAL, base backup parts, tenant dumps, configuration,
//     drill evidence), then what refers to data: a base backup manifest
//     once every part it names (with its SHA-256) and its first and last
//     WAL segment are verified at the destination, a tenant dump manifest
//     once its dump is, a timeline history once the earlier timelines'
//     segments are; so the destination never shows a backup it cannot
//     restore;
//   - each object is verified on arrival, in one request carrying a
//     checksum (an S3 additional checksum) that the destination computes
//     over the bytes it receives, storing nothing unless they match:
//   - an object a pending manifest names with its SHA-256 (base backup
//     parts and the PostgreSQL backup manifest, tenant dumps) carries
//     that digest ahead of its bytes (x-amz-checksum-sha256): the
//     destination stores it only if the bytes it received have the SHA-256
//     their writer recorded, so a source object that is not what its
//     writer made is refused too, and the copy hashes nothing;
//   - any other object (WAL, histories, manifests, configuration,
//     evidence) carries a CRC32C sent after its bytes (an aws-chunked
//     trailer, x-amz-checksum-crc32c): the copy computes the SHA-256 and
//     the CRC32C of the bytes as they stream from the source, in one pass,
//     and the destination checks the CRC32C, which ties what it stored to
//     exactly the bytes the copy hashed. Each byte is hashed by SHA-256
//     once, by the destination or by the copy, not by both;
//   - an object is recorded only once the destination answered with the
//     checksum sent as the one it checked, and (where a manifest names
//     it) the recorded SHA-256 is the manifest's. A destination that
//     answers none or refuses the checksum (a store without additional
//     checksums: the rest of the pass is written plainly), and an object
//     over 5 GiB (too large for one request), are hashed by the copy as
//     they stream, read back and compared instead, and an object a
//     manifest names is then recorded only if that digest is the
//     manifest's;
//   - what was verified is appended to a copy index kept at the
//     destination (repo.Layout.RegionIndexKey), every few seconds and at
//     the end of a pass: a pass is idempotent, and a killed one resumes
//     (an object written but not yet indexed is recognised by its source
//     ETag and verified, not written again: the checksum the destination
//     keeps for it against the source's, a SHA-256 against the manifest's
//     digest or the source's, a CRC32C against the source's, with the
//     source's SHA-256 read and checked against the manifest's).
//
// "Verified" therefore means: the destination holds, under that key, bytes
// whose SHA-256 is the one the index records, and that SHA-256 is the
// digest of the bytes read from the source and, where a manifest names
// the object, the digest its manifest records. For an object a manifest
// names, the destination established it itself (it hashed what it
// received against the manifest's SHA-256); for the others, the copy
// hashed what it sent and the destination confirmed by a CRC32C that it
// received exactly those bytes: a check against corruption on the way (a
// 32-bit checksum, not a cryptographic one). Either way, a mismatch is
// never recorded as verified: a refused put stores nothing, and an object
// whose read-back or source SHA-256 is not the manifest's fails the pass
// loudly (under object lock such a stored version cannot be removed: it
// stays unrecorded, and no manifest naming it is copied). "Verified" does
// not mean the stored bytes were read again afterwards: Verify (`lifeboat
// region verify`) does that, reading every indexed object back in full
// and comparing its SHA-256 with the index; run it periodically against
// bit rot and against anyone with the destination's keys.
//
// The agents' leases, run records and heartbeats, the provider's requests
// to the primary's agents and the regions' own objects are not copied. Deletions are not copied either: a backup pruned in the
// source stays in the recovery region until the destination's own
// lifecycle removes it.
//
// Lag is the age of the oldest object not yet verified at the destination
// (or, when nothing listed is pending, the age of the listing) plus a
// canary object's round trip through the copy.
package region
