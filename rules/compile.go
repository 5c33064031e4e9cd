package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/chatwarden/chatwarden/event"
)

// RuleSet is a compiled rule file: conditions type-checked, action
// parameters validated, handlers resolved. It is immutable; the engine swaps
// whole sets on reload.
type RuleSet struct {
	rules        []*compiled
	byName       map[string]*compiled
	needsPayload bool
	warnings     []Warning
	actions      Actions // what the set was compiled with; an engine's default
	// Source says where the rules came from (a path, or the built-in examples).
	Source string
}

type compiled struct {
	spec    Spec
	program *vm.Program // nil: no condition
	steps   []step
	// needsChat: the rule reads the chat beyond its ids (enrich, a
	// condition naming chat, a Go step). Without it the chat is not built
	// from the webhook (a full decode of incoming_chat's chat) for the rule.
	needsChat bool
}

type step struct {
	action   Action
	prepared prepared
	goName   string
	goRule   Rule
	key      string // "<rule>/<index>", the idempotency key's suffix
}

// exprOptions are the options every condition is compiled with: the Env
// type, a boolean result, and our own now() (the engine's clock).
func exprOptions() []expr.Option {
	return []expr.Option{expr.Env(Env{}), expr.AsBool(), expr.DisableBuiltin("now")}
}

// Compile checks and compiles specs. Every problem is reported with the
// rule's name and line: unknown actions and handlers, invalid parameters,
// conditions that do not compile or are not boolean, `on` entries that are
// not documented webhook actions of their platform (a warning with
// AllowUnknownActions), and steps of another platform than the rule's `on`
// without `cross_platform: true`. What loads but is probably a mistake is
// listed by RuleSet.Warnings.
func Compile(specs []Spec, actions Actions, handlers *Registry, opts ...LoadOption) (*RuleSet, error) {
	if handlers == nil {
		handlers = NewRegistry()
	}
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	set := &RuleSet{byName: map[string]*compiled{}, actions: actions}
	var problems []string
	for _, s := range specs {
		c, warns, err := compileRule(s, actions, handlers, o)
		if err != nil {
			problems = append(problems, fmt.Sprintf("rule %q (line %d): %v", s.Name, s.Line, err))
			continue
		}
		set.warnings = append(set.warnings, warns...)
		set.warnings = append(set.warnings, checkWarnings(c)...)
		set.rules = append(set.rules, c)
		set.byName[s.Name] = c
		if strings.Contains(s.If, "payload") {
			set.needsPayload = true
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return set, nil
}

// compileRule compiles one rule. Its `on` is judged after the condition
// and steps, so that a rule with several mistakes reports the ones in its
// condition and steps first; a step's platform is judged last, against a
// valid `on`.
func compileRule(s Spec, actions Actions, handlers *Registry, o loadOptions) (*compiled, []Warning, error) {
	c, err := compileBody(s, actions, handlers)
	if err != nil {
		return nil, nil, err
	}
	warns, err := checkOn(s, o)
	if err != nil {
		return nil, nil, err
	}
	for _, st := range s.Then {
		if err := checkStepPlatform(s, st); err != nil {
			return nil, nil, err
		}
	}
	return c, warns, nil
}

// compileBody compiles the condition, the steps and the handler of a rule.
func compileBody(s Spec, actions Actions, handlers *Registry) (*compiled, error) {
	c := &compiled{spec: s, needsChat: s.Enrich != "" || s.Handler != ""}
	if strings.TrimSpace(s.If) != "" {
		prog, err := expr.Compile(s.If, exprOptions()...)
		if err != nil {
			return nil, fmt.Errorf("if (line %d): %w", s.IfLine, err) // its lines kept: the caret points under the error
		}
		c.program = prog
		c.needsChat = c.needsChat || readsIdentifier(prog, "chat")
	}
	for i, st := range s.Then {
		key := fmt.Sprintf("%s/%d", s.Name, i)
		if st.Action == "go" {
			h, ok := handlers.Lookup(st.Go)
			if !ok {
				return nil, fmt.Errorf("then (line %d): no Go handler %q is registered (registered: %s)", st.Line, st.Go, listOrNone(handlers.Names()))
			}
			c.steps = append(c.steps, step{goName: st.Go, goRule: h, key: key})
			c.needsChat = true
			continue
		}
		act, ok := actions[st.Action]
		if !ok {
			return nil, fmt.Errorf("then (line %d): unknown action %q (known: %s)", st.Line, st.Action, strings.Join(actions.Names(), ", "))
		}
		p, err := act.prepare(st.Params)
		if err != nil {
			return nil, fmt.Errorf("then (line %d): %s: %w", st.Line, st.Action, err)
		}
		c.steps = append(c.steps, step{action: act, prepared: p, key: key})
	}
	if s.Handler != "" {
		h, ok := handlers.Lookup(s.Handler)
		if !ok {
			return nil, fmt.Errorf("handler: no Go handler %q is registered (registered: %s)", s.Handler, listOrNone(handlers.Names()))
		}
		c.steps = append(c.steps, step{goName: s.Handler, goRule: h, key: fmt.Sprintf("%s/handler", s.Name)})
	}
	return c, nil
}

// readsIdentifier reports whether the compiled condition names the
// top-level identifier name (chat, event, ...).
func readsIdentifier(prog *vm.Program, name string) bool {
	node := prog.Node()
	v := &identFinder{name: name}
	ast.Walk(&node, v)
	return v.found
}

type identFinder struct {
	name  string
	found bool
}

func (f *identFinder) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && id.Value == f.name {
		f.found = true
	}
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// matches reports whether the rule listens to the event's platform.action.
func (c *compiled) matches(ev *event.Event) bool {
	for _, on := range c.spec.On {
		platform, action, _ := strings.Cut(on, ".")
		if platform == ev.Platform && (action == "*" || action == ev.Action) {
			return true
		}
	}
	return false
}

// eval evaluates the condition.
func (c *compiled) eval(env *Env) (bool, error) {
	if c.program == nil {
		return true, nil
	}
	out, err := expr.Run(c.program, env)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// Only returns a set with just the named rule, for replays of one rule.
func (s *RuleSet) Only(name string) (*RuleSet, error) {
	c, ok := s.byName[name]
	if !ok {
		names := make([]string, 0, len(s.rules))
		for _, r := range s.rules {
			names = append(names, r.spec.Name)
		}
		return nil, fmt.Errorf("no rule %q in %s (rules: %s)", name, s.Source, listOrNone(names))
	}
	return &RuleSet{rules: []*compiled{c}, byName: map[string]*compiled{name: c},
		needsPayload: strings.Contains(c.spec.If, "payload"), Source: s.Source, actions: s.actions}, nil
}

// Warnings lists, in file order, what loads but is probably a mistake:
// unknown `on` actions allowed by AllowUnknownActions, conditions that are
// always false, and delayed non-idempotent steps without a re-check of the
// chat's current state.
func (s *RuleSet) Warnings() []Warning { return s.warnings }

// Len is the number of rules.
func (s *RuleSet) Len() int { return len(s.rules) }

// Info describes a compiled rule for listings.
type Info struct {
	Name, Description, If, Enrich string
	On                            []string
	After                         time.Duration
	Then                          []string
	DryRun                        bool
	Line                          int
}

// Rules describes the rules in file order.
func (s *RuleSet) Rules() []Info {
	out := make([]Info, 0, len(s.rules))
	for _, c := range s.rules {
		inf := Info{Name: c.spec.Name, Description: c.spec.Description, If: c.spec.If, Enrich: c.spec.Enrich,
			On: c.spec.On, After: c.spec.After, DryRun: c.spec.DryRun, Line: c.spec.Line}
		for _, st := range c.steps {
			if st.goRule != nil {
				inf.Then = append(inf.Then, "go:"+st.goName)
			} else {
				inf.Then = append(inf.Then, st.action.Name)
			}
		}
		out = append(out, inf)
	}
	return out
}

// LoadFile parses and compiles a rule file (see Compile for opts).
func LoadFile(path string, actions Actions, handlers *Registry, opts ...LoadOption) (*RuleSet, error) {
	specs, err := ParseFile(path)
	if err != nil {
		return nil, err
	}
	set, err := Compile(specs, actions, handlers, opts...)
	if err != nil {
		return nil, fmt.Errorf("rule file %s:\n%w", path, err)
	}
	set.Source = path
	return set, nil
}

// LoadBytes parses and compiles a rule file's content; source names it in
// errors and listings.
func LoadBytes(data []byte, source string, actions Actions, handlers *Registry, opts ...LoadOption) (*RuleSet, error) {
	specs, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("rule file %s: %w", source, err)
	}
	set, err := Compile(specs, actions, handlers, opts...)
	if err != nil {
		return nil, fmt.Errorf("rule file %s:\n%w", source, err)
	}
	set.Source = source
	return set, nil
}
