// Package pulumitest runs Lifeboat Pulumi programs with the real Pulumi CLI
// against the test harness's services: it builds the plugin, sets up a file
// backend, and drives one life cycle of an immutable bucket and WAL archiving
// into it that the YAML example and the Go example share.
package pulumitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

var (
	pluginOnce sync.Once
	pluginDir  string
	pluginErr  error
)

// RepoRoot is the checkout this package was compiled from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// BuildPlugin builds pulumi-resource-lifeboat into a temporary folder, once
// per test binary, and returns that folder.
func BuildPlugin(t testing.TB) string {
	t.Helper()
	pluginOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lifeboat-plugin-")
		if err != nil {
			pluginErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "pulumi-resource-lifeboat"), "./provider/cmd/pulumi-resource-lifeboat")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginErr = fmt.Errorf("building the plugin: %w\n%s", err, out)
			return
		}
		pluginDir = dir
	})
	require.NoError(t, pluginErr)
	return pluginDir
}

// Workspace returns the options every CLI test needs: the pinned Pulumi CLI,
// a file backend and a Pulumi home in temporary folders, the plugin and the
// YAML language host on PATH, no update checks. It skips the test when the
// harness has not started the services.
func Workspace(t *testing.T) []auto.LocalWorkspaceOption {
	t.Helper()
	testenv.Require(t)
	plugin := BuildPlugin(t)
	tools := testenv.ToolsBin()
	if _, err := os.Stat(filepath.Join(tools, "pulumi")); err != nil {
		t.Fatalf("the Pulumi CLI is missing from %s: run `make tools`", tools)
	}
	pulumi, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: filepath.Dir(tools)})
	require.NoError(t, err)
	sep := string(os.PathListSeparator)
	return []auto.LocalWorkspaceOption{
		auto.Pulumi(pulumi),
		auto.PulumiHome(t.TempDir()),
		auto.EnvVars(map[string]string{
			"PATH":                                 plugin + sep + tools + sep + os.Getenv("PATH"),
			"PULUMI_BACKEND_URL":                   "file://" + t.TempDir(),
			"PULUMI_CONFIG_PASSPHRASE":             "lifeboat-test",
			"PULUMI_SKIP_UPDATE_CHECK":             "true",
			"PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
		}),
	}
}

// RandomName is a bucket name no other test uses.
func RandomName(prefix string) string {
	return fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
}

// output collects what the CLI prints.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// BuildAgent builds the lifeboat agent into a fresh folder the PostgreSQL
// account can enter (archive_command runs it as that account), removed when
// the test ends. The agent configuration can go in the same folder.
func BuildAgent(t testing.TB) (bin, dir string) {
	t.Helper()
	// NOTE: not t.TempDir: its parent is not readable by the postgres account.
	dir, err := os.MkdirTemp("", "lifeboat-agent-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin = filepath.Join(dir, "lifeboat")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/lifeboat")
	cmd.Dir = RepoRoot()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "building the agent:\n%s", out)
	return bin, dir
}

// ResetArchiving puts the harness cluster back to a fresh cluster's archive
// settings (archive_mode off), since tests share it.
func ResetArchiving(t testing.TB, pg *testenv.Postgres) {
	t.Helper()
	for _, name := range []string{"archive_command", "archive_mode", "archive_timeout"} {
		// NOTE: one statement per call: ALTER SYSTEM refuses to run in the
		// transaction psql wraps several statements in.
		out, err := pg.Psql("postgres", "ALTER SYSTEM RESET "+name)
		assert.NoError(t, err, "resetting %s: %s", name, out)
	}
	assert.NoError(t, pg.Restart(context.Background()), "restarting PostgreSQL after the reset")
}

// Lifecycle drives a stack whose program declares, as examples/pulumi/yaml
// and examples/pulumi/go do, one lifeboat:index:ImmutableBucket "backups"
// (config bucketName, retentionMode, retentionDays, walExpirationDays,
// environment) and one lifeboat:index:WalArchive "walArchive" archiving the
// harness PostgreSQL into it (config pgDsn as a secret, cluster, rpo,
// agentPath, agentConfigPath, manageAgentConfigFile, onDestroy, and
// agentAccessKey / agentSecretKey: a MinIO writer user made here). It checks
// MinIO and the server after each step:
//
//   - create; archive_mode waits for a restart, so archiving is verified by
//     the next up after restarting PostgreSQL;
//   - refresh and preview find no change;
//   - in place: the bucket's tags, then the RPO (archive_timeout);
//   - replacements: the bucket's name (the archive follows it in place),
//     then the archive's cluster;
//   - invalid inputs fail as check failures with Terraform's messages;
//   - destroy; the archive pauses (onDestroy "pause").
//
// The DSN's password must appear in neither the state nor the CLI output.
func Lifecycle(t *testing.T, stack auto.Stack) {
	ctx := context.Background()
	env := testenv.Require(t)
	require.NotNil(t, env.Postgres, "the harness must start PostgreSQL: testenv.Spec{Postgres: true}")
	pg := env.Postgres
	store, err := objectstore.NewClient(ctx, objectstore.Config{})
	require.NoError(t, err)
	agent, agentDir := BuildAgent(t)
	name1, name2 := RandomName("lb-pulumi"), RandomName("lb-pulumi")
	set := func(kv ...string) {
		t.Helper()
		for i := 0; i < len(kv); i += 2 {
			require.NoError(t, stack.SetConfig(ctx, kv[i], auto.ConfigValue{Value: kv[i+1]}))
		}
	}
	show := func(setting string) string {
		t.Helper()
		v, err := pg.Psql("postgres", "show "+setting)
		require.NoError(t, err, v)
		return v
	}
	ResetArchiving(t, pg) // start from a fresh cluster's settings, whatever ran before
	t.Cleanup(func() { ResetArchiving(t, pg) })
	t.Cleanup(func() {
		// Leave nothing behind when a step fails (runs before the reset).
		_, _ = stack.Destroy(ctx)
	})
	var cli output // everything the CLI printed, checked for the password at the end
	up := func(step string, opts ...optup.Option) auto.UpResult {
		t.Helper()
		var out output
		w := io.MultiWriter(&out, &cli)
		opts = append(opts, optup.ProgressStreams(w), optup.ErrorProgressStreams(w))
		res, err := stack.Up(ctx, opts...)
		require.NoError(t, err, "%s: pulumi up failed:\n%s", step, out.String())
		return res
	}
	changes := func(s auto.UpdateSummary) map[string]int {
		if s.ResourceChanges == nil {
			return nil
		}
		return *s.ResourceChanges
	}
	outputOf := func(res auto.UpResult, key string) any {
		t.Helper()
		v, ok := res.Outputs[key]
		require.True(t, ok, "output %s missing: %v", key, res.Outputs)
		return v.Value
	}
	segmentRE := regexp.MustCompile(`^[0-9A-F]{24}$`)
	requireArchived := func(bucket, cluster string, segment any) {
		t.Helper()
		seg, _ := segment.(string)
		require.Regexp(t, segmentRE, seg, "verifiedSegment")
		prefix := repo.Layout{Prefix: "pg", Cluster: cluster}.WALTimelineDir(seg[:8]) + seg
		found := false
		require.NoError(t, store.Store(bucket).List(ctx, prefix, func(objectstore.ObjectInfo) error {
			found = true
			return nil
		}))
		assert.True(t, found, "the verified segment %s is not in s3://%s/%s", seg, bucket, prefix)
	}

	// The agent archives as a writer: one MinIO user holding the writer's
	// document of each bucket and cluster the steps below archive into.
	writerKey, writerSecret := RandomName("writer"), RandomName("writer-secret")
	for _, scope := range []struct{ bucket, cluster string }{{name1, "main"}, {name2, "main"}, {name2, "other"}} {
		doc, err := access.Policy(access.RoleWriter, scope.bucket, repo.Layout{Prefix: "pg", Cluster: scope.cluster})
		require.NoError(t, err)
		require.NoError(t, env.MinIO[0].CreateUser(ctx, writerKey, writerSecret, scope.bucket+"-"+scope.cluster, doc.JSON()))
	}
	require.NoError(t, stack.SetConfig(ctx, "agentAccessKey", auto.ConfigValue{Value: writerKey}))
	require.NoError(t, stack.SetConfig(ctx, "agentSecretKey", auto.ConfigValue{Value: writerSecret, Secret: true}))

	// Create.
	set("bucketName", name1, "retentionMode", "GOVERNANCE", "retentionDays", "1",
		"walExpirationDays", "30", "environment", "test",
		"cluster", "main", "rpo", "10s", "agentPath", agent,
		"agentConfigPath", filepath.Join(agentDir, "agent.json"),
		"manageAgentConfigFile", "true", "onDestroy", "pause")
	require.NoError(t, stack.SetConfig(ctx, "pgDsn", auto.ConfigValue{Value: pg.DSN("postgres"), Secret: true}))
	res := up("create")
	// NOTE: counts include the pulumi:pulumi:Stack resource.
	assert.Equal(t, 3, changes(res.Summary)["create"], "create the stack, the bucket and the archive: %v", changes(res.Summary))
	assert.Equal(t, name1, outputOf(res, "bucket"), "the resource ID is the bucket name")
	assert.Equal(t, "Enabled", outputOf(res, "versioning"))
	st, err := store.ReadBucket(ctx, name1)
	require.NoError(t, err)
	assert.True(t, st.ObjectLockEnabled)
	assert.Equal(t, "Enabled", st.Versioning)
	require.NotNil(t, st.Spec.Retention)
	assert.Equal(t, "GOVERNANCE", st.Spec.Retention.Mode)
	assert.EqualValues(t, 1, st.Spec.Retention.Days)
	assert.Len(t, st.Spec.Lifecycle, 2)
	assert.Equal(t, "test", st.Spec.Tags["environment"])
	command := outputOf(res, "archiveCommand")
	assert.Equal(t, agent+" wal-push --config "+filepath.Join(agentDir, "agent.json")+" %p", command)
	// GOTCHA: SHOW says "(disabled)" while archive_mode is off; what ALTER
	// SYSTEM wrote is in pg_file_settings.
	written, err := pg.Psql("postgres", "select setting from pg_file_settings where name = 'archive_command' order by seqno desc limit 1")
	require.NoError(t, err, written)
	assert.Equal(t, command, written, "archive_command is set on the server")
	assert.Equal(t, "5s", outputOf(res, "archiveTimeout"), "half the RPO")
	assert.Equal(t, "5s", show("archive_timeout"))
	assert.Equal(t, true, outputOf(res, "pendingRestart"), "a fresh cluster's archive_mode waits for a restart")
	fi, err := os.Stat(filepath.Join(agentDir, "agent.json"))
	require.NoError(t, err, "manageAgentConfigFile writes the agent configuration")
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// After the restart, `up --refresh` sees the restart done, and the
	// outstanding verification is an update.
	require.NoError(t, pg.Restart(ctx))
	res = up("verify after restart", optup.Refresh())
	assert.Equal(t, 1, changes(res.Summary)["update"], "verification is an update: %v", changes(res.Summary))
	assert.Equal(t, false, outputOf(res, "pendingRestart"))
	assert.Equal(t, "on", show("archive_mode"))
	assert.Equal(t, command, show("archive_command"), "archive_command is in effect")
	requireArchived(name1, "main", outputOf(res, "verifiedSegment"))

	// Refresh finds nothing changed, and a preview after it plans nothing.
	var out output
	ref, err := stack.Refresh(ctx, optrefresh.ProgressStreams(&out, &cli))
	require.NoError(t, err, out.String())
	for op, n := range changes(ref.Summary) {
		assert.True(t, op == "same" || n == 0, "refresh changed something: %v\n%s", changes(ref.Summary), out.String())
	}
	prev, err := stack.Preview(ctx, optpreview.ExpectNoChanges(), optpreview.ProgressStreams(&out, &cli))
	require.NoError(t, err, "preview after refresh must plan no change:\n%s", out.String())
	for op, n := range prev.ChangeSummary {
		assert.True(t, op == "same" || n == 0, "preview: %v", prev.ChangeSummary)
	}

	// Update in place: tags.
	set("environment", "prod")
	res = up("update tags")
	assert.Equal(t, 1, changes(res.Summary)["update"], "tags update in place: %v", changes(res.Summary))
	assert.Zero(t, changes(res.Summary)["replace"])
	st, err = store.ReadBucket(ctx, name1)
	require.NoError(t, err)
	assert.Equal(t, "prod", st.Spec.Tags["environment"])

	// Update in place: a new RPO changes archive_timeout on the server.
	set("rpo", "2m")
	res = up("update rpo")
	assert.Equal(t, 1, changes(res.Summary)["update"], "the RPO updates in place: %v", changes(res.Summary))
	assert.Zero(t, changes(res.Summary)["replace"])
	assert.Equal(t, "60s", outputOf(res, "archiveTimeout"))
	assert.Equal(t, "1min", show("archive_timeout"))

	// Replace: the bucket's name is immutable; the archive follows the new
	// bucket in place and is verified there.
	set("bucketName", name2)
	res = up("rename")
	assert.Equal(t, 1, changes(res.Summary)["replace"], "a new name replaces the bucket: %v", changes(res.Summary))
	assert.Equal(t, 1, changes(res.Summary)["update"], "the archive moves to the new bucket in place: %v", changes(res.Summary))
	assert.Equal(t, name2, outputOf(res, "bucket"))
	_, err = store.ReadBucket(ctx, name2)
	require.NoError(t, err)
	requireGone(t, store, name1)
	requireArchived(name2, "main", outputOf(res, "verifiedSegment"))

	// Replace: the cluster is immutable. The old archive is destroyed first
	// (deleteBeforeReplace), so its pause does not stop the new one.
	set("cluster", "other")
	res = up("new cluster")
	assert.Equal(t, 1, changes(res.Summary)["replace"], "a new cluster replaces the archive: %v", changes(res.Summary))
	assert.Equal(t, command, show("archive_command"), "archiving runs again after the replacement")
	requireArchived(name2, "other", outputOf(res, "verifiedSegment"))

	// What Terraform refuses at plan, Pulumi refuses as check failures naming
	// the property, with the same messages (immutable_bucket_resource_test.go
	// and wal_archive_resource_test.go expect these in Terraform's output).
	invalid := []struct {
		config   []string
		resource string
		property string
		message  string
	}{
		{[]string{"retentionMode", "WORM"}, "backups", "retention.mode", `(?s)retention.mode.*GOVERNANCE.*COMPLIANCE`},
		{[]string{"bucketName", "Not_A_Bucket"}, "backups", "name", `(?s)Invalid Bucket Name.*lower-case`},
		{[]string{"retentionDays", "30", "walExpirationDays", "7"}, "backups", "lifecycleTier",
			`(?s)Lifecycle Expiration Shorter Than Retention.*noncurrent_version_expiration_days = 7 is shorter than\s+retention.days\s+=\s+30`},
		{[]string{"rpo", "0s"}, "walArchive", "rpo", `(?s)Duration Too Short`},
		{[]string{"agentPath", "bin/lifeboat"}, "walArchive", "agentPath", `(?s)Relative Path`},
	}
	for _, c := range invalid {
		set(c.config...)
		var out output
		_, err := stack.Preview(ctx, optpreview.ProgressStreams(&out, &cli), optpreview.ErrorProgressStreams(&out, &cli))
		require.Error(t, err, "%v must be refused", c.config)
		text := out.String() + "\n" + err.Error()
		assert.Regexp(t, regexp.MustCompile(c.message), text, "%v", c.config)
		assert.Contains(t, text, "resource '"+c.resource+"': property "+c.property+" value", "the failure names the Pulumi property")
		set("bucketName", name2, "retentionMode", "GOVERNANCE", "retentionDays", "1", "walExpirationDays", "30",
			"rpo", "2m", "agentPath", agent)
	}

	// The DSN's password is a secret: marked so in the state, and encrypted
	// wherever the CLI stores state or config.
	// NOTE: Export runs `pulumi stack export --show-secrets`, so its secrets
	// are decrypted; the files behind it are not.
	dep, err := stack.Export(ctx)
	require.NoError(t, err)
	assert.Regexp(t, `"dsn":\s*\{\s*"4dabf18193072939515e22adb298388d":\s*"1b47061264138c4ac30d75fd1eb44270"`, string(dep.Deployment),
		"postgres.dsn is a secret in the state")
	vars := stack.Workspace().GetEnvVars()
	// The backend holds the state (and its backups), the work folder the
	// stack's config.
	requireNotInFiles(t, strings.TrimPrefix(vars["PULUMI_BACKEND_URL"], "file://"), pg.Password, "lifeboat:index:WalArchive")
	requireNotInFiles(t, stack.Workspace().WorkDir(), pg.Password, "pgDsn")

	// Destroy: the archive pauses (archive_command fails on purpose, so
	// PostgreSQL keeps the WAL) and the bucket goes.
	dres, err := stack.Destroy(ctx, optdestroy.ProgressStreams(&out, &cli))
	require.NoError(t, err, out.String())
	assert.Equal(t, 3, changes(dres.Summary)["delete"], "destroy the archive, the bucket and the stack: %v", changes(dres.Summary))
	requireGone(t, store, name2)
	assert.True(t, strings.HasPrefix(show("archive_command"), "/bin/false"), "destroy with onDestroy pause: %q", show("archive_command"))
	assert.NotContains(t, cli.String(), pg.Password, "the CLI printed the PostgreSQL password")
}

// requireNotInFiles fails when a file under dir holds secret in plain text,
// or when none holds marker (so the check cannot pass on the wrong folder).
func requireNotInFiles(t *testing.T, dir, secret, marker string) {
	t.Helper()
	require.NotEmpty(t, dir)
	marked := false
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		marked = marked || strings.Contains(string(b), marker)
		assert.NotContains(t, string(b), secret, "%s holds a secret in plain text", path)
		return nil
	}))
	assert.True(t, marked, "no file under %s mentions %s", dir, marker)
}

func requireGone(t *testing.T, c *objectstore.Client, name string) {
	t.Helper()
	_, err := c.ReadBucket(context.Background(), name)
	require.True(t, errors.Is(err, objectstore.ErrBucketNotFound), "bucket %s should be gone, got %v", name, err)
}
