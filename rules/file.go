package rules

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/chatwarden/chatwarden/internal/yamlline"
)

// Spec is one rule as written in a rule file, before compilation.
type Spec struct {
	Name        string
	Description string
	On          []string // platform.action, or platform.* for every action of a platform
	If          string   // expression; empty means true
	Enrich      string   // "", "chat" or "properties"
	After       time.Duration
	Then        []StepSpec
	Handler     string // a registered Go handler run after the steps
	DryRun      bool

	Line   int // line of the rule in its file
	IfLine int // line of its `if`

	// CrossPlatform (`cross_platform: true`) allows steps of another
	// platform than the rule's `on` entries, for steps that do not act on
	// the event's chat (e.g. livechat.set_routing_status on a HelpCrunch
	// event). Default false: such a step is refused when the file loads,
	// since it would call one platform's API with another's chat id.
	CrossPlatform bool
}

// StepSpec is one entry of `then`: an action with its parameters, or a Go
// handler (`go: name`).
type StepSpec struct {
	Action string         // e.g. livechat.unpin; "go" for a handler
	Params map[string]any // as written; nil when none
	Go     string         // handler name when Action is "go"
	Line   int
}

var ruleKeys = map[string]bool{
	"name": true, "description": true, "on": true, "if": true, "enrich": true,
	"after": true, "then": true, "handler": true, "dry_run": true, "cross_platform": true,
}

// ParseFile reads and parses a rule file (see Parse).
func ParseFile(path string) ([]Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading rule file: %w", err)
	}
	specs, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("rule file %s: %w", path, err)
	}
	return specs, nil
}

// Parse parses the YAML of a rule file:
//
//	rules:
//	  - name: ...
//	    on: [livechat.chat_deactivated]
//	    if: chat.pinned && chat.unassigned
//	    then:
//	      - livechat.unpin: {}
//
// It checks the shape (known keys, types, unique names); expressions and
// action parameters are checked by Compile. Errors name the rule and the line.
func Parse(data []byte) ([]Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlSyntaxError(data, yamlline.Fix(data, err))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty rule file: want a top-level `rules:` list")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with a `rules:` list", root.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Value != "rules" {
			return nil, fmt.Errorf("line %d: unknown top-level key %q (want `rules`)", k.Line, k.Value)
		}
		if list != nil {
			return nil, fmt.Errorf("line %d: `rules` repeated (first on line %d)", k.Line, root.Content[0].Line)
		}
		list = root.Content[i+1]
	}
	if list == nil {
		return nil, fmt.Errorf("line %d: missing top-level `rules:` list", root.Line)
	}
	if list.Kind != yaml.SequenceNode {
		if list.Tag == "!!null" {
			return nil, nil
		}
		return nil, fmt.Errorf("line %d: `rules` must be a list", list.Line)
	}
	seen := map[string]int{}
	specs := make([]Spec, 0, len(list.Content))
	for i, n := range list.Content {
		s, err := parseRule(n)
		if err != nil {
			where := fmt.Sprintf("rule #%d", i+1)
			if s.Name != "" {
				where = fmt.Sprintf("rule %q", s.Name)
			}
			return nil, fmt.Errorf("%s (line %d): %w", where, n.Line, err)
		}
		if first, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("rule %q (line %d): name already used by the rule on line %d", s.Name, n.Line, first)
		}
		seen[s.Name] = n.Line
		specs = append(specs, s)
	}
	return specs, nil
}

func parseRule(n *yaml.Node) (Spec, error) {
	s := Spec{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return s, fmt.Errorf("a rule must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			s.Name = n.Content[i+1].Value
		}
	}
	if strings.TrimSpace(s.Name) == "" {
		return s, fmt.Errorf("`name` is required")
	}
	keyLines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !ruleKeys[k.Value] {
			return s, fmt.Errorf("line %d: unknown key %q (known: name, description, on, if, enrich, after, then, handler, dry_run, cross_platform)", k.Line, k.Value)
		}
		if first, dup := keyLines[k.Value]; dup {
			return s, fmt.Errorf("line %d: key %q repeated (first on line %d)", k.Line, k.Value, first)
		}
		keyLines[k.Value] = k.Line
		var err error
		switch k.Value {
		case "description":
			err = v.Decode(&s.Description)
		case "on":
			s.On, err = stringOrList(v)
		case "if":
			s.IfLine = v.Line
			if v.Kind != yaml.ScalarNode {
				err = fmt.Errorf("want an expression string")
			} else {
				s.If = v.Value
			}
		case "enrich":
			err = v.Decode(&s.Enrich)
			if err == nil && s.Enrich != "" && s.Enrich != "chat" && s.Enrich != "properties" {
				err = fmt.Errorf("want chat or properties, got %q", s.Enrich)
			}
		case "after":
			var str string
			if err = v.Decode(&str); err == nil {
				s.After, err = time.ParseDuration(str)
				if err == nil && s.After <= 0 {
					err = fmt.Errorf("must be positive, got %s", str)
				}
				if err != nil && strings.HasSuffix(str, "d") {
					err = fmt.Errorf("%q: write days as hours, e.g. 48h", str)
				}
			}
		case "then":
			s.Then, err = parseSteps(v)
		case "handler":
			err = v.Decode(&s.Handler)
		case "dry_run":
			err = v.Decode(&s.DryRun)
		case "cross_platform":
			err = v.Decode(&s.CrossPlatform)
		}
		if err != nil {
			return s, fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err)
		}
	}
	if len(s.On) == 0 {
		return s, fmt.Errorf("`on` is required (e.g. on: [livechat.chat_deactivated])")
	}
	if len(s.Then) == 0 && s.Handler == "" {
		return s, fmt.Errorf("a rule needs `then` actions or a `handler`")
	}
	return s, nil
}

func stringOrList(v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		return []string{v.Value}, nil
	case yaml.SequenceNode:
		var out []string
		if err := v.Decode(&out); err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a string or a list of strings")
}

func parseSteps(v *yaml.Node) ([]StepSpec, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list of actions, e.g. `- livechat.unpin: {}`")
	}
	steps := make([]StepSpec, 0, len(v.Content))
	for _, item := range v.Content {
		if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
			return nil, fmt.Errorf("line %d: each step is one `action: {params}` or `go: handler`", item.Line)
		}
		k, p := item.Content[0], item.Content[1]
		st := StepSpec{Action: k.Value, Line: k.Line}
		if k.Value == "go" {
			if err := p.Decode(&st.Go); err != nil || st.Go == "" {
				return nil, fmt.Errorf("line %d: `go:` names a registered handler", k.Line)
			}
		} else if p.Tag != "!!null" {
			if p.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: parameters of %s must be a mapping (use {} for none)", p.Line, k.Value)
			}
			if err := p.Decode(&st.Params); err != nil {
				return nil, fmt.Errorf("line %d: parameters of %s: %w", p.Line, k.Value, err)
			}
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// yamlSyntaxError names the line of a YAML syntax error. yaml.v3 leaves it
// out of errors on the first line, of encoding errors (invalid UTF-8,
// control characters) and of unknown anchors; the line is found here then.
func yamlSyntaxError(data []byte, err error) error {
	if strings.HasPrefix(err.Error(), "yaml: line ") {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	line, at := 1, -1
	for i := 0; i < len(data) && at < 0; {
		r, size := utf8.DecodeRune(data[i:])
		if (r == utf8.RuneError && size == 1) || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r < 0xa0 && r != 0x85) {
			at = i
		}
		i += size
	}
	if _, name, ok := strings.Cut(err.Error(), "unknown anchor '"); ok && at < 0 {
		name, _, _ = strings.Cut(name, "'")
		at = bytes.Index(data, []byte("*"+name))
	}
	if at > 0 {
		line += bytes.Count(data[:at], []byte("\n"))
	}
	return fmt.Errorf("line %d: not valid YAML: %w", line, err)
}
