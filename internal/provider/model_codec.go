package provider

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// getModel decodes raw, a resource's whole configuration, plan or state of
// type typ, into the model struct dst points to, as tfsdk's Get does, and
// putModel is Set's counterpart. They exist for the resources a plan meets
// hundreds of times (a drill schedule per tenant): the framework's struct
// reflection compiles a regular expression for every field of every struct
// it converts (terraform-plugin-framework issue 725), which was a tenth of
// the provider's CPU on a 100-tenant plan and much of its garbage. Fields
// are found by their tfsdk tags once per Go type.
//
// Supported field types are those the models use: attr.Value
// implementations (types.String, types.List, timeouts.Value...), pointers
// to structs (single nested blocks: nil when null) and slices of structs
// (list nested blocks: nil when null, empty when empty). Like the
// framework, an unknown block is an error: callers that may meet one check
// first.
func getModel(ctx context.Context, typ attr.Type, raw tftypes.Value, dst any) diag.Diagnostics {
	var diags diag.Diagnostics
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		diags.AddError("Value Conversion Error", fmt.Sprintf("getModel needs a pointer to a struct, got %T. This is a bug in the provider.", dst))
		return diags
	}
	if err := decodeStruct(ctx, typ, raw, v.Elem(), ""); err != nil {
		diags.AddError("Value Conversion Error",
			"An unexpected error was encountered trying to build a value. This is always an error in the provider. Please report the following to the provider developer:\n\n"+err.Error())
	}
	return diags
}

// putModel encodes the model struct src points to as a value of type typ.
func putModel(ctx context.Context, typ attr.Type, src any) (tftypes.Value, diag.Diagnostics) {
	var diags diag.Diagnostics
	v := reflect.ValueOf(src)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	out, err := encodeStruct(ctx, typ, v, "")
	if err != nil {
		diags.AddError("Value Conversion Error",
			"An unexpected error was encountered trying to convert into a Terraform value. This is always an error in the provider. Please report the following to the provider developer:\n\n"+err.Error())
	}
	return out, diags
}

// modelFields maps each tfsdk tag of a struct type to its field index.
var modelFields sync.Map // reflect.Type -> map[string]int

func fieldsOf(t reflect.Type) map[string]int {
	if f, ok := modelFields.Load(t); ok {
		return f.(map[string]int)
	}
	f := map[string]int{}
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("tfsdk"); tag != "" && tag != "-" {
			f[tag] = i
		}
	}
	modelFields.Store(t, f)
	return f
}

var attrValueType = reflect.TypeFor[attr.Value]()

func attrTypesOf(typ attr.Type, at string) (map[string]attr.Type, error) {
	o, ok := typ.(attr.TypeWithAttributeTypes)
	if !ok {
		return nil, fmt.Errorf("%s: a struct needs an object type, the schema has %T", at, typ)
	}
	return o.AttributeTypes(), nil
}

func decodeStruct(ctx context.Context, typ attr.Type, raw tftypes.Value, dst reflect.Value, at string) error {
	types, err := attrTypesOf(typ, at)
	if err != nil {
		return err
	}
	var vals map[string]tftypes.Value
	if err := raw.As(&vals); err != nil {
		return fmt.Errorf("%s: %w", at, err)
	}
	fields := fieldsOf(dst.Type())
	if len(fields) != len(types) {
		return fmt.Errorf("%s: the struct %s has %d fields, the object %d attributes", at, dst.Type(), len(fields), len(types))
	}
	for name, i := range fields {
		t, ok := types[name]
		if !ok {
			return fmt.Errorf("%s: the object has no attribute %q of struct %s", at, name, dst.Type())
		}
		if err := decodeValue(ctx, t, vals[name], dst.Field(i), join(at, name)); err != nil {
			return err
		}
	}
	return nil
}

func decodeValue(ctx context.Context, typ attr.Type, raw tftypes.Value, dst reflect.Value, at string) error {
	switch {
	case dst.Type().Implements(attrValueType):
		v, err := typ.ValueFromTerraform(ctx, raw)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		rv := reflect.ValueOf(v)
		if !rv.Type().AssignableTo(dst.Type()) {
			return fmt.Errorf("%s: a %s cannot hold the schema's %T", at, dst.Type(), v)
		}
		dst.Set(rv)
		return nil
	case dst.Kind() == reflect.Pointer && dst.Type().Elem().Kind() == reflect.Struct:
		if !raw.IsKnown() {
			return fmt.Errorf("%s: unknown value, which a %s cannot hold", at, dst.Type())
		}
		if raw.IsNull() {
			dst.Set(reflect.Zero(dst.Type()))
			return nil
		}
		p := reflect.New(dst.Type().Elem())
		if err := decodeStruct(ctx, typ, raw, p.Elem(), at); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	case dst.Kind() == reflect.Slice && dst.Type().Elem().Kind() == reflect.Struct:
		if !raw.IsKnown() {
			return fmt.Errorf("%s: unknown value, which a %s cannot hold", at, dst.Type())
		}
		if raw.IsNull() {
			dst.Set(reflect.Zero(dst.Type()))
			return nil
		}
		lt, ok := typ.(attr.TypeWithElementType)
		if !ok {
			return fmt.Errorf("%s: a slice needs a list type, the schema has %T", at, typ)
		}
		var elems []tftypes.Value
		if err := raw.As(&elems); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		s := reflect.MakeSlice(dst.Type(), len(elems), len(elems))
		for i, e := range elems {
			if err := decodeStruct(ctx, lt.ElementType(), e, s.Index(i), fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		dst.Set(s)
		return nil
	}
	return fmt.Errorf("%s: unsupported model field type %s", at, dst.Type())
}

func encodeStruct(ctx context.Context, typ attr.Type, src reflect.Value, at string) (tftypes.Value, error) {
	types, err := attrTypesOf(typ, at)
	if err != nil {
		return tftypes.Value{}, err
	}
	fields := fieldsOf(src.Type())
	if len(fields) != len(types) {
		return tftypes.Value{}, fmt.Errorf("%s: the struct %s has %d fields, the object %d attributes", at, src.Type(), len(fields), len(types))
	}
	vals := make(map[string]tftypes.Value, len(fields))
	for name, i := range fields {
		t, ok := types[name]
		if !ok {
			return tftypes.Value{}, fmt.Errorf("%s: the object has no attribute %q of struct %s", at, name, src.Type())
		}
		v, err := encodeValue(ctx, t, src.Field(i), join(at, name))
		if err != nil {
			return tftypes.Value{}, err
		}
		vals[name] = v
	}
	return tftypes.NewValue(typ.TerraformType(ctx), vals), nil
}

func encodeValue(ctx context.Context, typ attr.Type, src reflect.Value, at string) (tftypes.Value, error) {
	switch {
	case src.Type().Implements(attrValueType):
		v, ok := src.Interface().(attr.Value)
		if !ok || (src.Kind() == reflect.Pointer && src.IsNil()) {
			return tftypes.Value{}, fmt.Errorf("%s: no value", at)
		}
		return v.ToTerraformValue(ctx)
	case src.Kind() == reflect.Pointer && src.Type().Elem().Kind() == reflect.Struct:
		if src.IsNil() {
			return tftypes.NewValue(typ.TerraformType(ctx), nil), nil
		}
		return encodeStruct(ctx, typ, src.Elem(), at)
	case src.Kind() == reflect.Slice && src.Type().Elem().Kind() == reflect.Struct:
		if src.IsNil() {
			return tftypes.NewValue(typ.TerraformType(ctx), nil), nil
		}
		lt, ok := typ.(attr.TypeWithElementType)
		if !ok {
			return tftypes.Value{}, fmt.Errorf("%s: a slice needs a list type, the schema has %T", at, typ)
		}
		elems := make([]tftypes.Value, src.Len())
		for i := range elems {
			v, err := encodeStruct(ctx, lt.ElementType(), src.Index(i), fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return tftypes.Value{}, err
			}
			elems[i] = v
		}
		return tftypes.NewValue(typ.TerraformType(ctx), elems), nil
	}
	return tftypes.Value{}, fmt.Errorf("%s: unsupported model field type %s", at, src.Type())
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return strings.Join([]string{at, name}, ".")
}
