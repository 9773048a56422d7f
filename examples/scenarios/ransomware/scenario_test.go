package ransomware_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Postgres: true}))
}

// TestScenarioRansomware runs the scenario as its README tells it: the
// agent archives as a writer into a GOVERNANCE-locked repository; an
// attacker holding those writer keys encrypts and drops the live table,
// hides every backup and WAL object behind delete markers and overwrites
// the backup manifest, and every attempt to destroy the repository for
// good is denied (delete a locked version, bypass governance, replace the
// lifecycle, rewrite the policy); this folder's main.tf then restores, in a
// clean room as of before the attack with restorer credentials, every
// invoice as it was.
func TestScenarioRansomware(t *testing.T) {
	env := testenv.Require(t)
	pg, m := env.Postgres, env.MinIO[0]
	ctx := context.Background()
	bin, dir := testenv.Lifeboat(t), testenv.Dir(t)
	bucket := fmt.Sprintf("scenario-ransomware-%08x", rand.Uint32())
	layout := repo.Layout{Prefix: "pg", Cluster: "erp"}
	// NOTE: versions stay locked for a day in the test MinIO; the bucket
	// name is random.
	r := m.NewRepository(t, dir, objectstore.BucketSpec{Name: bucket, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}},
		layout.Prefix, layout.Cluster, pg.OSUser)
	admin := r.Admin
	if _, err := r.Store.Put(ctx, layout.PolicyKey(), strings.NewReader("{}"), objectstore.PutOptions{Size: 2}); err != nil {
		t.Fatal(err)
	}
	// The roles, as MinIO users made from the provider's documents.
	user := func(role access.Role) (string, string) {
		doc, err := access.Policy(role, bucket, layout)
		if err != nil {
			t.Fatal(err)
		}
		return m.User(t, fmt.Sprintf("%s-%s", role, bucket[len(bucket)-8:]), doc.JSON())
	}
	wKey, wSecret := user(access.RoleWriter)
	rKey, rSecret := user(access.RoleRestorer)

	// The agent archives with the writer's keys only.
	r.Config.AccessKey, r.Config.SecretKey = wKey, wSecret
	r.WriteConfig(t, pg.OSUser)
	writer := m.Client(t, wKey, wSecret)
	psql := func(sql string) string {
		t.Helper()
		return pg.MustPsql(t, "postgres", sql)
	}
	pg.ArchiveWith(t, testenv.WALPushCommand(bin, r.ConfigPath))
	archived := func() { t.Helper(); pg.SwitchWALArchived(t) }

	psql("DROP TABLE IF EXISTS invoices; CREATE TABLE invoices (id int PRIMARY KEY, note text)")
	psql("INSERT INTO invoices SELECT g, 'invoice ' || g FROM generate_series(1, 300) g")
	if _, err := backup.Take(ctx, writer.Store(bucket), backup.Options{Layout: layout, DSN: pg.DSN("postgres")}); err != nil {
		t.Fatal(err)
	}
	psql("INSERT INTO invoices SELECT g, 'invoice ' || g FROM generate_series(301, 500) g")
	archived()
	time.Sleep(1100 * time.Millisecond)
	notAfter := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)

	// The attack, with the writer's keys.
	psql("UPDATE invoices SET note = md5(random()::text)")
	psql("DROP TABLE invoices")
	archived()
	ws := writer.Store(bucket)
	var data []objectstore.ObjectInfo
	for _, p := range layout.DataPrefixes() {
		if err := admin.Store(bucket).ListVersions(ctx, p, func(o objectstore.ObjectInfo) error {
			if o.IsLatest && !o.DeleteMarker {
				data = append(data, o)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(data) == 0 || data[0].VersionID == "" {
		t.Fatalf("repository objects %+v", data)
	}
	var manifest string
	for _, o := range data {
		if k, ok := layout.Parse(o.Key); ok && k.Kind == repo.KindBackupManifest {
			manifest = o.Key
		}
	}
	garbage := "ENCRYPTED BY ATTACKER"
	if _, err := ws.Put(ctx, manifest, strings.NewReader(garbage), objectstore.PutOptions{Size: int64(len(garbage))}); err != nil {
		t.Fatalf("overwriting the manifest with a new version (allowed; the old one stays): %v", err)
	}
	for _, o := range data {
		if err := ws.Delete(ctx, o.Key); err != nil {
			t.Fatalf("delete marker on %s: %v", o.Key, err)
		}
	}
	// Destroying it for good is denied, each way.
	denied := func(what string, err error) {
		t.Helper()
		refused := err != nil && (errors.Is(err, objectstore.ErrAccessDenied) || errors.Is(err, objectstore.ErrObjectLocked) ||
			strings.Contains(err.Error(), "AccessDenied"))
		if !refused {
			t.Fatalf("the writer could %s: %v", what, err)
		}
		t.Logf("denied: %s", what)
	}
	denied("delete a locked version", ws.DeleteVersion(ctx, data[0].Key, data[0].VersionID))
	_, err := writer.S3().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(data[0].Key),
		VersionId: aws.String(data[0].VersionID), BypassGovernanceRetention: aws.Bool(true)})
	denied("bypass governance retention", writer.Classify("delete", err))
	_, err = writer.S3().PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(bucket),
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{{ID: aws.String("wipe"), Status: s3types.ExpirationStatusEnabled,
			Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}}}}})
	denied("replace the bucket's lifecycle", writer.Classify("lifecycle", err))
	_, err = ws.Put(ctx, layout.PolicyKey(), strings.NewReader("{}"), objectstore.PutOptions{Size: 2})
	denied("rewrite the signed policy", err)
	// A plain restore now finds nothing to restore.
	if _, err := restore.PlanRestore(ctx, admin.Store(bucket), restore.Request{Kind: restore.KindCluster, Layout: layout}); err == nil {
		t.Fatal("the repository still looks whole to a plain restore")
	}

	// The clean-room restore, from this folder's main.tf.
	hcl, err := os.ReadFile("main.tf")
	if err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "cleanroom")
	addr := "lifeboat_restore.cleanroom"
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: map[string]func() (tfprotov6.ProviderServer, error){
			"lifeboat": providerserver.NewProtocol6WithError(provider.New("test")()),
		},
		CheckDestroy: func(*terraform.State) error {
			if _, err := os.Stat(dataDir); err == nil {
				return fmt.Errorf("clean-room copy %s left after destroy", dataDir)
			}
			return nil
		},
		Steps: []resource.TestStep{{
			Config: string(hcl),
			ConfigVariables: config.Variables{
				"repository_bucket": config.StringVariable(bucket), "agent_path": config.StringVariable(bin),
				"not_after": config.StringVariable(notAfter.Format(time.RFC3339)), "restorer_access_key": config.StringVariable(rKey),
				"restorer_secret_key": config.StringVariable(rSecret), "data_directory": config.StringVariable(dataDir),
				"port": config.IntegerVariable(port),
			},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(addr, tfjsonpath.New("check_results"), knownvalue.MapExact(map[string]knownvalue.Check{
					"invoices_intact": knownvalue.StringExact("pass"),
				})),
				statecheck.ExpectKnownValue(addr, tfjsonpath.New("superuser_password"), knownvalue.NotNull()),
				statecheck.ExpectKnownOutputValue("forensic_summary", knownvalue.StringRegexp(regexpMust(`overwritten, [1-9]\d* delete markers`))),
			},
			Check: func(*terraform.State) error {
				// The restore is on record: read as the restorer, written
				// with the provider's keys.
				all, err := restore.ListAudit(ctx, admin.Store(bucket), layout, restoreTrust())
				if err != nil {
					return err
				}
				last := all[len(all)-1].Record
				if !last.CleanRoom || last.ReadAccessKeyID != rKey || last.Result != restore.AuditSucceeded {
					return fmt.Errorf("audit record %+v", last)
				}
				return nil
			},
		}},
	})
}

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// restoreTrust trusts no key: the scenario's provider has no signing_key,
// and the check reads the record's fields, not its signature.
func restoreTrust() signature.Trust { return signature.Trust{} }
