// Package access renders the four roles of a Lifeboat repository as S3/IAM
// policy documents (the JSON both AWS IAM and MinIO accept), and probes
// whether a writer's credentials really are as weak as its role says.
//
// Roles (Policy):
//
//	admin     the provider: the whole bucket, its posture and every object
//	writer    the agent on a database host: its own cluster root only
//	restorer  restores and drills: read-only over the repository
//	auditor   drill evidence and bucket posture, read-only
//	copy      a recovery region's copy, in the destination bucket: list,
//	          read and write the copy under the bucket's default lock;
//	          never delete, name a retention, change the bucket or write
//	          agent state (leases, job records, heartbeats, requests)
//
// Safety rules, each enforced in the documents and tested against MinIO
// users created from them:
//   - a writer can never delete an object version (s3:DeleteObjectVersion)
//     nor bypass governance retention: both are denied explicitly, over the
//     whole bucket, so no Allow added beside this document can grant them
//     (MinIO checks DeleteObjectVersion only as a Deny: without the explicit
//     Deny, s3:DeleteObject alone would delete versions there);
//   - a writer can never change the bucket: lifecycle, object lock,
//     versioning, encryption, policy, tags and deleting the bucket are denied
//     explicitly;
//   - a writer can never rewrite what the provider wrote for its cluster
//     (policy.json, drill schedules): PutObject on them is denied explicitly;
//   - a writer lists, reads and writes below its own cluster root only; it
//     writes into the data folders, leases, job records, drill evidence and
//     cluster.json, and deletes (a delete marker, the older versions stay)
//     in the data folders only;
//   - every key and prefix in a document comes from repo.Layout, and a
//     bucket, prefix or cluster name holding a policy wildcard or variable
//     ('*', '?', '$') is refused, so a name can never widen a document.
//
// ProbeRole runs the same kind of harmless checks with the copy role's
// credentials against the destination (ChecksFor lists each role's).
//
// The probe (Probe) runs with a writer's credentials and tries each
// forbidden action on objects of its own, so that a probe that is wrongly
// allowed changes nothing (see Probe for how each check stays harmless).
package access
