package access

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// request is one S3 request as an IAM evaluation sees it.
type request struct {
	action   string
	resource string // an ARN
	prefix   *string
}

func obj(key string) string { return "arn:aws:s3:::lb/" + key }

const bucketARN = "arn:aws:s3:::lb"

func listing(prefix string) request {
	return request{action: "s3:ListBucket", resource: bucketARN, prefix: &prefix}
}

// evaluate is IAM's evaluation of one identity document, as AWS documents
// it and MinIO implements it: an explicit Deny wins, then any Allow, else
// the implicit deny. Only what the documents use is implemented
// (wildcards, StringLike on s3:prefix).
func evaluate(t *testing.T, d Document, r request) bool {
	t.Helper()
	allowed := false
	for _, s := range d.Statement {
		if !matchAny(s.Action, r.action) || !matchAny(s.Resource, r.resource) {
			continue
		}
		if !conditionsHold(t, s.Condition, r) {
			continue
		}
		if s.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

func conditionsHold(t *testing.T, c map[string]map[string][]string, r request) bool {
	for op, kv := range c {
		for k, vs := range kv {
			if op != "StringLike" || k != "s3:prefix" {
				t.Fatalf("condition %s %s: not implemented by the test evaluator", op, k)
			}
			if r.prefix == nil || !matchAny(vs, *r.prefix) {
				return false
			}
		}
	}
	return true
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcard(p, s) {
			return true
		}
	}
	return false
}

// wildcard matches IAM patterns: '*' any run of characters ('/' included),
// '?' any one character.
func wildcard(p, s string) bool {
	for p != "" {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcard(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

func TestPolicyDocuments(t *testing.T) {
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	put := func(key string) request { return request{action: "s3:PutObject", resource: obj(key)} }
	get := func(key string) request { return request{action: "s3:GetObject", resource: obj(key)} }
	del := func(key string) request { return request{action: "s3:DeleteObject", resource: obj(key)} }
	onBucket := func(action string) request { return request{action: action, resource: bucketARN} }
	tests := []struct {
		role   Role
		layout repo.Layout
		allow  []request
		deny   []request
	}{
		{role: RoleWriter, layout: l,
			allow: []request{
				put(l.WALKey("00000001", "000000010000000000000003", "zst")),
				put(l.BackupManifestKey("20261130T010000Z")), put(l.BackupObjectKey("20261130T010000Z", "base.tar.zst/000001")),
				put(l.TenantDumpKey("acme", "1")),
				put(l.LeaseKey("backup", 3)), put(l.JobRecordKey("backup")), put(l.DrillEvidenceKey("nightly", "e1")),
				put(l.ClusterInfoKey()), put(l.RestoreAuditKey("r1", repo.AuditStarted)), put(l.PostureReportKey("20261130T113000Z", "json")),
				{action: "s3:PutObjectRetention", resource: obj(l.DrillEvidenceKey("nightly", "e1"))},
				{action: "s3:PutObjectRetention", resource: obj(l.RestoreAuditKey("r1", repo.AuditFinished))},
				{action: "s3:PutObjectRetention", resource: obj(l.JobRecordKey("probe"))},
				{action: "s3:AbortMultipartUpload", resource: obj(l.BackupObjectKey("x", "base.tar.zst/000001"))},
				get(l.PolicyKey()), get(l.DrillScheduleKey("nightly")), get(l.WALKey("00000001", "000000010000000000000003", "zst")),
				{action: "s3:GetObjectVersion", resource: obj(l.WALKey("00000001", "000000010000000000000003", "zst"))},
				del(l.WALKey("00000001", "000000010000000000000003", "zst")), del(l.BackupManifestKey("x")), del(l.TenantDumpKey("acme", "1")),
				put(l.RedisSnapshotKey("sessions", "1", "zst")), put(l.RedisManifestKey("sessions", "1")),
				del(l.RedisSnapshotKey("sessions", "1", "zst")), del(l.RedisManifestKey("sessions", "1")), get(l.RedisScheduleKey("sessions")),
				// A superseded lease generation is retired with a delete
				// marker; lifecycle removes its versions.
				del(l.LeaseKey("backup", 3)),
				listing(l.RootDir()), listing(l.WALDir()), listing(l.LeaseDir("backup")),
				{action: "s3:ListBucketVersions", resource: bucketARN, prefix: ptr(l.WALDir())},
				onBucket("s3:GetLifecycleConfiguration"), onBucket("s3:GetBucketObjectLockConfiguration"),
				onBucket("s3:GetBucketVersioning"), onBucket("s3:GetEncryptionConfiguration"),
			},
			deny: []request{
				put(l.PolicyKey()), put(l.DrillScheduleKey("nightly")), put(l.RedisScheduleKey("sessions")), del(l.RedisScheduleKey("sessions")),
				// A drill name with a slash puts a schedule where evidence
				// could go: the explicit Deny still wins.
				put(l.DrillScheduleKey("x/evidence")),
				put("pg/other/wal/00000001/000000010000000000000003.zst"), put("pg/main-eu/wal/x"), put("other/main/wal/x"),
				put("pg/main/unknown"), get("pg/other/policy.json"), get("pg/main-eu/cluster.json"),
				del(l.DrillEvidenceKey("nightly", "e1")), del(l.PolicyKey()), del(l.ClusterInfoKey()),
				del(l.JobRecordKey("backup")), del(l.HeartbeatKey("db-1")), del(l.RequestProgressKey("r1")),
				{action: "s3:DeleteObjectVersion", resource: obj(l.LeaseKey("backup", 3))},
				del(l.RestoreAuditKey("r1", repo.AuditStarted)),
				{action: "s3:DeleteObjectVersion", resource: obj(l.RestoreAuditKey("r1", repo.AuditStarted))},
				del("pg/other/wal/x"),
				{action: "s3:DeleteObjectVersion", resource: obj(l.WALKey("00000001", "000000010000000000000003", "zst"))},
				{action: "s3:BypassGovernanceRetention", resource: obj(l.JobRecordKey("probe"))},
				{action: "s3:PutObjectRetention", resource: obj(l.PolicyKey())},
				listing(""), listing("pg/"), listing("pg/main"), listing("pg/main-eu/"), listing("pg/other/"),
				{action: "s3:ListBucket", resource: bucketARN},
				onBucket("s3:PutLifecycleConfiguration"), onBucket("s3:PutBucketObjectLockConfiguration"),
				onBucket("s3:PutBucketVersioning"), onBucket("s3:PutEncryptionConfiguration"), onBucket("s3:PutBucketPolicy"),
				onBucket("s3:DeleteBucketPolicy"), onBucket("s3:PutBucketTagging"), onBucket("s3:DeleteBucket"),
				{action: "s3:GetObject", resource: "arn:aws:s3:::other/pg/main/policy.json"},
			}},
		{role: RoleRestorer, layout: l,
			allow: []request{
				get(l.WALKey("00000001", "000000010000000000000003", "zst")), get(l.BackupManifestKey("x")), get(l.PolicyKey()),
				{action: "s3:GetObjectVersion", resource: obj(l.TenantDumpKey("acme", "1"))},
				listing(l.RootDir()), {action: "s3:ListBucketVersions", resource: bucketARN, prefix: ptr(l.TenantsDir())},
			},
			deny: []request{
				put(l.WALKey("00000001", "000000010000000000000003", "zst")), put(l.DrillEvidenceKey("n", "e")),
				put(l.RestoreAuditKey("r1", repo.AuditStarted)), put(l.RestorePlanKey("p")),
				del(l.WALKey("00000001", "000000010000000000000003", "zst")),
				{action: "s3:DeleteObjectVersion", resource: obj(l.PolicyKey())},
				get("pg/other/policy.json"), listing("pg/"), onBucket("s3:PutLifecycleConfiguration"),
			}},
		{role: RoleRestorer, layout: repo.Layout{Prefix: "pg"},
			allow: []request{get("pg/other/policy.json"), get(l.PolicyKey()), listing("pg/"), listing("pg/other/")},
			deny:  []request{get("pgx/main/policy.json"), listing(""), put("pg/other/wal/x")},
		},
		{role: RoleAuditor, layout: l,
			allow: []request{
				get(l.DrillEvidenceKey("nightly", "e1")), listing(l.DrillEvidenceDir("nightly")), listing(l.DrillsDir()),
				get(l.RestoreAuditKey("r1", repo.AuditFinished)), listing(l.RestoreAuditDir()),
				get(l.PostureReportKey("20261130T113000Z", "html")), listing(l.PostureReportsDir()),
				{action: "s3:GetObjectRetention", resource: obj(l.DrillEvidenceKey("nightly", "e1"))},
				onBucket("s3:GetLifecycleConfiguration"), onBucket("s3:GetBucketObjectLockConfiguration"),
				onBucket("s3:GetBucketVersioning"), onBucket("s3:GetEncryptionConfiguration"),
				onBucket("s3:GetBucketTagging"), onBucket("s3:GetBucketPolicyStatus"),
			},
			deny: []request{
				onBucket("s3:PutBucketTagging"), onBucket("s3:GetBucketPolicy"),
				get(l.DrillScheduleKey("nightly")), get(l.PolicyKey()), get(l.WALKey("00000001", "000000010000000000000003", "zst")),
				get("pg/other/drills/nightly/evidence/e1.json"), put(l.DrillEvidenceKey("nightly", "e2")),
				put(l.RestoreAuditKey("r1", repo.AuditStarted)), put(l.PostureReportKey("20261130T113000Z", "html")),
				listing(l.RootDir()), listing(l.WALDir()), onBucket("s3:PutLifecycleConfiguration"),
			}},
		{role: RoleAuditor, layout: repo.Layout{Prefix: "pg"},
			allow: []request{get("pg/other/drills/nightly/evidence/e1.json"), listing("pg/other/drills/"),
				get("pg/other/audit/restores/r1/started.json"), listing("pg/other/audit/restores/")},
			deny: []request{get("pg/other/policy.json"), listing("pg/")},
		},
		{role: RoleCopy, layout: l,
			allow: []request{
				put(l.WALKey("00000001", "000000010000000000000003", "zst")), put(l.PolicyKey()), put(l.RegionConfigKey("eu2")),
				put(l.RegionIndexKey("eu2", 1)), put(l.RegionCanaryKey("eu2")), get(l.RegionIndexKey("eu2", 1)), listing(l.RootDir()),
			},
			deny: []request{
				put(l.RegionActivationKey("eu2")), put(l.RegionActivationPrefix("eu2") + ".json.sig"), put(l.RegionActivationKey("lifeboat-access-probe")),
				put(l.LeaseKey("backup", 1)), put(l.RequestKey("r1")), put(l.JobRecordKey("backup")),
				del(l.WALKey("00000001", "000000010000000000000003", "zst")), put("pg/other/wal/x"),
			}},
		{role: RoleCopy, layout: repo.Layout{Prefix: "pg"},
			allow: []request{put("pg/other/wal/x"), put("pg/other/regions/eu2/config.json")},
			deny:  []request{put("pg/other/regions/eu2/activation.json"), put("pg/other/jobs/backup/last.json"), put("pgx/main/wal/x")},
		},
		{role: RoleAdmin, layout: l,
			allow: []request{
				onBucket("s3:PutLifecycleConfiguration"), onBucket("s3:DeleteBucket"), listing(""),
				{action: "s3:BypassGovernanceRetention", resource: obj("pg/other/x")}, put(l.PolicyKey()),
			},
			deny: []request{{action: "s3:GetObject", resource: "arn:aws:s3:::other/x"}, {action: "s3:ListBucket", resource: "arn:aws:s3:::lb2"}},
		},
	}
	for _, tt := range tests {
		t.Run(string(tt.role)+"/"+tt.layout.Cluster, func(t *testing.T) {
			d, err := Policy(tt.role, "lb", tt.layout)
			if err != nil {
				t.Fatal(err)
			}
			// The document survives its own JSON: what is attached is
			// what was evaluated.
			var back Document
			if err := json.Unmarshal([]byte(d.JSON()), &back); err != nil {
				t.Fatal(err)
			}
			for _, r := range tt.allow {
				if !evaluate(t, back, r) {
					t.Errorf("%s denied %s on %s (prefix %v), want allowed", tt.role, r.action, r.resource, deref(r.prefix))
				}
			}
			for _, r := range tt.deny {
				if evaluate(t, back, r) {
					t.Errorf("%s allowed %s on %s (prefix %v), want denied", tt.role, r.action, r.resource, deref(r.prefix))
				}
			}
		})
	}
}

// TestWriterDeniesExplicitly: the writer's forbidden actions are denied by
// statements of their own, not only by the absence of an Allow, so an Allow
// attached beside the document (a broad group policy) cannot grant them.
func TestWriterDeniesExplicitly(t *testing.T) {
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	d, err := Policy(RoleWriter, "lb", l)
	if err != nil {
		t.Fatal(err)
	}
	broad := d
	broad.Statement = append(slices.Clone(d.Statement), allow("BroadGroupPolicy", []string{"s3:*"}, bucketARN, obj("*")))
	for _, r := range []request{
		{action: "s3:DeleteObjectVersion", resource: obj("pg/other/wal/x")},
		{action: "s3:BypassGovernanceRetention", resource: obj(l.JobRecordKey("probe"))},
		{action: "s3:PutLifecycleConfiguration", resource: bucketARN},
		{action: "s3:PutBucketObjectLockConfiguration", resource: bucketARN},
		{action: "s3:PutBucketVersioning", resource: bucketARN},
		{action: "s3:PutEncryptionConfiguration", resource: bucketARN},
		{action: "s3:PutBucketPolicy", resource: bucketARN},
		{action: "s3:DeleteBucketPolicy", resource: bucketARN},
		{action: "s3:PutBucketTagging", resource: bucketARN},
		{action: "s3:DeleteBucket", resource: bucketARN},
		{action: "s3:PutObject", resource: obj(l.PolicyKey())},
		{action: "s3:PutObject", resource: obj(l.DrillScheduleKey("nightly"))},
		{action: "s3:PutObject", resource: obj(l.RedisScheduleKey("sessions"))},
	} {
		if evaluate(t, broad, r) {
			t.Errorf("%s on %s allowed once a broad Allow is added: the writer's document must deny it explicitly", r.action, r.resource)
		}
	}
}

func TestPolicyRefusesUnsafeScope(t *testing.T) {
	for _, tt := range []struct {
		role   Role
		bucket string
		layout repo.Layout
		want   string
	}{
		{RoleWriter, "lb", repo.Layout{Prefix: "pg"}, "needs a cluster"},
		{RoleWriter, "lb", repo.Layout{Cluster: "*"}, "wildcard"},
		{RoleWriter, "lb", repo.Layout{Cluster: "ma?n"}, "wildcard"},
		{RoleRestorer, "lb", repo.Layout{Prefix: "pg*"}, "wildcard"},
		{RoleAuditor, "lb", repo.Layout{Prefix: "${aws:username}"}, "variable"},
		{RoleWriter, "lb", repo.Layout{Cluster: "a/b"}, "'/'"},
		{RoleAdmin, "", repo.Layout{}, "empty bucket"},
		{RoleAdmin, "lb/x", repo.Layout{}, "'/'"},
		{RoleAdmin, "l*", repo.Layout{}, "wildcard"},
		{Role("operator"), "lb", repo.Layout{Cluster: "main"}, "unknown role"},
	} {
		_, err := Policy(tt.role, tt.bucket, tt.layout)
		if !errors.Is(err, ErrInvalidScope) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Policy(%s, %q, %+v) = %v, want ErrInvalidScope saying %q", tt.role, tt.bucket, tt.layout, err, tt.want)
		}
	}
}

func ptr(s string) *string { return &s }

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}
