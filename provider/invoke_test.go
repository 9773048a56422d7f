package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// TestInvokeFailuresNameTheProperty: an invoke's argument that does not fit
// the data source's schema, or that Terraform's validation refuses, comes
// back as a failure naming the Pulumi property, never as a read.
func TestInvokeFailuresNameTheProperty(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		args     map[string]any
		property string
	}{
		{map[string]any{"role": "writer", "bucket": "b", "nope": 1}, "nope"},
		{map[string]any{"role": "janitor", "bucket": "b"}, "role"},
	} {
		args, err := structpb.NewStruct(tc.args)
		require.NoError(t, err)
		resp, err := s.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "lifeboat:index:getAccessPolicy", Args: args})
		require.NoError(t, err)
		require.NotEmpty(t, resp.GetFailures(), "args %v", tc.args)
		require.Equal(t, tc.property, resp.GetFailures()[0].GetProperty(), "%v", resp.GetFailures())
		require.Nil(t, resp.GetReturn())
	}
	_, err := s.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "lifeboat:index:getNothing"})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "unknown function"), err.Error())
}
