package config

import (
	"reflect"
	"strings"
)

// allKeys lists the dotted keys of every leaf setting of t (maps and lists
// count as leaves).
func allKeys(t reflect.Type, path string) []string {
	var out []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		key := join(path, name)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			out = append(out, allKeys(f.Type, key)...)
			continue
		}
		out = append(out, key)
	}
	return out
}
