package provider

import (
	"context"
	"sort"
	"strings"
	"unicode"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// kind is what a value looks like on both sides of the translation.
type kind int

const (
	kindString kind = iota
	kindNumber
	kindBool
	kindDynamic
	kindList
	kindSet
	kindMap
	kindObject
)

// shape describes one Terraform type together with what the Pulumi side
// needs to know about it: property names of objects, nested type tokens,
// whether a number is an integer.
type shape struct {
	kind    kind
	tfType  tftypes.Type
	elem    *shape  // list, set, map
	obj     *object // object
	integer bool    // number that the framework declares as Int64/Int32
}

// object is an object type: a resource, a nested block, a nested attribute
// object or an object-typed attribute.
type object struct {
	token    string // Pulumi type token when the object becomes a named type
	desc     string
	fields   []*field // sorted by Terraform name
	byTF     map[string]*field
	byPulumi map[string]*field
}

// field is one attribute or nested block of an object.
type field struct {
	tf, pulumi string
	shape      *shape
	desc       string
	required   bool
	optional   bool
	computed   bool
	sensitive  bool
	deprecated string
	// block is a nested block. List, set and map blocks are never null in
	// Terraform: an absent block is an empty collection.
	block bool
	// hidden fields are not Pulumi properties: the top-level "id" (it is the
	// Pulumi resource ID) and the "timeouts" block (Pulumi has customTimeouts).
	hidden bool
}

// input reports whether a user may set the field.
func (f *field) input() bool { return !f.hidden && (f.block || f.required || f.optional) }

// computedOnly reports whether only the provider sets the field.
func (f *field) computedOnly() bool { return !f.block && f.computed && !f.optional && !f.required }

// intPaths is the set of value paths (see childPath) whose framework type is an
// integer. The protocol only says "number"; the framework knows better.
type intPaths map[string]bool

// frameworkIntPaths walks a framework schema type and records its integers.
func frameworkIntPaths(ctx context.Context, t attr.Type) intPaths {
	out := intPaths{}
	var walk func(p string, t attr.Type)
	walk = func(p string, t attr.Type) {
		if t == nil {
			return
		}
		switch t.ValueType(ctx).(type) {
		case basetypes.Int64Valuable, basetypes.Int32Valuable:
			out[p] = true
			return
		}
		switch tt := t.(type) {
		case attr.TypeWithAttributeTypes:
			for name, at := range tt.AttributeTypes() {
				walk(childPath(p, name), at)
			}
		case attr.TypeWithElementType:
			walk(childPath(p, "*"), tt.ElementType())
		}
	}
	walk("", t)
	return out
}

// childPath joins value paths: object attributes by name, collection
// elements as "*".
func childPath(p, step string) string {
	if p == "" {
		return step
	}
	return p + "." + step
}

// buildBlock makes the object for a schema block. token names the object
// type in the Pulumi schema; top is true for a resource or the provider.
func buildBlock(b *tfprotov6.SchemaBlock, token, p string, ints intPaths, top bool) *object {
	o := newObject(token, b.Description)
	for _, a := range b.Attributes {
		var s *shape
		if a.NestedType != nil {
			s = nestedAttrShape(a.NestedType, token+pascal(a.Name), childPath(p, a.Name), ints)
		} else {
			s = typeShape(a.Type, token+pascal(a.Name), childPath(p, a.Name), ints)
		}
		f := &field{
			tf: a.Name, shape: s, desc: a.Description,
			required: a.Required, optional: a.Optional, computed: a.Computed, sensitive: a.Sensitive,
		}
		if a.Deprecated {
			f.deprecated = nonEmpty(a.DeprecationMessage, "Deprecated.")
		}
		f.hidden = top && a.Name == "id"
		o.add(f)
	}
	for _, nb := range b.BlockTypes {
		name := nb.TypeName
		elemToken := token + pascal(name)
		var s *shape
		switch nb.Nesting {
		case tfprotov6.SchemaNestedBlockNestingModeList, tfprotov6.SchemaNestedBlockNestingModeSet, tfprotov6.SchemaNestedBlockNestingModeMap:
			elem := &shape{kind: kindObject, obj: buildBlock(nb.Block, elemToken, childPath(childPath(p, name), "*"), ints, false)}
			elem.tfType = nb.Block.ValueType()
			k := map[tfprotov6.SchemaNestedBlockNestingMode]kind{
				tfprotov6.SchemaNestedBlockNestingModeList: kindList,
				tfprotov6.SchemaNestedBlockNestingModeSet:  kindSet,
				tfprotov6.SchemaNestedBlockNestingModeMap:  kindMap,
			}[nb.Nesting]
			s = &shape{kind: k, elem: elem, tfType: nb.ValueType()}
		default: // single, group
			s = &shape{kind: kindObject, obj: buildBlock(nb.Block, elemToken, childPath(p, name), ints, false), tfType: nb.ValueType()}
		}
		f := &field{tf: name, shape: s, desc: nb.Block.Description, block: true, optional: true}
		if nb.MinItems > 0 {
			f.required, f.optional = true, false
		}
		f.hidden = top && name == "timeouts"
		o.add(f)
	}
	o.sort()
	return o
}

func nestedAttrShape(n *tfprotov6.SchemaObject, token, p string, ints intPaths) *shape {
	elemPath := p
	if n.Nesting != tfprotov6.SchemaObjectNestingModeSingle {
		elemPath = childPath(p, "*")
	}
	obj := newObject(token, "")
	for _, a := range n.Attributes {
		var s *shape
		if a.NestedType != nil {
			s = nestedAttrShape(a.NestedType, token+pascal(a.Name), childPath(elemPath, a.Name), ints)
		} else {
			s = typeShape(a.Type, token+pascal(a.Name), childPath(elemPath, a.Name), ints)
		}
		obj.add(&field{tf: a.Name, shape: s, desc: a.Description,
			required: a.Required, optional: a.Optional, computed: a.Computed, sensitive: a.Sensitive})
	}
	obj.sort()
	var objType tftypes.Type = tftypes.Object{AttributeTypes: map[string]tftypes.Type{}}
	if o, ok := n.ValueType().(tftypes.Object); ok {
		objType = o
	}
	elem := &shape{kind: kindObject, obj: obj, tfType: objType}
	switch n.Nesting {
	case tfprotov6.SchemaObjectNestingModeList:
		elem.tfType = n.ValueType().(tftypes.List).ElementType
		return &shape{kind: kindList, elem: elem, tfType: n.ValueType()}
	case tfprotov6.SchemaObjectNestingModeSet:
		elem.tfType = n.ValueType().(tftypes.Set).ElementType
		return &shape{kind: kindSet, elem: elem, tfType: n.ValueType()}
	case tfprotov6.SchemaObjectNestingModeMap:
		elem.tfType = n.ValueType().(tftypes.Map).ElementType
		return &shape{kind: kindMap, elem: elem, tfType: n.ValueType()}
	}
	return elem
}

// typeShape makes the shape of a plain attribute type.
func typeShape(t tftypes.Type, token, p string, ints intPaths) *shape {
	switch tt := t.(type) {
	case tftypes.List:
		return &shape{kind: kindList, tfType: t, elem: typeShape(tt.ElementType, token, childPath(p, "*"), ints)}
	case tftypes.Set:
		return &shape{kind: kindSet, tfType: t, elem: typeShape(tt.ElementType, token, childPath(p, "*"), ints)}
	case tftypes.Map:
		return &shape{kind: kindMap, tfType: t, elem: typeShape(tt.ElementType, token, childPath(p, "*"), ints)}
	case tftypes.Object:
		o := newObject(token, "")
		names := make([]string, 0, len(tt.AttributeTypes))
		for n := range tt.AttributeTypes {
			names = append(names, n)
		}
		for _, n := range names {
			_, opt := tt.OptionalAttributes[n]
			o.add(&field{tf: n, shape: typeShape(tt.AttributeTypes[n], token+pascal(n), childPath(p, n), ints),
				required: !opt, optional: opt})
		}
		o.sort()
		return &shape{kind: kindObject, tfType: t, obj: o}
	}
	switch {
	case t.Is(tftypes.String):
		return &shape{kind: kindString, tfType: t}
	case t.Is(tftypes.Number):
		return &shape{kind: kindNumber, tfType: t, integer: ints[p]}
	case t.Is(tftypes.Bool):
		return &shape{kind: kindBool, tfType: t}
	}
	return &shape{kind: kindDynamic, tfType: t}
}

func newObject(token, desc string) *object {
	return &object{token: token, desc: desc, byTF: map[string]*field{}, byPulumi: map[string]*field{}}
}

func (o *object) add(f *field) {
	f.pulumi = camel(f.tf)
	o.fields = append(o.fields, f)
	o.byTF[f.tf] = f
	o.byPulumi[f.pulumi] = f
}

func (o *object) sort() {
	sort.Slice(o.fields, func(i, j int) bool { return o.fields[i].tf < o.fields[j].tf })
}

// camel turns a Terraform name into a Pulumi property name:
// force_destroy → forceDestroy, kms_key_id → kmsKeyId.
func camel(s string) string {
	parts := strings.Split(s, "_")
	var b strings.Builder
	for i, p := range parts {
		if p == "" {
			continue
		}
		if i == 0 || b.Len() == 0 {
			b.WriteString(p)
			continue
		}
		b.WriteString(upperFirst(p))
	}
	return b.String()
}

// pascal turns a Terraform name into a type name: immutable_bucket → ImmutableBucket.
func pascal(s string) string { return upperFirst(camel(s)) }

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func nonEmpty(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
