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
//   - each object is hashed as it streams, then read back from the
//     destination and compared;
//   - what was verified is appended to a copy index kept at the
//     destination (repo.Layout.RegionIndexKey), every few seconds and at
//     the end of a pass: a pass is idempotent, and a killed one resumes
//     (an object written but not yet indexed is recognised by its source
//     ETag and verified, not written again).
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
