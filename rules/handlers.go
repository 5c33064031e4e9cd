package rules

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Rule is the extension point for teams with needs YAML cannot express: a
// Go handler, registered under a name, that a rule file runs with
// `handler: name` or a step `- go: name`. It receives the event and chat
// through c, and acts through c.Do so that its actions are audited, honour
// dry run and are not repeated on redelivery. Returning an error built with
// consumer.Permanent dead-letters the event; any other error retries it.
type Rule interface {
	Apply(ctx context.Context, c *Call) error
}

// RuleFunc adapts a function to Rule.
type RuleFunc func(ctx context.Context, c *Call) error

// Apply calls f.
func (f RuleFunc) Apply(ctx context.Context, c *Call) error { return f(ctx, c) }

// Registry holds Go handlers by name. It is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Rule
}

// NewRegistry returns an empty registry (for tests; binaries use
// MustRegister and the default registry).
func NewRegistry() *Registry { return &Registry{m: map[string]Rule{}} }

// Register adds h under name; a name may be registered once.
func (r *Registry) Register(name string, h Rule) error {
	if name == "" || h == nil {
		return fmt.Errorf("rules: registering a handler needs a name and a handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		return fmt.Errorf("rules: handler %q is already registered", name)
	}
	r.m[name] = h
	return nil
}

// Lookup returns the handler registered under name.
func (r *Registry) Lookup(name string) (Rule, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.m[name]
	return h, ok
}

// Names lists the registered handlers, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for n := range r.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var defaultRegistry = NewRegistry()

// DefaultRegistry is the registry MustRegister adds to; the chatwarden
// binary's rule engine uses it.
func DefaultRegistry() *Registry { return defaultRegistry }

// MustRegister registers h in the default registry; it panics when the name
// is taken. Call it from init.
func MustRegister(name string, h Rule) {
	if err := defaultRegistry.Register(name, h); err != nil {
		panic(err)
	}
}
