package access

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Role is one of the four roles of a repository.
type Role string

// The roles, from the strongest to the weakest.
const (
	RoleAdmin    Role = "admin"
	RoleWriter   Role = "writer"
	RoleRestorer Role = "restorer"
	RoleAuditor  Role = "auditor"
	// RoleCopy writes a recovery region's copy into the destination
	// bucket: it is a role of the destination, not of the primary.
	RoleCopy Role = "copy"
)

// Roles lists every role, in the order above.
func Roles() []Role { return []Role{RoleAdmin, RoleWriter, RoleRestorer, RoleAuditor, RoleCopy} }

// ErrInvalidScope means a document cannot be rendered for this role, bucket,
// prefix and cluster (an empty or unsafe name, an unknown role).
var ErrInvalidScope = errors.New("invalid access policy scope")

// Document is an S3/IAM identity policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document.
type Statement struct {
	Sid       string                         `json:"Sid"`
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// JSON renders d as indented JSON, as `mc admin policy create` and the AWS
// console take it.
func (d Document) JSON() string {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic(err) // NOTE: strings, slices and maps only: cannot fail
	}
	return string(b)
}

// S3 action names, as AWS spells them. MinIO accepts every one of them
// (its policy package knows them all, and `mc admin policy create` refuses
// a document with an action it does not know, which TestAccRolesMinIO
// runs). Deleting a bucket's lifecycle, encryption or tags is authorised by
// the matching Put action on both AWS and MinIO, so denying the Put
// denies the Delete. MinIO's own s3:ForceDeleteBucket is not named: AWS
// does not know it, and the writer has no Allow that could grant it.
const (
	actGetObject                  = "s3:GetObject"
	actGetObjectVersion           = "s3:GetObjectVersion"
	actGetObjectRetention         = "s3:GetObjectRetention"
	actListBucket                 = "s3:ListBucket"
	actListBucketVersions         = "s3:ListBucketVersions"
	actPutObject                  = "s3:PutObject"
	actPutObjectRetention         = "s3:PutObjectRetention"
	actAbortMultipartUpload       = "s3:AbortMultipartUpload"
	actListMultipartUploadParts   = "s3:ListMultipartUploadParts"
	actDeleteObject               = "s3:DeleteObject"
	actDeleteObjectVersion        = "s3:DeleteObjectVersion"
	actBypassGovernanceRetention  = "s3:BypassGovernanceRetention"
	actGetLifecycleConfiguration  = "s3:GetLifecycleConfiguration"
	actPutLifecycleConfiguration  = "s3:PutLifecycleConfiguration"
	actGetObjectLockConfiguration = "s3:GetBucketObjectLockConfiguration"
	actPutObjectLockConfiguration = "s3:PutBucketObjectLockConfiguration"
	actGetBucketVersioning        = "s3:GetBucketVersioning"
	actPutBucketVersioning        = "s3:PutBucketVersioning"
	actGetEncryptionConfiguration = "s3:GetEncryptionConfiguration"
	actGetBucketTagging           = "s3:GetBucketTagging"
	actGetBucketPolicyStatus      = "s3:GetBucketPolicyStatus"
	actPutEncryptionConfiguration = "s3:PutEncryptionConfiguration"
	actPutBucketPolicy            = "s3:PutBucketPolicy"
	actDeleteBucketPolicy         = "s3:DeleteBucketPolicy"
	actPutBucketTagging           = "s3:PutBucketTagging"
	actDeleteBucket               = "s3:DeleteBucket"
	actPutObjectLegalHold         = "s3:PutObjectLegalHold"
)

// postureReads read the bucket's posture: what a writer checks before it
// trusts the bucket, and what an auditor reports.
var postureReads = []string{actGetLifecycleConfiguration, actGetObjectLockConfiguration, actGetBucketVersioning, actGetEncryptionConfiguration}

// auditorBucketReads are what an auditor reads of the bucket itself for a
// posture report: its posture, plus its tags and whether its bucket policy
// makes it public. Configuration only: no key is listed or read through
// them. NOTE: not s3:GetBucketPublicAccessBlock: MinIO refuses a document
// that names it (it has no such API), and a posture read denied it reports
// the block as not read.
var auditorBucketReads = append(slices.Clone(postureReads), actGetBucketTagging, actGetBucketPolicyStatus)

// bucketWrites change the bucket itself: never a writer's.
var bucketWrites = []string{actPutLifecycleConfiguration, actPutObjectLockConfiguration, actPutBucketVersioning,
	actPutEncryptionConfiguration, actPutBucketPolicy, actDeleteBucketPolicy, actPutBucketTagging, actDeleteBucket}

// Policy renders role's document for the repository l in bucket. The writer
// needs l.Cluster; the restorer and the auditor without one cover every
// cluster below l.Prefix; the admin's document is the whole bucket.
func Policy(role Role, bucket string, l repo.Layout) (Document, error) {
	if err := checkName("bucket", bucket); err != nil {
		return Document{}, err
	}
	if strings.Contains(bucket, "/") {
		return Document{}, fmt.Errorf("%w: bucket %q holds a '/'", ErrInvalidScope, bucket)
	}
	if err := checkName("prefix", l.Prefix); err != nil {
		return Document{}, err
	}
	if err := checkName("cluster", l.Cluster); err != nil {
		return Document{}, err
	}
	if strings.Contains(l.Cluster, "/") {
		return Document{}, fmt.Errorf("%w: cluster %q holds a '/'", ErrInvalidScope, l.Cluster)
	}
	a := arns{bucket: bucket}
	var st []Statement
	switch role {
	case RoleAdmin:
		st = []Statement{allow("AdminWholeBucket", []string{"s3:*"}, a.bucketARN(), a.objects(""))}
	case RoleWriter:
		if l.Cluster == "" {
			return Document{}, fmt.Errorf("%w: the writer's document needs a cluster", ErrInvalidScope)
		}
		st = writer(a, l)
	case RoleRestorer:
		scope := l.PrefixDir()
		if l.Cluster != "" {
			scope = l.RootDir()
		}
		st = []Statement{
			list("ListRepository", a, scope),
			allow("ReadRepository", []string{actGetObject, actGetObjectVersion}, a.objects(scope)),
		}
	case RoleAuditor:
		if l.Cluster == "" {
			// Every cluster's evidence below the prefix: "*" is a
			// wildcard in the patterns, never a key.
			l.Cluster = "*"
		}
		st = []Statement{
			list("ListDrillEvidence", a, l.DrillsDir()),
			allow("ReadDrillEvidence", []string{actGetObject, actGetObjectVersion, actGetObjectRetention}, a.objects(l.DrillEvidenceDir("*"))),
			list("ListRestoreAudit", a, l.RestoreAuditDir()),
			allow("ReadRestoreAudit", []string{actGetObject, actGetObjectVersion, actGetObjectRetention}, a.objects(l.RestoreAuditDir())),
			list("ListPostureReports", a, l.PostureReportsDir()),
			allow("ReadPostureReports", []string{actGetObject, actGetObjectVersion, actGetObjectRetention}, a.objects(l.PostureReportsDir())),
			allow("ReadBucketPosture", auditorBucketReads, a.bucketARN()),
		}
	case RoleCopy:
		st = copier(a, l)
	default:
		return Document{}, fmt.Errorf("%w: unknown role %q (one of admin, writer, restorer, auditor, copy)", ErrInvalidScope, role)
	}
	return Document{Version: "2012-10-17", Statement: st}, nil
}

func writer(a arns, l repo.Layout) []Statement {
	var data []string
	for _, p := range l.DataPrefixes() {
		data = append(data, a.objects(p))
	}
	// Leases are rewritten on renewal and job records on every run; drill
	// evidence is written once under its own COMPLIANCE retention;
	// cluster.json once, conditionally. Redis snapshots (a data folder)
	// are written by the agent on the Redis host, each object once
	// (IfAbsent), and pruned like base backups. An agent
	// claims a request with a lease, reports its progress and result, and
	// publishes its heartbeat; the request itself (and its
	// acknowledgement) is the provider's. Restore audit records (of the
	// restores and drills the agent runs) are written once each under
	// their own retention: a writer can add a record, never remove or
	// rewrite a locked one, and one it forges is unsigned. Posture reports
	// likewise: written once (lifeboat posture report --store, or the
	// agent on a schedule), under COMPLIANCE retention.
	writable := append(slices.Clone(data), a.objects(l.LeasesDir()), a.objects(l.JobsDir()),
		a.objects(l.DrillEvidenceDir("*")), a.object(l.ClusterInfoKey()),
		a.object(l.RequestProgressKey("*")), a.object(l.RequestResultKey("*")), a.objects(l.AgentsDir()), a.objects(l.RestoreAuditDir()),
		a.objects(l.PostureReportsDir()))
	return []Statement{
		list("ListOwnClusterRoot", a, l.RootDir()),
		allow("ReadOwnClusterRoot", []string{actGetObject, actGetObjectVersion, actGetObjectRetention}, a.objects(l.RootDir())),
		allow("ReadBucketPosture", postureReads, a.bucketARN()),
		// PutObjectRetention: a put that names its own retention (drill
		// evidence, the probe's canary) needs it. It cannot shorten a
		// COMPLIANCE lock, and shortening a GOVERNANCE one needs the
		// bypass, denied below.
		allow("WriteOwnData", []string{actPutObject, actPutObjectRetention, actAbortMultipartUpload, actListMultipartUploadParts}, writable...),
		// A delete without a version id only adds a delete marker: the
		// versions stay for a restore until lifecycle expires them.
		allow("PruneWithDeleteMarkers", []string{actDeleteObject}, data...),
		// An agent retires the lease generations it superseded the same
		// way; their versions and markers go by lifecycle.
		allow("RetireOldLeases", []string{actDeleteObject}, a.objects(l.LeasesDir())),
		deny("NeverDestroyVersions", []string{actDeleteObjectVersion, actBypassGovernanceRetention}, a.objects("")),
		deny("NeverChangeTheBucket", bucketWrites, a.bucketARN()),
		deny("NeverRewriteProviderConfig", []string{actPutObject}, a.object(l.PolicyKey()), a.object(l.DrillScheduleKey("*")),
			a.object(l.RequestKey("*")), a.object(l.RequestAckKey("*")),
			a.object(l.RedisScheduleKey("*")), a.object(l.WALSettingsKey())),
	}
}

// copier is the recovery region copy's document for the destination bucket:
// l's cluster root (every cluster below l.Prefix without l.Cluster). The
// copy lists the index, writes each object under the same key, reads it
// back, and appends index segments; it never deletes (a pruned source
// backup stays in the region until the destination's lifecycle removes
// it), so every delete is denied, as is every change to the bucket. It
// may not name its own retention either: each copy takes the destination
// bucket's default lock, so these keys cannot write a copy under a weaker
// or shorter lock than the bucket's. The folders the copy never carries
// (leases, job records, agent heartbeats, requests) are denied too: an
// agent started in the region must not act on anything these keys wrote.
// So is every region's activation mark: whoever holds the copy keys must
// not be able to start the primary's backup schedules in the region (the
// mark is signed besides, and agents with trusted keys refuse a forged one).
func copier(a arns, l repo.Layout) []Statement {
	scope := l.PrefixDir()
	never := l
	if l.Cluster != "" {
		scope = l.RootDir()
	} else {
		// Every cluster below the prefix: "*" is a wildcard in the
		// patterns, never a key.
		never.Cluster = "*"
	}
	return []Statement{
		list("ListRepository", a, scope),
		allow("ReadRepository", []string{actGetObject, actGetObjectVersion, actGetObjectRetention}, a.objects(scope)),
		allow("ReadBucketPosture", postureReads, a.bucketARN()),
		allow("WriteCopies", []string{actPutObject, actAbortMultipartUpload, actListMultipartUploadParts}, a.objects(scope)),
		deny("NeverDelete", []string{actDeleteObject, actDeleteObjectVersion, actBypassGovernanceRetention}, a.objects("")),
		deny("NeverNameItsOwnLock", []string{actPutObjectRetention, actPutObjectLegalHold}, a.objects("")),
		deny("NeverChangeTheBucket", bucketWrites, a.bucketARN()),
		deny("NeverWriteAgentState", []string{actPutObject}, a.objects(never.LeasesDir()), a.objects(never.JobsDir()),
			a.objects(never.AgentsDir()), a.objects(never.RequestsDir())),
		// "*" is a wildcard: every region's mark.
		deny("NeverActivateTheRegion", []string{actPutObject}, a.objects(never.RegionActivationPrefix("*"))),
	}
}

// list allows listing keys and versions below prefix only ("" is the whole
// bucket). The condition is on the request's prefix, so a listing of the
// whole bucket, or of another cluster, is refused. NOTE: AWS answers a
// GetObject/HeadObject of a missing key with 403 rather than 404 unless the
// caller may list the bucket, and a request for one key carries no
// s3:prefix; MinIO answers 404 to a caller allowed GetObject (tested).
// Against AWS, a writer may then see AccessDenied where the key is only
// absent: untested here.
func list(sid string, a arns, prefix string) Statement {
	s := allow(sid, []string{actListBucket, actListBucketVersions}, a.bucketARN())
	if prefix != "" {
		s.Condition = map[string]map[string][]string{"StringLike": {"s3:prefix": {prefix + "*"}}}
	}
	return s
}

func allow(sid string, actions []string, resources ...string) Statement {
	return Statement{Sid: sid, Effect: "Allow", Action: actions, Resource: resources}
}

func deny(sid string, actions []string, resources ...string) Statement {
	return Statement{Sid: sid, Effect: "Deny", Action: actions, Resource: resources}
}

// arns spells the resources of one bucket.
type arns struct{ bucket string }

func (a arns) bucketARN() string { return "arn:aws:s3:::" + a.bucket }

// object is one key.
func (a arns) object(key string) string { return a.bucketARN() + "/" + key }

// objects is every key below prefix ("" is every key of the bucket).
func (a arns) objects(prefix string) string { return a.bucketARN() + "/" + prefix + "*" }

// checkName refuses a name that would be a pattern or a variable in a
// policy document: "*" and "?" are wildcards in Resource and StringLike,
// "${...}" a policy variable. A cluster named "*" would otherwise write
// into every cluster's root.
func checkName(what, name string) error {
	if i := strings.IndexAny(name, "*?$"); i >= 0 {
		return fmt.Errorf("%w: %s %q holds %q, a wildcard or variable in a policy document", ErrInvalidScope, what, name, name[i])
	}
	if what == "bucket" && name == "" {
		return fmt.Errorf("%w: empty bucket name", ErrInvalidScope)
	}
	return nil
}
