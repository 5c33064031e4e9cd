package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// movedKeys maps a setting's old key to its new one. A file that still uses
// the old key keeps working: Parse reads the value as the new key and
// WarningsFor says to rename it. Both keys in one file is an error.
var movedKeys = []struct{ old, new string }{
	{"http.admin_token", "admin.token"},
}

// moveKeys rewrites root (the document's top mapping) so that every moved
// key stands under its new name, and returns a warning for each one moved.
// Only keys written directly in their section's mapping are moved (not
// through a << merge).
func moveKeys(root *yaml.Node) (warnings []string, errs []error) {
	if root.Kind != yaml.MappingNode {
		return nil, nil
	}
	for _, m := range movedKeys {
		oldSection, oldName, _ := strings.Cut(m.old, ".")
		newSection, newName, _ := strings.Cut(m.new, ".")
		from := mappingValue(root, oldSection)
		if from == nil || from.Kind != yaml.MappingNode {
			continue
		}
		i := pairIndex(from, oldName)
		if i < 0 {
			continue
		}
		key, value := from.Content[i], from.Content[i+1]
		to := mappingValue(root, newSection)
		if to == nil || isNull(to) {
			to = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: key.Line, Column: key.Column}
			setMappingValue(root, newSection, to, key.Line)
		}
		if to.Kind != yaml.MappingNode {
			continue // the walk reports the wrong shape of the new section
		}
		if j := pairIndex(to, newName); j >= 0 {
			errs = append(errs, fieldErr(m.new, to.Content[j].Line, ErrDuplicateKey,
				"also given under its old name %s (line %d); keep %s only", m.old, key.Line, m.new))
			continue
		}
		from.Content = append(from.Content[:i:i], from.Content[i+2:]...)
		renamed := *key
		renamed.Value = newName
		to.Content = append(to.Content, &renamed, value)
		warnings = append(warnings, fmt.Sprintf("%s (line %d) has moved to %s; it is still read under its old name: rename it", m.old, key.Line, m.new))
	}
	return warnings, errs
}

// mappingValue is the value of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if i := pairIndex(n, key); i >= 0 {
		v := n.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			return v.Alias
		}
		return v
	}
	return nil
}

// setMappingValue sets key to v in mapping n, adding the pair when missing.
func setMappingValue(n *yaml.Node, key string, v *yaml.Node, line int) {
	if i := pairIndex(n, key); i >= 0 {
		n.Content[i+1] = v
		return
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, Line: line}
	n.Content = append(n.Content, k, v)
}

// pairIndex is the index in n.Content of the key node named key, or -1.
func pairIndex(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key && k.Tag != "!!merge" {
			return i
		}
	}
	return -1
}
