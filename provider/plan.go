package provider

import (
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// proposedNew computes the proposed new state Terraform core sends with
// PlanResourceChange: the configuration, with computed attributes the
// configuration leaves null taken from the prior state. Nested blocks are
// merged element by element (lists by index, maps by key, sets by matching a
// prior element that the configuration leaves unchanged).
func proposedNew(o *object, prior, cfg tftypes.Value) (tftypes.Value, error) {
	if cfg.IsNull() || !cfg.IsKnown() {
		return cfg, nil
	}
	var cAttrs, pAttrs map[string]tftypes.Value
	if err := cfg.As(&cAttrs); err != nil {
		return cfg, err
	}
	if !prior.IsNull() && prior.IsKnown() {
		if err := prior.As(&pAttrs); err != nil {
			return cfg, err
		}
	}
	out := make(map[string]tftypes.Value, len(cAttrs))
	for name, c := range cAttrs {
		out[name] = c
		f := o.byTF[name]
		if f == nil {
			continue
		}
		p, hasPrior := pAttrs[name]
		if !hasPrior {
			p = tftypes.NewValue(c.Type(), nil)
		}
		if !f.block {
			if f.computed && c.IsNull() && hasPrior {
				out[name] = p
			}
			continue
		}
		v, err := proposedBlock(f.shape, p, c)
		if err != nil {
			return cfg, err
		}
		out[name] = v
	}
	return tftypes.NewValue(cfg.Type(), out), nil
}

func proposedBlock(s *shape, prior, cfg tftypes.Value) (tftypes.Value, error) {
	if cfg.IsNull() || !cfg.IsKnown() {
		return cfg, nil
	}
	priorKnown := !prior.IsNull() && prior.IsKnown()
	switch s.kind {
	case kindObject:
		return proposedNew(s.obj, prior, cfg)
	case kindList, kindSet:
		var cElems, pElems []tftypes.Value
		if err := cfg.As(&cElems); err != nil {
			return cfg, err
		}
		if priorKnown {
			if err := prior.As(&pElems); err != nil {
				return cfg, err
			}
		}
		elemType := s.elem.tfType
		out := make([]tftypes.Value, 0, len(cElems))
		for i, ce := range cElems {
			pe := tftypes.NewValue(elemType, nil)
			if s.kind == kindList && i < len(pElems) {
				pe = pElems[i]
			}
			if s.kind == kindSet {
				for _, cand := range pElems {
					v, err := proposedNew(s.elem.obj, cand, ce)
					if err == nil && v.Equal(cand) {
						pe = cand
						break
					}
				}
			}
			v, err := proposedNew(s.elem.obj, pe, ce)
			if err != nil {
				return cfg, err
			}
			out = append(out, v)
		}
		return tftypes.NewValue(cfg.Type(), out), nil
	case kindMap:
		var cElems, pElems map[string]tftypes.Value
		if err := cfg.As(&cElems); err != nil {
			return cfg, err
		}
		if priorKnown {
			if err := prior.As(&pElems); err != nil {
				return cfg, err
			}
		}
		out := make(map[string]tftypes.Value, len(cElems))
		for k, ce := range cElems {
			pe, ok := pElems[k]
			if !ok {
				pe = tftypes.NewValue(s.elem.tfType, nil)
			}
			v, err := proposedNew(s.elem.obj, pe, ce)
			if err != nil {
				return cfg, err
			}
			out[k] = v
		}
		return tftypes.NewValue(cfg.Type(), out), nil
	}
	return cfg, nil
}
