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
//   - each object is verified on arrival: it goes in one request carrying
//     its SHA-256 (an S3 additional checksum, x-amz-checksum-sha256), and
//     the destination hashes the bytes it receives and stores nothing
//     unless they have that digest. The digest is the one a pending
//     manifest records for the object (base backup parts and the
//     PostgreSQL backup manifest, tenant dumps: checked against what their
//     writer hashed, so the copy reads them once and hashes nothing), or
//     else the copy's own, computed as the object streams from the source
//     and sent after it (an aws-chunked trailer). An object is recorded
//     only once the destination answered with that digest as the one it
//     checked. A destination that answers none or refuses the checksum
//     (a store without additional checksums: the rest of the pass is
//     written plainly), and an object over 5 GiB (too large for one
//     request), are read back and compared instead;
//   - what was verified is appended to a copy index kept at the
//     destination (repo.Layout.RegionIndexKey), every few seconds and at
//     the end of a pass: a pass is idempotent, and a killed one resumes
//     (an object written but not yet indexed is recognised by its source
//     ETag and verified, not written again: the checksum the destination
//     keeps for it against the source's digest).
//
// "Verified" therefore means: the destination confirmed, as the bytes
// arrived, that what it stored has the SHA-256 the index records, which is
// the digest of the source's bytes (or the one their writer recorded). It
// does not mean the stored bytes were read again afterwards: Verify
// (`lifeboat region verify`) does that, reading every indexed object back
// in full and comparing its SHA-256 with the index; run it periodically
// against bit rot and against anyone with the destination's keys.
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
