package layout

import (
	"go/build"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/chatwarden/chatwarden"

// deps returns the packages of this module that pkg (a path inside the
// module) imports, directly or not, from its non-test files.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	seen := map[string]bool{}
	var walk func(path string)
	walk = func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		p, err := build.ImportDir(filepath.Join(root, strings.TrimPrefix(strings.TrimPrefix(path, module), "/")), 0)
		require.NoError(t, err, path)
		for _, imp := range p.Imports {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				walk(imp)
			}
		}
	}
	walk(module + "/" + pkg)
	delete(seen, module+"/"+pkg)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, strings.TrimPrefix(p, module+"/"))
	}
	slices.Sort(out)
	return out
}

// The rule engine knows no platform (issue 21, point 2): the platforms'
// actions, error classification and enrichment live in their adapters
// (platform/<name>), which import rules, not the other way round. The
// check follows imports through the whole module, so no package that rules
// uses may import a platform client either.
func TestRulesImportsNoPlatform(t *testing.T) {
	got := deps(t, "rules")
	require.Contains(t, got, "event", "the walk follows rules' imports")
	for _, d := range got {
		for _, platform := range []string{"livechat", "helpcrunch", "rocketchat", "platform"} {
			assert.False(t, d == platform || strings.HasPrefix(d, platform+"/"), "rules imports %s (through %v)", d, got)
		}
	}
}
