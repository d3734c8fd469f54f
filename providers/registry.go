package providers

import (
	"fmt"
	"maps"
	"slices"
)

// Registry maps provider names to drivers. It is immutable once made, and
// so safe for concurrent use.
type Registry struct {
	drivers map[string]Driver
}

// NewRegistry returns a Registry of ds, keyed by their Name. It panics if
// two drivers share a name or a name is empty: that is a wiring mistake, found
// at start-up.
func NewRegistry(ds ...Driver) *Registry {
	r := &Registry{drivers: make(map[string]Driver, len(ds))}
	for _, d := range ds {
		name := d.Name()
		if name == "" {
			panic("providers: driver with an empty name")
		}
		if _, dup := r.drivers[name]; dup {
			panic(fmt.Sprintf("providers: two drivers named %q", name))
		}
		r.drivers[name] = d
	}
	return r
}

// Get returns the driver named name.
func (r *Registry) Get(name string) (Driver, bool) {
	d, ok := r.drivers[name]
	return d, ok
}

// Names returns the names of all drivers, sorted.
func (r *Registry) Names() []string {
	return slices.Sorted(maps.Keys(r.drivers))
}
