// Package pulumitest runs Lifeboat Pulumi programs with the real Pulumi CLI
// against the test harness's services: it builds the plugin, sets up a file
// backend, and drives one immutable-bucket life cycle that the YAML example
// and the Go example share.
package pulumitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
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

// BucketLifecycle drives a stack whose program declares one
// lifeboat:index:ImmutableBucket "backups" from the config keys bucketName,
// retentionMode, retentionDays, walExpirationDays and environment (the tags'
// "environment"), as examples/pulumi/yaml and examples/pulumi/go do. It
// creates the bucket, refreshes (no changes), updates the tags in place,
// renames it (a replacement), checks that invalid inputs fail as check
// failures with Terraform's messages, and destroys it, checking MinIO after
// each step.
func BucketLifecycle(t *testing.T, stack auto.Stack) {
	ctx := context.Background()
	store, err := objectstore.NewClient(ctx, objectstore.Config{})
	require.NoError(t, err)
	name1, name2 := RandomName("lb-pulumi"), RandomName("lb-pulumi")
	set := func(kv ...string) {
		t.Helper()
		for i := 0; i < len(kv); i += 2 {
			require.NoError(t, stack.SetConfig(ctx, kv[i], auto.ConfigValue{Value: kv[i+1]}))
		}
	}
	t.Cleanup(func() {
		// Leave nothing behind when a step fails.
		_, _ = stack.Destroy(ctx)
	})
	up := func(step string) auto.UpResult {
		t.Helper()
		var out output
		res, err := stack.Up(ctx, optup.ProgressStreams(&out), optup.ErrorProgressStreams(&out))
		require.NoError(t, err, "%s: pulumi up failed:\n%s", step, out.String())
		return res
	}
	changes := func(s auto.UpdateSummary) map[string]int {
		if s.ResourceChanges == nil {
			return nil
		}
		return *s.ResourceChanges
	}

	// Create.
	set("bucketName", name1, "retentionMode", "GOVERNANCE", "retentionDays", "1",
		"walExpirationDays", "30", "environment", "test")
	res := up("create")
	// NOTE: counts include the pulumi:pulumi:Stack resource.
	assert.Equal(t, 2, changes(res.Summary)["create"], "create the stack and the bucket: %v", changes(res.Summary))
	assert.Equal(t, name1, res.Outputs["bucket"].Value, "the resource ID is the bucket name")
	assert.Equal(t, "Enabled", res.Outputs["versioning"].Value)
	st, err := store.ReadBucket(ctx, name1)
	require.NoError(t, err)
	assert.True(t, st.ObjectLockEnabled)
	assert.Equal(t, "Enabled", st.Versioning)
	require.NotNil(t, st.Spec.Retention)
	assert.Equal(t, "GOVERNANCE", st.Spec.Retention.Mode)
	assert.EqualValues(t, 1, st.Spec.Retention.Days)
	assert.Len(t, st.Spec.Lifecycle, 2)
	assert.Equal(t, "test", st.Spec.Tags["environment"])

	// Refresh finds nothing changed, and a preview after it plans nothing.
	var out output
	ref, err := stack.Refresh(ctx, optrefresh.ProgressStreams(&out))
	require.NoError(t, err, out.String())
	for op, n := range changes(ref.Summary) {
		assert.True(t, op == "same" || n == 0, "refresh changed something: %v\n%s", changes(ref.Summary), out.String())
	}
	prev, err := stack.Preview(ctx, optpreview.ExpectNoChanges(), optpreview.ProgressStreams(&out))
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

	// Replace: the name is immutable.
	set("bucketName", name2)
	res = up("rename")
	assert.Equal(t, 1, changes(res.Summary)["replace"], "a new name replaces the bucket: %v", changes(res.Summary))
	assert.Equal(t, name2, res.Outputs["bucket"].Value)
	_, err = store.ReadBucket(ctx, name2)
	require.NoError(t, err)
	requireGone(t, store, name1)

	// What Terraform refuses at plan, Pulumi refuses as check failures naming
	// the property, with the same messages (immutable_bucket_resource_test.go
	// expects these in Terraform's output).
	invalid := []struct {
		config   []string
		property string
		message  string
	}{
		{[]string{"retentionMode", "WORM"}, "retention.mode", `(?s)retention.mode.*GOVERNANCE.*COMPLIANCE`},
		{[]string{"bucketName", "Not_A_Bucket"}, "name", `(?s)Invalid Bucket Name.*lower-case`},
		{[]string{"retentionDays", "30", "walExpirationDays", "7"}, "lifecycleTier",
			`(?s)Lifecycle Expiration Shorter Than Retention.*noncurrent_version_expiration_days = 7 is shorter than\s+retention.days\s+=\s+30`},
	}
	for _, c := range invalid {
		set(c.config...)
		var out output
		_, err := stack.Preview(ctx, optpreview.ProgressStreams(&out), optpreview.ErrorProgressStreams(&out))
		require.Error(t, err, "%v must be refused", c.config)
		text := out.String() + "\n" + err.Error()
		assert.Regexp(t, regexp.MustCompile(c.message), text, "%v", c.config)
		assert.Contains(t, text, "resource 'backups': property "+c.property+" value", "the failure names the Pulumi property")
		set("bucketName", name2, "retentionMode", "GOVERNANCE", "retentionDays", "1", "walExpirationDays", "30")
	}

	// Destroy.
	dres, err := stack.Destroy(ctx, optdestroy.ProgressStreams(&out))
	require.NoError(t, err, out.String())
	assert.Equal(t, 2, changes(dres.Summary)["delete"], "destroy the bucket and the stack: %v", changes(dres.Summary))
	requireGone(t, store, name2)
}

func requireGone(t *testing.T, c *objectstore.Client, name string) {
	t.Helper()
	_, err := c.ReadBucket(context.Background(), name)
	require.True(t, errors.Is(err, objectstore.ErrBucketNotFound), "bucket %s should be gone, got %v", name, err)
}
