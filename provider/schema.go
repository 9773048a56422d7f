package provider

import (
	"encoding/json"
	"sort"
	"strings"
)

// GoImportBasePath is where the generated Go SDK lives.
const GoImportBasePath = "github.com/lifeboat-dr/terraform-provider-lifeboat/sdk/go/lifeboat"

// resourceToken maps a Terraform resource type to its Pulumi token:
// lifeboat_immutable_bucket → lifeboat:index:ImmutableBucket.
func resourceToken(pkg, tfType string) string {
	return pkg + ":index:" + pascal(strings.TrimPrefix(tfType, pkg+"_"))
}

// pulumiSchema derives the Pulumi package schema (JSON) from the Terraform
// schema. The version is left out so the generated SDK does not change with
// every release of the plugin.
func (s *Server) pulumiSchema() ([]byte, error) {
	types := map[string]any{}
	resources := map[string]any{}
	for _, r := range s.resources {
		resources[r.token] = resourceSpec(r.obj, types)
	}
	functions := map[string]any{}
	for _, f := range s.functions {
		functions[f.token] = functionSpec(f.obj, types)
	}
	cfgVars := map[string]any{}
	provIn := map[string]any{}
	for _, f := range s.config.fields {
		if f.hidden {
			continue
		}
		cfgVars[f.pulumi] = propertySpec(f, types)
		provIn[f.pulumi] = propertySpec(f, types)
	}
	spec := map[string]any{
		"name":        s.name,
		"displayName": upperFirst(s.name),
		"description": "Backup and disaster-recovery posture of PostgreSQL-centred platforms, as code. " +
			"Derived from the Terraform provider's schema; every resource is served by the Terraform provider in-process.",
		"keywords":   []string{"pulumi", s.name, "postgresql", "backup", "disaster-recovery", "category/database"},
		"license":    "MPL-2.0",
		"repository": "https://github.com/lifeboat-dr/terraform-provider-lifeboat",
		"config":     map[string]any{"variables": cfgVars},
		"provider": map[string]any{
			"description":     s.config.desc,
			"inputProperties": provIn,
		},
		"resources": resources,
		"functions": functions,
		"types":     types,
		"language": map[string]any{
			"go": map[string]any{
				"importBasePath":                 GoImportBasePath,
				"generateResourceContainerTypes": true,
			},
		},
	}
	return json.MarshalIndent(spec, "", "  ")
}

func resourceSpec(o *object, types map[string]any) map[string]any {
	props, inputs := map[string]any{}, map[string]any{}
	var required, requiredInputs []string
	for _, f := range o.fields {
		if f.hidden {
			continue
		}
		props[f.pulumi] = propertySpec(f, types)
		if f.required || (f.computed && !f.optional) {
			required = append(required, f.pulumi)
		}
		if f.input() {
			inputs[f.pulumi] = propertySpec(f, types)
			if f.required {
				requiredInputs = append(requiredInputs, f.pulumi)
			}
		}
	}
	spec := map[string]any{
		"description":     o.desc,
		"properties":      props,
		"inputProperties": inputs,
	}
	if len(required) > 0 {
		spec["required"] = required
	}
	if len(requiredInputs) > 0 {
		spec["requiredInputs"] = requiredInputs
	}
	return spec
}

func propertySpec(f *field, types map[string]any) map[string]any {
	p := typeSpec(f.shape, types)
	if f.desc != "" {
		p["description"] = f.desc
	}
	if f.sensitive {
		p["secret"] = true
	}
	if f.deprecated != "" {
		p["deprecationMessage"] = f.deprecated
	}
	return p
}

// typeSpec is the Pulumi type of a shape; objects become named types.
func typeSpec(s *shape, types map[string]any) map[string]any {
	switch s.kind {
	case kindString:
		return map[string]any{"type": "string"}
	case kindNumber:
		if s.integer {
			return map[string]any{"type": "integer"}
		}
		return map[string]any{"type": "number"}
	case kindBool:
		return map[string]any{"type": "boolean"}
	case kindList, kindSet:
		return map[string]any{"type": "array", "items": typeSpec(s.elem, types)}
	case kindMap:
		return map[string]any{"type": "object", "additionalProperties": typeSpec(s.elem, types)}
	case kindObject:
		token := s.obj.token
		if _, done := types[token]; !done {
			types[token] = nil // reserve: the object may refer to itself
			props := map[string]any{}
			var required []string
			for _, f := range s.obj.fields {
				props[f.pulumi] = propertySpec(f, types)
				if f.required {
					required = append(required, f.pulumi)
				}
			}
			sort.Strings(required)
			t := map[string]any{"type": "object", "properties": props}
			if s.obj.desc != "" {
				t["description"] = s.obj.desc
			}
			if len(required) > 0 {
				t["required"] = required
			}
			types[token] = t
		}
		return map[string]any{"$ref": "#/types/" + token}
	}
	return map[string]any{"$ref": "pulumi.json#/Any"}
}
