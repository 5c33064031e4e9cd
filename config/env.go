package config

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every environment variable that sets a key.
const EnvPrefix = "CHATWARDEN_"

// EnvVar is the environment variable that sets key: EnvPrefix and the key
// in upper case with dots as underscores, e.g. "nats.partitions" is
// CHATWARDEN_NATS_PARTITIONS and "livechat.pat.token" is
// CHATWARDEN_LIVECHAT_PAT_TOKEN.
func EnvVar(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// envKey is a key that an environment variable can set.
type envKey struct {
	key  string   // "livechat.pat.token"
	path []string // its names from the top: livechat, pat, token
	list bool     // a list of values, comma-separated in the variable
}

// envKeys are the keys settable from the environment, in the order of
// Config's fields: every setting of a single value (text, number, boolean,
// duration) or list of values, at any depth, then those of the registered
// platforms' sections (platforms.<name>.<key>, by platform name; a
// platform's name has no underscore, so CHATWARDEN_PLATFORMS_ACME_TOKEN is
// platforms.acme.token). Maps (livechat.organizations) and lists of
// mappings (secrets.keys) are not: they are set in the file.
func envKeys() []envKey {
	keys := configEnvKeys()
	for _, name := range slices.Sorted(maps.Keys(sectionTypes)) {
		t := reflect.TypeOf(sectionTypes[name]())
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct {
			keys = append(keys, collectEnvKeys(t, []string{"platforms", name})...)
		}
	}
	return keys
}

// configEnvKeys are envKeys of Config's own fields.
var configEnvKeys = sync.OnceValue(func() []envKey { return collectEnvKeys(configType, nil) })

func collectEnvKeys(t reflect.Type, path []string) []envKey {
	var out []envKey
	for name, f := range yamlFieldsInOrder(t) {
		p := append(slices.Clone(path), name)
		switch {
		case f.Type == durationType:
			out = append(out, envKey{key: strings.Join(p, "."), path: p})
		case f.Type.Kind() == reflect.Struct:
			out = append(out, collectEnvKeys(f.Type, p)...)
		case f.Type.Kind() == reflect.Map:
		case f.Type.Kind() == reflect.Slice:
			if k := f.Type.Elem().Kind(); k != reflect.Struct && k != reflect.Map && k != reflect.Slice {
				out = append(out, envKey{key: strings.Join(p, "."), path: p, list: true})
			}
		default:
			out = append(out, envKey{key: strings.Join(p, "."), path: p})
		}
	}
	return out
}

// yamlFieldsInOrder yields the yaml names and fields of struct t in
// declaration order.
func yamlFieldsInOrder(t reflect.Type) func(yield func(string, reflect.StructField) bool) {
	return func(yield func(string, reflect.StructField) bool) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if !yield(name, f) {
				return
			}
		}
	}
}

// EnvKeys lists every key an environment variable can set, with its
// variable, in the order of the configuration's sections.
func EnvKeys() (keys, vars []string) {
	for _, k := range envKeys() {
		keys = append(keys, k.key)
		vars = append(vars, EnvVar(k.key))
	}
	return keys, vars
}

// applyEnv sets in root (the document's top mapping) every key whose
// variable getenv gives a non-empty value, replacing the file's value. It
// returns the scalars it made (their values are taken as they are, never
// ${...}-expanded) and the variable of each key it set. A list variable is
// split at commas, each entry trimmed of spaces, empty entries dropped. A
// section that is not a mapping in the file is left for the walk to report.
func applyEnv(root *yaml.Node, getenv func(string) string) (made []*yaml.Node, vars map[string]string) {
	vars = map[string]string{}
	for _, k := range envKeys() {
		name := EnvVar(k.key)
		v := getenv(name)
		if v == "" {
			continue
		}
		parent := root
		for _, section := range k.path[:len(k.path)-1] {
			parent = childMapping(parent, section)
			if parent == nil {
				break
			}
		}
		if parent == nil {
			continue
		}
		var value *yaml.Node
		if k.list {
			value = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" {
					n := &yaml.Node{Kind: yaml.ScalarNode, Value: e}
					value.Content = append(value.Content, n)
					made = append(made, n)
				}
			}
		} else {
			value = &yaml.Node{Kind: yaml.ScalarNode, Value: v}
			made = append(made, value)
		}
		setMappingValue(parent, k.path[len(k.path)-1], value, 0)
		vars[k.key] = name
	}
	return made, vars
}

// childMapping returns the mapping under key in mapping n, adding an empty
// one when the key is missing or null, or nil when the value is something
// else. A value that is an alias, or an anchor, is replaced by a copy of
// the mapping, so that setting a key in it leaves the anchor's other uses
// alone.
func childMapping(n *yaml.Node, key string) *yaml.Node {
	i := pairIndex(n, key)
	if i < 0 {
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		setMappingValue(n, key, m, 0)
		return m
	}
	v := n.Content[i+1]
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v != n.Content[i+1] || v.Anchor != "" {
		c := *v
		c.Anchor = ""
		c.Content = slices.Clone(c.Content)
		n.Content[i+1] = &c
		v = &c
	}
	switch {
	case isNull(v):
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line}
		n.Content[i+1] = m
		return m
	case v.Kind == yaml.MappingNode:
		return v
	default:
		return nil
	}
}

// nameEnv sets the Env of every *FieldError in err (joined or wrapped)
// whose key an environment variable set (the key, or an entry of its list).
func nameEnv(err error, vars map[string]string) {
	switch e := err.(type) {
	case *FieldError:
		key, _, _ := strings.Cut(e.Key, "[")
		if name, ok := vars[key]; ok {
			e.Env = name
		}
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			nameEnv(x, vars)
		}
	case interface{ Unwrap() error }:
		nameEnv(e.Unwrap(), vars)
	}
}
