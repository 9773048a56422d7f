package provider

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"

	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// privateKey is the hidden output property that carries the Terraform
// provider's private state between calls. Keys starting with "__" are
// internal to Pulumi: not shown in diffs, not part of the SDK.
const privateKey = "__tfPrivate"

// valueMode says which Terraform value a Pulumi property map becomes.
type valueMode int

const (
	// modeConfig builds a configuration: provider-computed attributes are null.
	modeConfig valueMode = iota
	// modeState builds a prior state from Pulumi outputs.
	modeState
)

// pathError is a translation error at a Pulumi property path.
type pathError struct {
	path string
	msg  string
}

func (e *pathError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

// toTFObject converts a property map into a Terraform object of o. Fields the
// map lacks are null (empty collections for list, set and map blocks).
func toTFObject(pm resource.PropertyMap, o *object, t tftypes.Type, mode valueMode, path string) (tftypes.Value, error) {
	vals := make(map[string]tftypes.Value, len(o.fields))
	for _, f := range o.fields {
		fp := childPath(path, f.pulumi)
		pv, ok := pm[resource.PropertyKey(f.pulumi)]
		if f.hidden || !ok || (mode == modeConfig && f.computedOnly()) {
			pv = resource.NewNullProperty()
		}
		v, err := toTF(pv, f.shape, mode, fp)
		if err != nil {
			return tftypes.Value{}, err
		}
		if f.block && v.IsNull() && f.shape.kind != kindObject {
			v = tftypes.NewValue(f.shape.tfType, emptyCollection(f.shape.kind))
		}
		vals[f.tf] = v
	}
	return tftypes.NewValue(t, vals), nil
}

func emptyCollection(k kind) any {
	if k == kindMap {
		return map[string]tftypes.Value{}
	}
	return []tftypes.Value{}
}

// toTF converts one Pulumi property value into a Terraform value of shape s.
// Secrets are unwrapped (sensitivity is the schema's business on the way
// back); computed values become unknown.
func toTF(pv resource.PropertyValue, s *shape, mode valueMode, path string) (tftypes.Value, error) {
	for pv.IsSecret() {
		pv = pv.SecretValue().Element
	}
	if pv.IsOutput() {
		o := pv.OutputValue()
		if !o.Known {
			return tftypes.NewValue(s.tfType, tftypes.UnknownValue), nil
		}
		pv = o.Element
	}
	if pv.IsComputed() {
		return tftypes.NewValue(s.tfType, tftypes.UnknownValue), nil
	}
	if pv.IsNull() {
		return tftypes.NewValue(s.tfType, nil), nil
	}
	switch s.kind {
	case kindString:
		switch {
		case pv.IsString():
			return tftypes.NewValue(s.tfType, pv.StringValue()), nil
		case pv.IsNumber():
			return tftypes.NewValue(s.tfType, strconv.FormatFloat(pv.NumberValue(), 'f', -1, 64)), nil
		case pv.IsBool():
			return tftypes.NewValue(s.tfType, strconv.FormatBool(pv.BoolValue())), nil
		}
	case kindNumber:
		switch {
		case pv.IsNumber():
			return tftypes.NewValue(s.tfType, big.NewFloat(pv.NumberValue())), nil
		case pv.IsString(): // configuration variables arrive as strings
			f, _, err := big.ParseFloat(pv.StringValue(), 10, 512, big.ToNearestEven)
			if err != nil {
				return tftypes.Value{}, &pathError{path, fmt.Sprintf("expected a number, got %q", pv.StringValue())}
			}
			return tftypes.NewValue(s.tfType, f), nil
		}
	case kindBool:
		switch {
		case pv.IsBool():
			return tftypes.NewValue(s.tfType, pv.BoolValue()), nil
		case pv.IsString():
			b, err := strconv.ParseBool(pv.StringValue())
			if err != nil {
				return tftypes.Value{}, &pathError{path, fmt.Sprintf("expected a boolean, got %q", pv.StringValue())}
			}
			return tftypes.NewValue(s.tfType, b), nil
		}
	case kindList, kindSet:
		if pv.IsArray() {
			elems := make([]tftypes.Value, 0, len(pv.ArrayValue()))
			for i, e := range pv.ArrayValue() {
				v, err := toTF(e, s.elem, mode, fmt.Sprintf("%s[%d]", path, i))
				if err != nil {
					return tftypes.Value{}, err
				}
				elems = append(elems, v)
			}
			return tftypes.NewValue(s.tfType, elems), nil
		}
	case kindMap:
		if pv.IsObject() {
			elems := map[string]tftypes.Value{}
			for k, e := range pv.ObjectValue() {
				v, err := toTF(e, s.elem, mode, childPath(path, string(k)))
				if err != nil {
					return tftypes.Value{}, err
				}
				elems[string(k)] = v
			}
			return tftypes.NewValue(s.tfType, elems), nil
		}
	case kindObject:
		if pv.IsObject() {
			if err := unknownKeys(pv.ObjectValue(), s.obj, path); err != nil {
				return tftypes.Value{}, err
			}
			return toTFObject(pv.ObjectValue(), s.obj, s.tfType, mode, path)
		}
	case kindDynamic:
		return dynamicToTF(pv, path)
	}
	return tftypes.Value{}, &pathError{path, fmt.Sprintf("expected %s, got %s", kindName(s), pv.TypeString())}
}

// unknownKeys reports the first property o does not declare.
func unknownKeys(pm resource.PropertyMap, o *object, path string) error {
	for _, k := range pm.StableKeys() {
		if resource.IsInternalPropertyKey(k) {
			continue
		}
		if f, ok := o.byPulumi[string(k)]; !ok || f.hidden {
			return &pathError{childPath(path, string(k)), "unknown property"}
		}
	}
	return nil
}

// dynamicToTF infers a Terraform type for a value of a dynamic attribute.
func dynamicToTF(pv resource.PropertyValue, path string) (tftypes.Value, error) {
	switch {
	case pv.IsNull():
		return tftypes.NewValue(tftypes.DynamicPseudoType, nil), nil
	case pv.IsComputed():
		return tftypes.NewValue(tftypes.DynamicPseudoType, tftypes.UnknownValue), nil
	case pv.IsSecret():
		return dynamicToTF(pv.SecretValue().Element, path)
	case pv.IsString():
		return tftypes.NewValue(tftypes.String, pv.StringValue()), nil
	case pv.IsNumber():
		return tftypes.NewValue(tftypes.Number, big.NewFloat(pv.NumberValue())), nil
	case pv.IsBool():
		return tftypes.NewValue(tftypes.Bool, pv.BoolValue()), nil
	case pv.IsArray():
		var types []tftypes.Type
		var vals []tftypes.Value
		for i, e := range pv.ArrayValue() {
			v, err := dynamicToTF(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return tftypes.Value{}, err
			}
			types, vals = append(types, v.Type()), append(vals, v)
		}
		return tftypes.NewValue(tftypes.Tuple{ElementTypes: types}, vals), nil
	case pv.IsObject():
		types := map[string]tftypes.Type{}
		vals := map[string]tftypes.Value{}
		for k, e := range pv.ObjectValue() {
			v, err := dynamicToTF(e, childPath(path, string(k)))
			if err != nil {
				return tftypes.Value{}, err
			}
			types[string(k)], vals[string(k)] = v.Type(), v
		}
		return tftypes.NewValue(tftypes.Object{AttributeTypes: types}, vals), nil
	}
	return tftypes.Value{}, &pathError{path, "unsupported value " + pv.TypeString()}
}

func kindName(s *shape) string {
	switch s.kind {
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindList, kindSet:
		return "an array"
	case kindMap, kindObject:
		return "an object"
	}
	return "a value"
}

// fromTFObject converts a Terraform object into Pulumi properties. Null
// attributes and empty block collections are left out; hidden fields too.
func fromTFObject(v tftypes.Value, o *object) (resource.PropertyMap, error) {
	pm := resource.PropertyMap{}
	if v.IsNull() || !v.IsKnown() {
		return pm, nil
	}
	var attrs map[string]tftypes.Value
	if err := v.As(&attrs); err != nil {
		return nil, err
	}
	for _, f := range o.fields {
		av, ok := attrs[f.tf]
		if !ok || f.hidden || av.IsNull() {
			continue
		}
		pv, err := fromTF(av, f.shape, f.sensitive)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.pulumi, err)
		}
		if f.block && pv.IsArray() && len(pv.ArrayValue()) == 0 {
			continue
		}
		pm[resource.PropertyKey(f.pulumi)] = pv
	}
	return pm, nil
}

// fromTF converts one Terraform value into a Pulumi property value; unknowns
// become computed values and sensitive values secrets.
func fromTF(v tftypes.Value, s *shape, sensitive bool) (resource.PropertyValue, error) {
	pv, err := fromTFPlain(v, s)
	if err != nil {
		return pv, err
	}
	if sensitive && !pv.IsNull() {
		pv = resource.MakeSecret(pv)
	}
	return pv, nil
}

func fromTFPlain(v tftypes.Value, s *shape) (resource.PropertyValue, error) {
	if !v.IsKnown() {
		return resource.MakeComputed(resource.NewStringProperty("")), nil
	}
	if v.IsNull() {
		return resource.NewNullProperty(), nil
	}
	if s.kind == kindDynamic {
		return dynamicFromTF(v)
	}
	switch s.kind {
	case kindString:
		var str string
		if err := v.As(&str); err != nil {
			return resource.PropertyValue{}, err
		}
		return resource.NewStringProperty(str), nil
	case kindNumber:
		var f big.Float
		if err := v.As(&f); err != nil {
			return resource.PropertyValue{}, err
		}
		n, _ := f.Float64()
		return resource.NewNumberProperty(n), nil
	case kindBool:
		var b bool
		if err := v.As(&b); err != nil {
			return resource.PropertyValue{}, err
		}
		return resource.NewBoolProperty(b), nil
	case kindList, kindSet:
		var elems []tftypes.Value
		if err := v.As(&elems); err != nil {
			return resource.PropertyValue{}, err
		}
		arr := make([]resource.PropertyValue, 0, len(elems))
		for _, e := range elems {
			pe, err := fromTF(e, s.elem, false)
			if err != nil {
				return resource.PropertyValue{}, err
			}
			arr = append(arr, pe)
		}
		if s.kind == kindSet {
			sortSet(arr)
		}
		return resource.NewArrayProperty(arr), nil
	case kindMap:
		var elems map[string]tftypes.Value
		if err := v.As(&elems); err != nil {
			return resource.PropertyValue{}, err
		}
		pm := resource.PropertyMap{}
		for k, e := range elems {
			pe, err := fromTF(e, s.elem, false)
			if err != nil {
				return resource.PropertyValue{}, err
			}
			pm[resource.PropertyKey(k)] = pe
		}
		return resource.NewObjectProperty(pm), nil
	case kindObject:
		pm, err := fromTFObject(v, s.obj)
		if err != nil {
			return resource.PropertyValue{}, err
		}
		return resource.NewObjectProperty(pm), nil
	}
	return resource.PropertyValue{}, fmt.Errorf("unsupported type %s", v.Type())
}

// sortSet orders set elements by their printed form: Terraform sets have no
// order, and a stable one keeps Pulumi from reporting reordering as change.
func sortSet(arr []resource.PropertyValue) {
	sort.SliceStable(arr, func(i, j int) bool { return arr[i].String() < arr[j].String() })
}

// dynamicFromTF converts a value whose type is only known at run time.
func dynamicFromTF(v tftypes.Value) (resource.PropertyValue, error) {
	t := v.Type()
	switch {
	case t.Is(tftypes.String):
		return fromTFPlain(v, &shape{kind: kindString, tfType: t})
	case t.Is(tftypes.Number):
		return fromTFPlain(v, &shape{kind: kindNumber, tfType: t})
	case t.Is(tftypes.Bool):
		return fromTFPlain(v, &shape{kind: kindBool, tfType: t})
	case t.Is(tftypes.List{}), t.Is(tftypes.Set{}), t.Is(tftypes.Tuple{}):
		var elems []tftypes.Value
		if err := v.As(&elems); err != nil {
			return resource.PropertyValue{}, err
		}
		arr := []resource.PropertyValue{}
		for _, e := range elems {
			pe, err := fromTFPlain(e, &shape{kind: kindDynamic})
			if err != nil {
				return resource.PropertyValue{}, err
			}
			arr = append(arr, pe)
		}
		return resource.NewArrayProperty(arr), nil
	case t.Is(tftypes.Map{}), t.Is(tftypes.Object{}):
		var elems map[string]tftypes.Value
		if err := v.As(&elems); err != nil {
			return resource.PropertyValue{}, err
		}
		pm := resource.PropertyMap{}
		for k, e := range elems {
			pe, err := fromTFPlain(e, &shape{kind: kindDynamic})
			if err != nil {
				return resource.PropertyValue{}, err
			}
			if !pe.IsNull() {
				pm[resource.PropertyKey(k)] = pe
			}
		}
		return resource.NewObjectProperty(pm), nil
	}
	return resource.PropertyValue{}, fmt.Errorf("unsupported dynamic type %s", t)
}
