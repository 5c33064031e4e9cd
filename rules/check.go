package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/textdist"
)

// LoadOption changes how Compile, LoadFile and LoadBytes judge a rule file.
type LoadOption func(*loadOptions)

type loadOptions struct {
	allowUnknownActions bool
}

// AllowUnknownActions makes an `on` entry naming an action that is not a
// documented webhook action of its platform (see event.KnownAction) a
// warning instead of an error: for a platform action newer than this
// version. By default it is an error, with the nearest known action as a
// suggestion, since such a rule never fires.
func AllowUnknownActions() LoadOption {
	return func(o *loadOptions) { o.allowUnknownActions = true }
}

// Warning is a problem in a rule file that does not stop it loading: the
// rule can still run, but probably not as its author meant.
type Warning struct {
	Rule string
	Line int // the line of what the warning is about
	Text string
}

func (w Warning) String() string { return fmt.Sprintf("rule %q (line %d): %s", w.Rule, w.Line, w.Text) }

// checkOn checks the rule's `on` entries: platform.action with a known
// platform, and an action the platform documents (or `*`). It returns the
// error of the first malformed entry, and for unknown actions an error (or,
// with AllowUnknownActions, warnings) naming the nearest known action.
func checkOn(s Spec, o loadOptions) ([]Warning, error) {
	var warns []Warning
	var unknown []string
	for _, on := range s.On {
		platform, action, ok := strings.Cut(on, ".")
		if !ok || platform == "" || action == "" {
			return nil, fmt.Errorf("on: %q is not platform.action (e.g. livechat.chat_deactivated or livechat.*)", on)
		}
		if !event.KnownPlatform(platform) {
			return nil, fmt.Errorf("on: unknown platform %q in %q (want %s)", platform, on, event.PlatformList())
		}
		if action == "*" || event.KnownAction(platform, action) {
			continue
		}
		msg := fmt.Sprintf("on: %q is not a %s webhook action%s", on, platform, suggestAction(platform, action))
		if o.allowUnknownActions {
			warns = append(warns, Warning{Rule: s.Name, Line: s.Line, Text: msg + "; the rule fires only if the platform sends it"})
		} else {
			unknown = append(unknown, msg)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%s (for an action newer than this version: rules check --allow-unknown-actions)", strings.Join(unknown, "; "))
	}
	return warns, nil
}

// suggestAction returns `; did you mean "platform.known"?` for the known
// action of platform closest to action, or "" when none is close (a third
// of the letters may differ).
func suggestAction(platform, action string) string {
	best := textdist.Closest(action, slices.Values(event.KnownActions(platform)))
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", platform+"."+best)
}

// checkStepPlatform refuses a step of one platform in a rule that listens
// to another: its call would carry a chat id of the other platform, and
// could only fail. A rule that says cross_platform: true (its step does not
// use the event's chat, e.g. livechat.set_routing_status with an agent_id)
// passes. Steps whose action's prefix is not a known platform (see
// event.KnownPlatform; custom actions, Go handlers) are not judged.
func checkStepPlatform(s Spec, st StepSpec) error {
	if s.CrossPlatform {
		return nil
	}
	stepPlatform, _, ok := strings.Cut(st.Action, ".")
	if !ok {
		return nil
	}
	if !event.KnownPlatform(stepPlatform) {
		return nil
	}
	for _, on := range s.On {
		platform, _, _ := strings.Cut(on, ".")
		if platform != stepPlatform {
			return fmt.Errorf("then (line %d): %s is a %s action, but the rule is on %s: it would act on a %s chat with the %s API; use a %s action, or write `cross_platform: true` if the step does not use the event's chat",
				st.Line, st.Action, stepPlatform, on, platform, stepPlatform, platform)
		}
	}
	return nil
}

// constantFalse reports whether the compiled condition reads nothing (no
// event, chat or now()) and evaluates to false: the rule can never act.
func constantFalse(prog *vm.Program) bool {
	v := &readsEnv{}
	node := prog.Node()
	ast.Walk(&node, v)
	if v.reads {
		return false
	}
	out, err := expr.Run(prog, &Env{})
	b, isBool := out.(bool)
	return err == nil && isBool && !b
}

// readsEnv finds identifiers: the environment's names (event, chat, now)
// and variables bound by `let`, which are taken as reading it.
type readsEnv struct{ reads bool }

func (v *readsEnv) Visit(node *ast.Node) {
	if _, ok := (*node).(*ast.IdentifierNode); ok {
		v.reads = true
	}
}

// checkWarnings reports what loads but is probably a mistake: a condition
// that is constant false, and a delayed rule with a non-idempotent step
// (Go handlers are not judged) and no re-check of the chat's current
// state. A re-check is an `if` with `enrich` on LiveChat events; without
// it, or on HelpCrunch and Rocket.Chat events (enrich fetches nothing
// there), the condition sees at the re-check what the webhook said when it
// arrived, so the step runs however the chat changed in the meantime.
func checkWarnings(c *compiled) []Warning {
	s := c.spec
	var warns []Warning
	if c.program != nil && constantFalse(c.program) {
		warns = append(warns, Warning{Rule: s.Name, Line: s.IfLine,
			Text: fmt.Sprintf("if: %q is always false: the rule never acts", oneLine(s.If))})
	}
	if s.After <= 0 {
		return warns
	}
	why := ""
	switch {
	case strings.TrimSpace(s.If) == "" || s.Enrich == "":
		why = "add `enrich: chat` and an `if` that still holds only when the step is wanted"
	default:
		for _, on := range s.On {
			if platform, _, _ := strings.Cut(on, "."); platform != event.LiveChat {
				why = fmt.Sprintf("enrich fetches nothing on %s events, so the `if` sees only the webhook as it arrived", platform)
				break
			}
		}
	}
	if why == "" {
		return warns
	}
	for _, st := range c.steps {
		if st.goRule != nil || st.action.Idempotent {
			continue
		}
		warns = append(warns, Warning{Rule: s.Name, Line: s.Line,
			Text: fmt.Sprintf("after: %s runs %s (not idempotent) without a re-check of the chat's current state; %s",
				s.After, st.action.Name, why)})
		break
	}
	return warns
}
