package yamlline

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestFix parses broken documents with yaml.v3 and checks that the corrected
// error names the line the problem is on (or, for an unclosed bracket, the
// line that opened it).
func TestFix(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"key indented less than its mapping", "a: 1\nb:\n  c: 1\n d: 2\n", "yaml: line 4: did not find expected key"},
		{"list item inside a mapping", "a: 1\nb: 2\n- c\n", "yaml: line 3: did not find expected key"},
		{"unclosed [ names its line", "a: 1\nb: 2\nc: [1, 2\nd: 4\n", "yaml: line 3: did not find expected ',' or ']'"},
		{"unclosed { names its line", "a: 1\nb: {x: 1\nc: 2\n", "yaml: line 2: did not find expected ',' or '}'"},
		{"list that stops early", "rules:\n  - name: r1\n  on: x\n", "yaml: line 2: did not find expected '-' indicator"},
		{"[ at the end, no final newline", "rules:\n  - name: r1\n    on: [", "yaml: line 3: did not find expected node content"},
		{"[ at the end, final newline", "rules:\n  - name: r1\n    on: [\n", "yaml: line 3: did not find expected node content"},
		// Scanner errors are counted from 1 already.
		{"scanner: mapping in a value", "a: 1\nb: 2\nc: d: e\n", "yaml: line 3: mapping values are not allowed in this context"},
		{"scanner: tab continuing the plain scalar of line 2", "a: 1\nb: 2\n\tc: 3\n", "yaml: line 2: found a tab character that violates indentation"},
		{"scanner: bad character", "a: 1\nb: 2\nc: @x\n", "yaml: line 3: found character that cannot start any token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tt.doc), &n)
			require.Error(t, err)
			assert.EqualError(t, Fix([]byte(tt.doc), err), tt.want)
		})
	}
}

func TestFixLeavesOtherErrors(t *testing.T) {
	other := errors.New("yaml: unmarshal errors:\n  line 2: cannot unmarshal")
	assert.Same(t, other, Fix(nil, other))
	assert.NoError(t, Fix(nil, nil))
}
