package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// TestTenantDatabasesStaySetOfString: the policy's tenant_databases is a
// set of strings to Terraform (state and configurations unchanged) while
// its framework type answers semantic equality itself, so a Read does not
// compare every element with every other.
func TestTenantDatabasesStaySetOfString(t *testing.T) {
	ctx := context.Background()
	var resp resource.SchemaResponse
	(&backupPolicyResource{}).Schema(ctx, resource.SchemaRequest{}, &resp)
	a, ok := resp.Schema.Attributes["tenant_databases"]
	if !ok {
		t.Fatal("no tenant_databases")
	}
	want := tftypes.Set{ElementType: tftypes.String}
	if got := a.GetType().TerraformType(ctx); !got.Equal(want) {
		t.Fatalf("tenant_databases is %s to Terraform, want %s", got, want)
	}
	raw := tftypes.NewValue(want, []tftypes.Value{tftypes.NewValue(tftypes.String, "acme"), tftypes.NewValue(tftypes.String, "globex")})
	v, err := a.GetType().ValueFromTerraform(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := v.(basetypes.SetValuableWithSemanticEquals)
	if !ok {
		t.Fatalf("tenant_databases' value %T has no semantic equality of its own: the framework compares its elements pairwise", v)
	}
	if eq, _ := s.SetSemanticEquals(ctx, s); !eq {
		t.Fatal("an equal set must be semantically equal: the framework then skips comparing its elements pairwise")
	}
	other, err := a.GetType().ValueFromTerraform(ctx, tftypes.NewValue(want, []tftypes.Value{tftypes.NewValue(tftypes.String, "acme")}))
	if err != nil {
		t.Fatal(err)
	}
	if eq, _ := s.SetSemanticEquals(ctx, other.(basetypes.SetValuable)); eq {
		t.Fatal("a different set must not be semantically equal: the new value stands")
	}
	back, err := v.ToTerraformValue(ctx)
	if err != nil || !back.Equal(raw) {
		t.Fatalf("round trip: %v, %v", back, err)
	}
	if !v.Equal(v) || v.Equal(stringSetNull()) {
		t.Fatal("Equal")
	}
}
