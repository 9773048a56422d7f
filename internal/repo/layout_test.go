package repo

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Every key the repository holds, as its owner spells it, decodes back to
// what it names; keys of other clusters, other prefixes and stray objects
// decode to nothing.
func TestLayoutKeysParse(t *testing.T) {
	l := Layout{Prefix: "/pg/", Cluster: "main"}
	tests := []struct {
		name string
		key  string
		want Key
		data bool
	}{
		{"identity", l.ClusterInfoKey(), Key{Kind: KindClusterInfo}, false},
		{"policy", l.PolicyKey(), Key{Kind: KindPolicy}, false},
		{"WAL segment", l.WALKey("00000001", "000000010000000000000003", "zst"),
			Key{Kind: KindWAL, Timeline: "00000001", Name: "000000010000000000000003", Ext: "zst"}, true},
		{"WAL partial", l.WALKey("00000002", "000000020000000000000004.partial", "lz4"),
			Key{Kind: KindWAL, Timeline: "00000002", Name: "000000020000000000000004.partial", Ext: "lz4"}, true},
		{"WAL backup label", l.WALKey("00000001", "000000010000000000000003.00000028.backup", "raw"),
			Key{Kind: KindWAL, Timeline: "00000001", Name: "000000010000000000000003.00000028.backup", Ext: "raw"}, true},
		{"timeline history", l.WALKey("00000002", "00000002.history", "zst"),
			Key{Kind: KindWAL, Timeline: "00000002", Name: "00000002.history", Ext: "zst"}, true},
		{"encrypted WAL segment", l.WALKeyEncrypted("00000001", "000000010000000000000003", "zst", "0a1b2c3d"),
			Key{Kind: KindWAL, Timeline: "00000001", Name: "000000010000000000000003", Ext: "zst", RecipientSet: "0a1b2c3d"}, true},
		{"encrypted WAL partial", l.WALKeyEncrypted("00000002", "000000020000000000000004.partial", "raw", "ffffffff"),
			Key{Kind: KindWAL, Timeline: "00000002", Name: "000000020000000000000004.partial", Ext: "raw", RecipientSet: "ffffffff"}, true},
		{"backup manifest", l.BackupManifestKey("20261130T070000Z-ab12"),
			Key{Kind: KindBackupManifest, ID: "20261130T070000Z-ab12"}, true},
		{"backup archive part", l.BackupArchiveDir("20261130T070000Z-ab12", "base.tar.zst") + "000001",
			Key{Kind: KindBackupObject, ID: "20261130T070000Z-ab12", Object: "base.tar.zst/000001"}, true},
		{"PostgreSQL backup manifest", l.BackupObjectKey("20261130T070000Z-ab12", BackupPGManifest),
			Key{Kind: KindBackupObject, ID: "20261130T070000Z-ab12", Object: "backup_manifest"}, true},
		{"tenant dump", l.TenantDumpKey("shop", "20261130T070000Z-ab12"),
			Key{Kind: KindTenantDump, Database: "shop", ID: "20261130T070000Z-ab12"}, true},
		{"tenant manifest", l.TenantManifestKey("shop", "20261130T070000Z-ab12"),
			Key{Kind: KindTenantManifest, Database: "shop", ID: "20261130T070000Z-ab12"}, true},
		{"drill schedule", l.DrillScheduleKey("nightly"), Key{Kind: KindDrillSchedule, Drill: "nightly"}, false},
		{"drill evidence", l.DrillEvidenceKey("nightly", "20261130T070000Z"),
			Key{Kind: KindDrillEvidence, Drill: "nightly", ID: "20261130T070000Z"}, false},
		{"lease", l.LeaseKey("backup", 42), Key{Kind: KindLease, Job: "backup", Generation: 42}, false},
		{"job record", l.JobRecordKey("drill-nightly"), Key{Kind: KindJobRecord, Job: "drill-nightly"}, false},
		{"drill index", l.DrillIndexKey(), Key{Kind: KindDrillIndex}, false},
		{"writer probe", l.WriterProbeKey(), Key{Kind: KindWriterProbe}, false},
		{"WAL settings", l.WALSettingsKey(), Key{Kind: KindWALSettings}, false},
		{"region status", l.RegionStatusKey("eu-west"), Key{Kind: KindRegionStatus, Region: "eu-west"}, false},
		{"kept restore plan", l.RestorePlanKey("3f2a"), Key{Kind: KindRestorePlan, ID: "3f2a"}, false},
		{"kept compatibility review", l.KeptReviewKey("3f2a"), Key{Kind: KindKeptReview, ID: "3f2a"}, false},
		{"restore point schema", l.RestorePointSchemaKey("before-release-42", "acme"),
			Key{Kind: KindRestorePointSchema, ID: "before-release-42", Database: "acme"}, false},
		{"redis snapshot", l.RedisSnapshotKey("sessions", "20261130T070000Z-ab12", "zst"),
			Key{Kind: KindRedisSnapshot, Instance: "sessions", ID: "20261130T070000Z-ab12", Ext: "zst"}, true},
		{"redis manifest", l.RedisManifestKey("sessions", "20261130T070000Z-ab12"),
			Key{Kind: KindRedisManifest, Instance: "sessions", ID: "20261130T070000Z-ab12"}, true},
		{"redis schedule", l.RedisScheduleKey("sessions"), Key{Kind: KindRedisSchedule, Instance: "sessions"}, false},
		{"region configuration", l.RegionConfigKey("eu2"), Key{Kind: KindRegionConfig, Region: "eu2"}, false},
		{"region canary", l.RegionCanaryKey("eu2"), Key{Kind: KindRegionCanary, Region: "eu2"}, false},
		{"region activation", l.RegionActivationKey("eu2"), Key{Kind: KindRegionActivation, Region: "eu2"}, false},
		{"region copy probe record", l.RegionCopyProbeKey("eu2"), Key{Kind: KindRegionCopyProbe, Region: "eu2"}, false},
		{"region copy status of a region named like a probe", l.RegionStatusKey("copy-probe-x"), Key{Kind: KindRegionStatus, Region: "copy-probe-x"}, false},
		{"region index segment", l.RegionIndexKey("eu2", 7), Key{Kind: KindRegionIndex, Region: "eu2", Generation: 7}, false},
		{"agent request", l.RequestKey("restore-3f2a-0001"), Key{Kind: KindRequest, Request: "restore-3f2a-0001"}, false},
		{"agent request progress", l.RequestProgressKey("restore-3f2a-0001"), Key{Kind: KindRequestProgress, Request: "restore-3f2a-0001"}, false},
		{"agent request result", l.RequestResultKey("restore-3f2a-0001"), Key{Kind: KindRequestResult, Request: "restore-3f2a-0001"}, false},
		{"agent request ack", l.RequestAckKey("restore-3f2a-0001"), Key{Kind: KindRequestAck, Request: "restore-3f2a-0001"}, false},
		{"agent request lease", l.LeaseKey(l.RequestLeaseJob("restore-3f2a-0001"), 1),
			Key{Kind: KindLease, Job: "request-restore-3f2a-0001", Generation: 1}, false},
		{"heartbeat", l.HeartbeatKey("db-eu-1"), Key{Kind: KindHeartbeat, Host: "db-eu-1"}, false},
		{"restore audit started", l.RestoreAuditKey("20261130T070000Z-ab12", AuditStarted),
			Key{Kind: KindRestoreAudit, ID: "20261130T070000Z-ab12", Phase: AuditStarted}, false},
		{"restore audit finished", l.RestoreAuditKey("20261130T070000Z-ab12", AuditFinished),
			Key{Kind: KindRestoreAudit, ID: "20261130T070000Z-ab12", Phase: AuditFinished}, false},
		{"posture report", l.PostureReportKey("20261130T113000Z", "html"),
			Key{Kind: KindPostureReport, ID: "20261130T113000Z", Ext: "html"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := l.Parse(tt.key)
			if !ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.key, got, ok, tt.want)
			}
			if got.Kind.Data() != tt.data {
				t.Fatalf("%s: Data() = %v, want %v", tt.key, got.Kind.Data(), tt.data)
			}
			// A data key lies under exactly one data prefix, any other key
			// under none: lifecycle tiers built from DataPrefixes can only
			// ever expire data.
			n := 0
			for _, p := range l.DataPrefixes() {
				if len(tt.key) > len(p) && tt.key[:len(p)] == p {
					n++
				}
			}
			if (n == 1) != tt.data || n > 1 {
				t.Fatalf("%s lies under %d data prefixes of %v", tt.key, n, l.DataPrefixes())
			}
		})
	}
}

func TestLayoutSpelling(t *testing.T) {
	l := Layout{Prefix: "pg", Cluster: "main"}
	for got, want := range map[string]string{
		l.Root():                            "pg/main",
		Layout{Cluster: "main"}.Root():      "main",
		Layout{Prefix: "/pg/"}.PrefixDir():  "pg/",
		Layout{Cluster: "main"}.PrefixDir(): "",
		l.ClusterInfoKey():                  "pg/main/cluster.json",
		l.PolicyKey():                       "pg/main/policy.json",
		l.WALSettingsKey():                  "pg/main/wal-settings.json",
		l.WALKey("00000001", "000000010000000000000003", "zst"):                      "pg/main/wal/00000001/000000010000000000000003.zst",
		l.WALKeyEncrypted("00000001", "000000010000000000000003", "zst", "0a1b2c3d"): "pg/main/wal/00000001/000000010000000000000003.zst.0a1b2c3d.age",
		l.BackupManifestKey("id"):                "pg/main/basebackups/id/manifest.json",
		l.BackupArchiveDir("id", "base.tar.zst"): "pg/main/basebackups/id/base.tar.zst/",
		l.TenantDumpKey("db", "id"):              "pg/main/tenants/db/id.dump",
		l.TenantManifestKey("db", "id"):          "pg/main/tenants/db/id.json",
		l.DrillScheduleKey("n"):                  "pg/main/drills/n/schedule.json",
		l.DrillEvidenceKey("n", "e"):             "pg/main/drills/n/evidence/e.json",
		l.LeaseKey("backup", 7):                  "pg/main/leases/backup/00000000000000000007.json",
		l.JobRecordKey("backup"):                 "pg/main/jobs/backup/last.json",
		l.RestorePlanKey("3f2a"):                 "pg/main/restores/3f2a.json",
		l.RedisSnapshotKey("s", "id", "zst"):     "pg/main/redis/s/id.rdb.zst",
		l.RedisScheduleKey("s"):                  "pg/main/redis-schedules/s.json",
		l.RedisManifestKey("s", "id"):            "pg/main/redis/s/id.json",
		l.RegionConfigKey("eu2"):                 "pg/main/regions/eu2/config.json",
		l.RegionIndexKey("eu2", 3):               "pg/main/regions/eu2/index/00000000000000000003.json",
		l.RequestKey("r"):                        "pg/main/requests/r/request.json",
		l.RequestProgressKey("r"):                "pg/main/requests/r/progress.json",
		l.RequestResultKey("r"):                  "pg/main/requests/r/result.json",
		l.RequestAckKey("r"):                     "pg/main/requests/r/ack.json",
		l.HeartbeatKey("db-eu-1"):                "pg/main/agents/db-eu-1.json",
		l.RestoreAuditKey("id", AuditFinished):   "pg/main/audit/restores/id/finished.json",
		l.PostureReportKey("id", "json"):         "pg/main/audit/posture/id.json",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if got, want := l.DataPrefixes(), []string{"pg/main/basebackups/", "pg/main/tenants/", "pg/main/wal/", "pg/main/redis/"}; !reflect.DeepEqual(got, want) {
		t.Errorf("DataPrefixes() = %q, want %q", got, want)
	}
}

func TestLayoutParseRefusesForeignAndStrayKeys(t *testing.T) {
	l := Layout{Prefix: "pg", Cluster: "main"}
	for _, key := range []string{
		"pg/main-eu/policy.json",                                         // a cluster whose name extends this one's
		"pg/mainpolicy.json",                                             // no separator
		"other/main/policy.json",                                         // another prefix
		"main/policy.json",                                               // no prefix
		"pg/main/wal/00000001/000000010000000000000003",                  // no codec extension
		"pg/main/wal/00000001/000000010000000000000003.gz",               // not a codec of ours
		"pg/main/wal/0000001/000000010000000000000003.zst",               // timeline not 8 hex digits
		"pg/main/wal/00000001/sub/000000010000000000000003.zst",          // too deep
		"pg/main/wal/00000001/000000010000000000000003.zst.age",          // encrypted without a recipient set
		"pg/main/wal/00000001/000000010000000000000003.zst.0A1B2C3D.age", // set id not lower hex
		"pg/main/wal/00000001/000000010000000000000003.0a1b2c3d.age",     // encrypted without a codec
		"pg/main/basebackups/id",                                         // no object
		"pg/main/basebackups/id/",                                        // folder marker
		"pg/main/tenants/db/id.tmp",
		"pg/main/tenants/id.dump",
		"pg/main/drills/n/evidence/e.txt",
		"pg/main/drills/n/other.json",
		"pg/main/leases/backup/x.json",
		"pg/main/jobs/backup/first.json",
		"pg/main/restores/x/3f2a.json",
		"pg/main/restores/.json",
		"pg/main/redis/s/id.rdb",           // no codec extension
		"pg/main/redis/s/id.rdb.gz",        // not a codec of ours
		"pg/main/redis/id.json",            // no instance
		"pg/main/redis/s/x/id.json",        // too deep
		"pg/main/redis-schedules/s/x.json", // too deep
		"pg/main/redis-schedules/.json",    // no instance
		"pg/main/requests/r/notes.json",    // not a request object
		"pg/main/requests/request.json",    // no request id
		"pg/main/requests/r/x/result.json",
		"pg/main/agents/.json",
		"pg/main/agents/h/x.json",
		"pg/main/audit/restores/id/begun.json",  // not a phase
		"pg/main/audit/restores/started.json",   // no id
		"pg/main/audit/drills/id/finished.json", // not restores
		"pg/main/notes.txt",
	} {
		if k, ok := l.Parse(key); ok {
			t.Errorf("Parse(%q) = %+v, want no key of this repository", key, k)
		}
	}
}

func TestLifecyclePrefixes(t *testing.T) {
	l := Layout{Prefix: "pg", Cluster: "main"}
	data := []string{"pg/main/basebackups/", "pg/main/tenants/", "pg/main/wal/", "pg/main/redis/"}
	tests := []struct {
		prefix string
		want   []string
		err    bool
	}{
		{"", data, false},
		{"pg/", data, false},
		{"pg/main/", data, false},
		{"pg/main/wal/", []string{"pg/main/wal/"}, false},
		{"pg/main/wal/00000001/", []string{"pg/main/wal/00000001/"}, false},
		{"pg/main/t", []string{"pg/main/tenants/"}, false},
		{"pg/main/basebackups", []string{"pg/main/basebackups/"}, false},
		{"pg/main/redis", []string{"pg/main/redis/"}, false}, // never redis-schedules/
		{"pg/main/redis-schedules/", nil, true},
		{"pg/main/drills/", nil, true},
		{"pg/main/policy", nil, true},
		{"pg/main/jobs/", nil, true},
		{"pg/main-eu/", nil, true},
		{"pg/main-e", nil, true},
		{"attachments/", []string{"attachments/"}, false},
		{"pgx/", []string{"pgx/"}, false},
	}
	for _, tt := range tests {
		got, err := l.LifecyclePrefixes(tt.prefix)
		if tt.err != (err != nil) || (err != nil && !errors.Is(err, ErrPrefixNotData)) || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("LifecyclePrefixes(%q) = %q, %v; want %q, error %v", tt.prefix, got, err, tt.want, tt.err)
			continue
		}
		// Whatever it returns covers no key of the repository but data.
		for _, key := range []string{l.ClusterInfoKey(), l.PolicyKey(), l.DrillScheduleKey("n"), l.DrillEvidenceKey("n", "e"),
			l.LeaseKey("backup", 1), l.JobRecordKey("backup"), l.RedisScheduleKey("sessions"), l.RequestKey("r"), l.RequestResultKey("r"), l.HeartbeatKey("h"),
			"pg/main-eu/policy.json"} {
			for _, p := range got {
				if strings.HasPrefix(key, p) {
					t.Errorf("LifecyclePrefixes(%q) gives %q, which covers %s", tt.prefix, p, key)
				}
			}
		}
	}
}
