package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/chatwarden/chatwarden/internal/textdist"
	"github.com/chatwarden/chatwarden/internal/yamlline"
)

// Load reads the config file at path and returns it parsed, with the
// environment's CHATWARDEN_* settings over it, defaults applied and
// validated, as Parse does. With path "" it is the defaults with the
// environment's settings (Default() when there are none). Errors name the
// file and, for each problem, the key and line, or the variable.
func Load(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		c, err := Parse(nil, getenv)
		if err != nil {
			return nil, fmt.Errorf("configuration (defaults and %s* environment variables, no file): %w", EnvPrefix, err)
		}
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	c, err := Parse(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a config file's contents:
//
//  0. Every key that holds a value or a list of values can be set by an
//     environment variable instead, named by EnvVar: CHATWARDEN_ and the
//     key in upper case with dots as underscores (nats.partitions is
//     CHATWARDEN_NATS_PARTITIONS, livechat.pat.token is
//     CHATWARDEN_LIVECHAT_PAT_TOKEN). A variable that getenv gives as
//     non-empty replaces the file's value (moved keys read under their new
//     name only); a list (livechat.webhook_secrets, http.trusted_proxies,
//     sweep.groups) is comma-separated, entries trimmed, empty ones
//     dropped. Its value is taken as it is (no ${...} expansion) and then
//     read, typed and validated like the file's; errors name the key and
//     the variable. Maps (livechat.organizations) and lists of mappings
//     (secrets.keys) are set in the file only. Other CHATWARDEN_*
//     variables (CHATWARDEN_CONFIG, or any used in ${...}) set nothing.
//     EnvOverrides lists the variables that did.
//  1. Every value (never a key) has its ${NAME}, ${NAME:-default},
//     ${NAME:?message} references replaced through getenv; see Expand. An
//     unset variable is "". The result is not parsed as YAML again, so a
//     secret may hold any characters. An expanded value takes the type of
//     its setting, quoted or not: `partitions: "${PARTITIONS:-16}"` is a
//     number, `admin_token: ${TOKEN}` stays text even when TOKEN is 123 or
//     null, and `dry_run: ${DRY_RUN}` with DRY_RUN unset keeps the default.
//     Quoting never changes how a number, boolean or duration is read.
//  2. The YAML is decoded strictly: an unknown or repeated key, or a value of
//     the wrong type, is an error naming the key and line. Durations are
//     strings such as "30s", "10m", "168h" (no days).
//  3. Empty entries of livechat.webhook_secrets, and entries of
//     secrets.keys with an empty key, are dropped (so an unset
//     variable in the list adds no secret), and every zero value gets its
//     default (see Provision): 0, "" and a left-out key all mean "the
//     default".
//  4. The result is validated (see Validate).
//
// All problems found in one step are reported together, joined with
// errors.Join; each is a *FieldError. An empty document is Default().
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parsing YAML: %w", yamlline.Fix(data, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("parsing YAML: line %d: a second document (after ---); a config file holds one", extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parsing YAML: %w", yamlline.Fix(data, err))
	}

	c := &Config{}
	root := documentRoot(&doc)
	if root == nil {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	moved, errs := moveKeys(root)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	w := walker{getenv: getenv, expanded: map[*yaml.Node]bool{}, fromEnv: map[*yaml.Node]bool{}}
	var envVars map[string]string      // key: the variable that set it
	if root.Kind == yaml.MappingNode { // else the walk reports the file's shape
		var made []*yaml.Node
		made, envVars = applyEnv(root, getenv)
		for _, n := range made {
			w.expanded[n], w.fromEnv[n] = true, true
		}
	}
	w.walk(root, configType, "")
	if len(w.errs) > 0 {
		err := errors.Join(w.errs...)
		nameEnv(err, envVars)
		return nil, err
	}
	if err := root.Decode(c); err != nil {
		// The walk checks every value; this is a safety net.
		return nil, fmt.Errorf("decoding: %w", err)
	}
	c.moved = moved
	for _, k := range envKeys() {
		if name, ok := envVars[k.key]; ok {
			c.env = append(c.env, name)
		}
	}
	c.LiveChat.WebhookSecrets = slices.DeleteFunc(c.LiveChat.WebhookSecrets, func(s string) bool { return s == "" })
	// Empty and absent are the same; keep them equal for callers that compare.
	if len(c.LiveChat.WebhookSecrets) == 0 {
		c.LiveChat.WebhookSecrets = nil
	}
	if len(c.LiveChat.Organizations) == 0 {
		c.LiveChat.Organizations = nil
	}
	if len(c.Sweep.Groups) == 0 {
		c.Sweep.Groups = nil
	}
	// As with webhook secrets, an unset variable adds no key.
	c.Secrets.Keys = slices.DeleteFunc(c.Secrets.Keys, func(k SecretKey) bool { return k.Key == "" })
	if len(c.Secrets.Keys) == 0 {
		c.Secrets.Keys = nil
	}
	if len(c.HTTP.TrustedProxies) == 0 {
		c.HTTP.TrustedProxies = nil
	}
	c.Provision()
	if err := c.Validate(); err != nil {
		nameEnv(err, envVars)
		return nil, err
	}
	return c, nil
}

// EnvOverrides lists the environment variables that set keys when c was
// parsed (see Parse), in the order of the configuration's sections.
func (c *Config) EnvOverrides() []string { return slices.Clone(c.env) }

// documentRoot returns the top node of doc, or nil for an empty document.
func documentRoot(doc *yaml.Node) *yaml.Node {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n.Kind == 0 || isNull(n) {
		return nil
	}
	return n
}

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[time.Duration]()
)

const topLevel = "(top level)"

// walker checks a YAML tree against the Config type, expanding environment
// references in scalars on the way, and collects every problem.
type walker struct {
	getenv   func(string) string
	expanded map[*yaml.Node]bool // scalars already expanded (anchors are shared), and whether that worked
	fromEnv  map[*yaml.Node]bool // scalars whose value expansion changed
	steps    int                 // nodes visited, to stop alias bombs
	errs     []error
}

// maxSteps bounds the nodes a walk visits, aliases followed: far above any
// real config, far below what nested aliases can make a small file expand to.
const maxSteps = 100_000

func (w *walker) fail(key string, line int, kind error, format string, args ...any) {
	if key == "" {
		key = topLevel
	}
	w.errs = append(w.errs, fieldErr(key, line, kind, format, args...))
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.steps++; w.steps > maxSteps {
		if w.steps == maxSteps+1 {
			w.fail(path, n.Line, ErrWrongType, "the document expands to too many values (aliases of aliases?)")
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			w.fail(path, n.Line, ErrWrongType, "alias to nothing")
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode {
		if !w.expand(n, path) {
			return
		}
		if w.fromEnv[n] || t.Kind() != reflect.String {
			settle(n, t)
		}
	}
	if isNull(n) {
		return // zero value: the default applies
	}
	if t == durationType {
		w.duration(n, path)
		return
	}
	if t == sectionsType {
		w.sections(n, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		w.structure(n, t, path)
	case reflect.Map:
		w.mapping(n, t, path)
	case reflect.Slice:
		w.sequence(n, t, path)
	default:
		w.scalar(n, t, path)
	}
}

// expand replaces environment references in a scalar, once. It reports
// false when that failed.
func (w *walker) expand(n *yaml.Node, path string) bool {
	if done, seen := w.expanded[n]; seen {
		return done
	}
	w.expanded[n] = false
	if strings.Contains(n.Value, "$") {
		v, err := Expand(n.Value, w.getenv)
		if err != nil {
			w.fail(path, n.Line, ErrEnv, "%v", err)
			return false
		}
		if v != n.Value {
			w.fromEnv[n] = true
			n.Value = v
		}
	}
	w.expanded[n] = true
	return true
}

// settle types a scalar by the setting it is for, whatever its quoting. An
// expanded value for a text setting stays text ("null" or "123" included);
// any value for another setting is read as if written out plainly, so
// "${PARTITIONS:-16}" and "16" are numbers and an empty value is null (the
// default). An explicit tag (!!str) is kept.
func settle(n *yaml.Node, t reflect.Type) {
	if n.Style&yaml.TaggedStyle != 0 {
		return
	}
	if t.Kind() == reflect.String {
		n.Tag = "!!str"
		return
	}
	n.Tag, n.Style = "", 0
}

func (w *walker) structure(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(path, n.Line, ErrWrongType, "must be a mapping of settings (key: value), got %s", describe(n))
		return
	}
	fields := yamlFields(t)
	seen := map[string]int{}
	w.structPairs(n, fields, path, seen, 0)
}

// structPairs checks the pairs of mapping n against fields; merged
// (<<: *anchor) mappings are checked in place, their keys overridable.
func (w *walker) structPairs(n *yaml.Node, fields map[string]reflect.StructField, path string, seen map[string]int, depth int) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if w.steps++; w.steps > maxSteps {
			if w.steps == maxSteps+1 {
				w.fail(path, k.Line, ErrWrongType, "the document expands to too many values (aliases of aliases?)")
			}
			return
		}
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if depth > 8 {
				w.fail(path, k.Line, ErrWrongType, "merges nested too deep")
				continue
			}
			for _, m := range mergeSources(v) {
				if m.Kind != yaml.MappingNode {
					w.fail(path, k.Line, ErrWrongType, "<< must merge a mapping, got %s", describe(m))
					continue
				}
				w.structPairs(m, fields, path, nil, depth+1)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.fail(path, k.Line, ErrWrongType, "keys must be plain names, got %s", describe(k))
			continue
		}
		key := join(path, k.Value)
		f, ok := fields[k.Value]
		if !ok {
			w.fail(key, k.Line, ErrUnknownKey, "unknown key%s", suggest(k.Value, fields, path))
			continue
		}
		if seen != nil {
			if first, dup := seen[k.Value]; dup {
				w.fail(key, k.Line, ErrDuplicateKey, "given more than once (first on line %d)", first)
				continue
			}
			seen[k.Value] = k.Line
		}
		w.walk(v, f.Type, key)
	}
}

func mergeSources(v *yaml.Node) []*yaml.Node {
	resolve := func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			return n.Alias
		}
		return n
	}
	v = resolve(v)
	if v.Kind != yaml.SequenceNode {
		return []*yaml.Node{v}
	}
	out := make([]*yaml.Node, 0, len(v.Content))
	for _, e := range v.Content {
		out = append(out, resolve(e))
	}
	return out
}

func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	w.members(n, path, "a mapping (key: value)", "plain text", func(key string, _, v *yaml.Node) {
		w.walk(v, t.Elem(), key)
	})
}

// members checks that n is a mapping (mustBe says what it must be) whose
// keys are plain scalars (keysMustBe) given once each, failing with the
// line of what is not, and calls each with every other member and its
// key's path.
func (w *walker) members(n *yaml.Node, path, mustBe, keysMustBe string, each func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		w.fail(path, n.Line, ErrWrongType, "must be %s, got %s", mustBe, describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			w.fail(path, k.Line, ErrWrongType, "keys must be %s, got %s", keysMustBe, describe(k))
			continue
		}
		key := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.fail(key, k.Line, ErrDuplicateKey, "given more than once (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		each(key, k, v)
	}
}

func (w *walker) sequence(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.SequenceNode {
		w.fail(path, n.Line, ErrWrongType, `must be a list, e.g. ["a", "b"], got %s`, describe(n))
		return
	}
	for i, e := range n.Content {
		w.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
	}
}

func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) {
	want := map[reflect.Kind]string{
		reflect.Bool:    "true or false",
		reflect.Int:     "a whole number",
		reflect.Int64:   "a whole number",
		reflect.Float64: "a number",
		reflect.String:  "text",
	}[t.Kind()]
	if n.Kind != yaml.ScalarNode {
		w.fail(path, n.Line, ErrWrongType, "must be %s, got %s", want, describe(n))
		return
	}
	isInt := t.Kind() == reflect.Int || t.Kind() == reflect.Int64
	if err := n.Decode(reflect.New(t).Interface()); err != nil || isInt && n.ShortTag() != "!!int" {
		if t.Kind() == reflect.String {
			// Possibly a secret: do not quote it.
			w.fail(path, n.Line, ErrWrongType, "must be text, got a value tagged %s", n.Tag)
			return
		}
		// Values of non-text settings are never secrets: safe to quote.
		w.fail(path, n.Line, ErrWrongType, "must be %s, got %q", want, n.Value)
	}
}

var daysRE = regexp.MustCompile(`^(\d+)d$`)

func (w *walker) duration(n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode {
		w.fail(path, n.Line, ErrWrongType, `must be a duration such as "30s", "10m" or "168h", got %s`, describe(n))
		return
	}
	if _, err := time.ParseDuration(n.Value); err == nil {
		return
	}
	v := n.Value
	switch m := daysRE.FindStringSubmatch(v); {
	case m != nil:
		days, _ := strconv.Atoi(m[1])
		w.fail(path, n.Line, ErrWrongType, `invalid duration %q: durations have no days unit; write hours, e.g. "%dh"`, v, days*24)
	case isNumber(v):
		w.fail(path, n.Line, ErrWrongType, `invalid duration %q: a unit is required, e.g. "%ss"`, v, v)
	default:
		w.fail(path, n.Line, ErrWrongType, `invalid duration %q: write a number with a unit (ns, us, ms, s, m, h), e.g. "30s", "10m", "1h30m", "168h"`, v)
	}
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a single value"
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the yaml names of t's fields to the fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for name, f := range yamlFieldsInOrder(t) {
		out[name] = f
	}
	return out
}

// suggest returns `; did you mean "path.name"?` for the known key closest
// to key, or "" when none is close.
func suggest(key string, fields map[string]reflect.StructField, path string) string {
	best := textdist.Closest(key, maps.Keys(fields))
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", join(path, best))
}
