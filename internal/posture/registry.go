package posture

import (
	"fmt"
	"sort"
)

// registry holds every control, in registration order.
var registry []Control

// register adds controls to the registry. It panics on a duplicate ID: two
// controls answering to one ID would make findings ambiguous, and the
// panic fires in every test of the package.
func register(cs ...Control) {
	for _, c := range cs {
		for _, have := range registry {
			if have.ID == c.ID {
				panic(fmt.Sprintf("posture: control %s registered twice", c.ID))
			}
		}
		if c.Evaluate == nil {
			panic(fmt.Sprintf("posture: control %s has no evaluation", c.ID))
		}
		registry = append(registry, c)
	}
}

// Controls lists every control in report order: the bucket's controls,
// then the cluster's, each in registration order.
func Controls() []Control {
	out := append([]Control(nil), registry...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Scope < out[j].Scope })
	return out
}

// ControlByID returns the control with id.
func ControlByID(id string) (Control, bool) {
	for _, c := range registry {
		if c.ID == id {
			return c, true
		}
	}
	return Control{}, false
}
