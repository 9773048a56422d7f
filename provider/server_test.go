package provider

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"

	tfprovider "github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
)

const bucketToken = "lifeboat:index:ImmutableBucket"

// newTestServer serves the real Terraform provider. Nothing here reaches a
// store: validation and planning of lifeboat_immutable_bucket are offline.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := NewServer(context.Background(), "lifeboat", "0.0.1-test", nil, tfprovider.New("test"))
	require.NoError(t, err)
	_, err = s.Configure(context.Background(), &pulumirpc.ConfigureRequest{Args: mustStruct(t, resource.PropertyMap{})})
	require.NoError(t, err)
	return s
}

func mustStruct(t *testing.T, pm resource.PropertyMap) *structpb.Struct {
	t.Helper()
	st, err := marshal(pm)
	require.NoError(t, err)
	return st
}

func bucketInputs(name, mode string, days int, tierExpiration int) resource.PropertyMap {
	in := map[string]any{
		"name":      name,
		"retention": map[string]any{"mode": mode, "days": days},
	}
	if tierExpiration != 0 {
		in["lifecycleTier"] = []any{map[string]any{"name": "wal", "prefix": "wal/", "expirationDays": tierExpiration}}
	}
	return resource.NewPropertyMapFromMap(in)
}

func TestSchemaIsDerivedFromTerraform(t *testing.T) {
	s := newTestServer(t)
	var spec struct {
		Name      string
		Resources map[string]struct {
			InputProperties map[string]map[string]any
			Properties      map[string]map[string]any
			RequiredInputs  []string
		}
		Types    map[string]map[string]any
		Config   struct{ Variables map[string]map[string]any }
		Language struct {
			Go struct{ ImportBasePath string }
		}
	}
	require.NoError(t, json.Unmarshal(s.Schema(), &spec))
	assert.Equal(t, "lifeboat", spec.Name)
	assert.Equal(t, GoImportBasePath, spec.Language.Go.ImportBasePath)
	b, ok := spec.Resources[bucketToken]
	require.True(t, ok, "lifeboat_immutable_bucket becomes %s", bucketToken)
	assert.Contains(t, b.InputProperties, "forceDestroy")
	assert.Contains(t, b.InputProperties, "lifecycleTier")
	assert.NotContains(t, b.InputProperties, "versioning", "computed-only attributes are outputs only")
	assert.Contains(t, b.Properties, "versioning")
	assert.NotContains(t, b.Properties, "id", "the id is the Pulumi resource ID")
	assert.NotContains(t, b.Properties, "timeouts")
	assert.Equal(t, []string{"name"}, b.RequiredInputs)
	assert.Contains(t, b.Properties["name"]["description"], "S3 naming rules", "descriptions are carried over")
	assert.Equal(t, "#/types/lifeboat:index:ImmutableBucketRetention", b.Properties["retention"]["$ref"])
	assert.Contains(t, spec.Types, "lifeboat:index:ImmutableBucketLifecycleTierTransition")
	assert.Equal(t, "integer", spec.Types["lifeboat:index:ImmutableBucketRetention"]["properties"].(map[string]any)["days"].(map[string]any)["type"])
	assert.Equal(t, true, spec.Config.Variables["secretKey"]["secret"], "sensitive provider settings are secret config")
	assert.Contains(t, spec.Config.Variables, "endpoint")
}

// TestCheckFailuresMatchTerraform feeds Pulumi the invalid inputs the
// Terraform acceptance test feeds Terraform (immutable_bucket_resource_test.go)
// and expects the same messages, as check failures naming the property.
func TestCheckFailuresMatchTerraform(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	cases := []struct {
		name     string
		inputs   resource.PropertyMap
		property string
		reason   string
	}{
		{"bad name", bucketInputs("Not_A_Bucket", "GOVERNANCE", 1, 0), "name", `(?s)Invalid Bucket Name.*lower-case`},
		{"short name", bucketInputs("ab", "GOVERNANCE", 1, 0), "name", `(?s)Invalid Bucket Name.*3-63`},
		{"ip name", bucketInputs("192.168.10.1", "GOVERNANCE", 1, 0), "name", `IP address`},
		{"WORM", bucketInputs("lb-ok", "WORM", 1, 0), "retention.mode", `(?s)retention.mode.*GOVERNANCE.*COMPLIANCE`},
		{"zero days", bucketInputs("lb-ok", "GOVERNANCE", 0, 0), "retention.days", `(?s)retention.days.*between 1 and`},
		{"expiration shorter than retention", bucketInputs("lb-ok", "GOVERNANCE", 30, 7), "lifecycleTier",
			`(?s)Lifecycle Expiration Shorter Than Retention.*expiration_days = 7 is shorter than\s+retention.days\s+=\s+30`},
		{"negative expiration", bucketInputs("lb-ok", "GOVERNANCE", 1, -3), "lifecycleTier", `(?s)expiration_days.*at least 1`},
		{"no retention", resource.NewPropertyMapFromMap(map[string]any{"name": "lb-ok"}), "retention", `(?s)retention.*(required|must be configured)`},
		{"unknown property", resource.NewPropertyMapFromMap(map[string]any{"name": "lb-ok", "nmae": "x"}), "nmae", `unknown property`},
		{"wrong type", resource.NewPropertyMapFromMap(map[string]any{"name": "lb-ok", "retention": map[string]any{"mode": "GOVERNANCE", "days": "seven"}}), "retention.days", `expected a number`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := s.Check(ctx, &pulumirpc.CheckRequest{Urn: "urn:pulumi:dev::p::" + bucketToken + "::b", Type: bucketToken,
				News: mustStruct(t, c.inputs)})
			require.NoError(t, err)
			require.NotEmpty(t, resp.Failures, "Pulumi must refuse what Terraform refuses")
			var props []string
			matched := false
			for _, f := range resp.Failures {
				props = append(props, f.Property)
				if f.Property == c.property && regexp.MustCompile(c.reason).MatchString(f.Reason) {
					matched = true
				}
			}
			assert.True(t, matched, "want a failure at %q matching %s; got %v: %v", c.property, c.reason, props, resp.Failures)
		})
	}

	t.Run("valid", func(t *testing.T) {
		resp, err := s.Check(ctx, &pulumirpc.CheckRequest{Type: bucketToken, News: mustStruct(t, bucketInputs("lb-ok", "GOVERNANCE", 1, 30))})
		require.NoError(t, err)
		assert.Empty(t, resp.Failures)
	})

	// A plan-time rule that needs the prior state (ModifyPlan) is a check
	// failure too, when the engine sends the old outputs.
	t.Run("COMPLIANCE cannot be weakened", func(t *testing.T) {
		olds := bucketInputs("lb-ok", "COMPLIANCE", 2, 0)
		olds["versioning"] = resource.NewStringProperty("Enabled")
		olds["forceDestroy"] = resource.NewBoolProperty(false)
		resp, err := s.Check(ctx, &pulumirpc.CheckRequest{Type: bucketToken,
			OldOutputs: mustStruct(t, olds), News: mustStruct(t, bucketInputs("lb-ok", "GOVERNANCE", 2, 0))})
		require.NoError(t, err)
		require.Len(t, resp.Failures, 1)
		assert.Equal(t, "retention.mode", resp.Failures[0].Property)
		assert.Regexp(t, `(?s)COMPLIANCE Retention Cannot Be Weakened.*retention.mode`, resp.Failures[0].Reason)
	})
}

func TestDiffFromTheTerraformPlan(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	olds := bucketInputs("lb-one", "GOVERNANCE", 1, 0)
	olds["versioning"] = resource.NewStringProperty("Enabled")
	olds["forceDestroy"] = resource.NewBoolProperty(false)
	olds["tags"] = resource.NewObjectProperty(resource.PropertyMap{"env": resource.NewStringProperty("test")})
	diff := func(news resource.PropertyMap) *pulumirpc.DiffResponse {
		t.Helper()
		resp, err := s.Diff(ctx, &pulumirpc.DiffRequest{Id: "lb-one", Type: bucketToken, Olds: mustStruct(t, olds), News: mustStruct(t, news)})
		require.NoError(t, err)
		return resp
	}

	same := bucketInputs("lb-one", "GOVERNANCE", 1, 0)
	same["tags"] = olds["tags"]
	resp := diff(same)
	assert.Equal(t, pulumirpc.DiffResponse_DIFF_NONE, resp.Changes, "%v", resp.DetailedDiff)

	tags := bucketInputs("lb-one", "GOVERNANCE", 1, 0)
	tags["tags"] = resource.NewObjectProperty(resource.PropertyMap{"env": resource.NewStringProperty("prod")})
	resp = diff(tags)
	assert.Equal(t, pulumirpc.DiffResponse_DIFF_SOME, resp.Changes)
	assert.Empty(t, resp.Replaces, "tags change in place")
	assert.Equal(t, pulumirpc.PropertyDiff_UPDATE, resp.DetailedDiff["tags"].GetKind())

	renamed := bucketInputs("lb-two", "GOVERNANCE", 1, 0)
	renamed["tags"] = olds["tags"]
	resp = diff(renamed)
	assert.Equal(t, []string{"name"}, resp.Replaces, "RequiresReplace on name replaces")
	assert.Equal(t, pulumirpc.PropertyDiff_UPDATE_REPLACE, resp.DetailedDiff["name"].GetKind())

	// Preview with an input not known yet: the plan still works.
	unknown := bucketInputs("lb-one", "GOVERNANCE", 1, 0)
	unknown["tags"] = resource.MakeComputed(resource.NewObjectProperty(resource.PropertyMap{}))
	resp = diff(unknown)
	assert.Equal(t, pulumirpc.DiffResponse_DIFF_SOME, resp.Changes)
	assert.Empty(t, resp.Replaces)
}

func TestCreatePreviewReturnsPlannedValues(t *testing.T) {
	s := newTestServer(t)
	resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Type: bucketToken, Preview: true,
		Properties: mustStruct(t, bucketInputs("lb-preview", "GOVERNANCE", 1, 0))})
	require.NoError(t, err)
	outs, err := unmarshal(resp.Properties)
	require.NoError(t, err)
	assert.Equal(t, "lb-preview", outs["name"].StringValue())
	assert.Equal(t, "Enabled", outs["versioning"].StringValue(), "planned by ModifyPlan")
	assert.Equal(t, false, outs["forceDestroy"].BoolValue(), "the schema default applies")
}
