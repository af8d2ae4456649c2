package cluster

import (
	"errors"
	"fmt"
	"sort"
)

// Default is the name of the cluster of PORTAL_PROJECTS_ADMIN_URL, where
// projects live unless registered elsewhere.
const Default = "default"

// ErrUnknownCluster means a project names a cluster the portal has no admin
// URL for.
var ErrUnknownCluster = errors.New("cluster is not configured")

// Registry is every project cluster the portal can restore into, by name.
// It holds admin URLs (secrets): never print it.
type Registry struct {
	clusters map[string]*Cluster
}

// NewRegistry builds a registry from name -> superuser URL.
func NewRegistry(urls map[string]string) (*Registry, error) {
	r := &Registry{clusters: map[string]*Cluster{}}
	for name, u := range urls {
		c, err := New(u)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		c.name = name
		r.clusters[name] = c
	}
	return r, nil
}

// Get returns the cluster called name ("" means Default).
func (r *Registry) Get(name string) (*Cluster, error) {
	if name == "" {
		name = Default
	}
	c, ok := r.clusters[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (configured: %v)", ErrUnknownCluster, name, r.Names())
	}
	return c, nil
}

// Names lists the configured clusters, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.clusters))
	for n := range r.clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Name is the registry name of the cluster ("" when made with New).
func (c *Cluster) Name() string { return c.name }
