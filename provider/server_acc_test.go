package provider

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/provider/pulumitest"
)

// TestServerLifecycleAgainstMinIO calls the RPCs the engine calls, in
// process, against MinIO: create, refresh, import, update, delete.
func TestServerLifecycleAgainstMinIO(t *testing.T) {
	testenv.Require(t)
	ctx := context.Background()
	s := newTestServer(t) // configured with empty config: the harness's env applies
	store, err := objectstore.NewClient(ctx, objectstore.Config{})
	require.NoError(t, err)
	name := pulumitest.RandomName("lb-rpc")
	urn := "urn:pulumi:dev::p::" + bucketToken + "::b"
	inputs := bucketInputs(name, "GOVERNANCE", 1, 30)
	inputs["tags"] = resource.NewObjectProperty(resource.PropertyMap{"env": resource.NewStringProperty("test")})

	created, err := s.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Type: bucketToken, Properties: mustStruct(t, inputs)})
	require.NoError(t, err)
	assert.Equal(t, name, created.Id)
	t.Cleanup(func() { _ = store.DestroyBucket(ctx, name, true) })
	outs, err := unmarshal(created.Properties)
	require.NoError(t, err)
	assert.Equal(t, "Enabled", outs["versioning"].StringValue())

	// Refresh: the same outputs come back.
	read, err := s.Read(ctx, &pulumirpc.ReadRequest{Id: name, Urn: urn, Type: bucketToken,
		Properties: created.Properties, Inputs: mustStruct(t, inputs)})
	require.NoError(t, err)
	refreshed, err := unmarshal(read.Properties)
	require.NoError(t, err)
	assert.True(t, outs.DeepEquals(refreshed), "refresh changed outputs:\n%v\n%v", outs, refreshed)
	readInputs, err := unmarshal(read.Inputs)
	require.NoError(t, err)
	assert.Equal(t, inputs.Mappable(), readInputs.Mappable(), "refresh keeps the inputs the program set")

	// Import: only the ID is known.
	imported, err := s.Read(ctx, &pulumirpc.ReadRequest{Id: name, Urn: urn, Type: bucketToken})
	require.NoError(t, err)
	assert.Equal(t, name, imported.Id)
	importedOuts, err := unmarshal(imported.Properties)
	require.NoError(t, err)
	assert.Equal(t, "test", importedOuts["tags"].ObjectValue()["env"].StringValue())
	assert.Equal(t, 1.0, importedOuts["retention"].ObjectValue()["days"].NumberValue())
	importedInputs, err := unmarshal(imported.Inputs)
	require.NoError(t, err)
	assert.Equal(t, name, importedInputs["name"].StringValue())
	assert.NotContains(t, importedInputs, resource.PropertyKey("versioning"), "computed-only attributes are not inputs")

	// Update in place.
	news := inputs.Copy()
	news["tags"] = resource.NewObjectProperty(resource.PropertyMap{"env": resource.NewStringProperty("prod")})
	_, err = s.Update(ctx, &pulumirpc.UpdateRequest{Id: name, Urn: urn, Type: bucketToken,
		Olds: created.Properties, News: mustStruct(t, news)})
	require.NoError(t, err)
	st, err := store.ReadBucket(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "prod", st.Spec.Tags["env"])

	// Gone outside Pulumi: Read reports it deleted (empty ID).
	_, err = s.Delete(ctx, &pulumirpc.DeleteRequest{Id: name, Urn: urn, Type: bucketToken, Properties: created.Properties})
	require.NoError(t, err)
	_, err = store.ReadBucket(ctx, name)
	require.ErrorIs(t, err, objectstore.ErrBucketNotFound)
	gone, err := s.Read(ctx, &pulumirpc.ReadRequest{Id: name, Urn: urn, Type: bucketToken, Properties: created.Properties})
	require.NoError(t, err)
	assert.Empty(t, gone.Id, "a bucket removed out of band reads as deleted")
}
