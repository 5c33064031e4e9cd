package cli

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setVersion sets Version as -ldflags would, for the length of the test.
func setVersion(t *testing.T, v string) {
	t.Helper()
	old := Version
	Version = v
	t.Cleanup(func() { Version = old })
}

func TestVersionCommandAndFlag(t *testing.T) {
	tests := []struct {
		name      string
		ldflags   string
		args      []string
		wantFirst string
	}{
		{"version subcommand", "v9.9.9-test", []string{"version"}, "chatwarden v9.9.9-test"},
		{"--version flag", "v9.9.9-test", []string{"--version"}, "chatwarden v9.9.9-test"},
		{"-v shorthand", "v9.9.9-test", []string{"-v"}, "chatwarden v9.9.9-test"},
		// A test binary records no module version or VCS settings.
		{"no -ldflags version", "dev", []string{"--version"}, "chatwarden dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setVersion(t, tt.ldflags)
			stdout, stderr, code := runCLI(t, tt.args...)
			require.Equal(t, 0, code, "stderr: %s", stderr)
			assert.Empty(t, stderr)
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			require.Len(t, lines, 4, stdout)
			assert.Equal(t, tt.wantFirst, lines[0])
			assert.Equal(t, "  revision:    unknown", lines[1], "go test binaries carry no VCS settings")
			assert.Equal(t, "  commit time: unknown", lines[2])
			assert.Equal(t, fmt.Sprintf("  go:          %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH), lines[3])
		})
	}
}

func TestBuildInfoMetric(t *testing.T) {
	setVersion(t, "v9.9.9-test")
	srv := serveCLI(t, "", nil)
	resp, err := http.Get(srv.Admin + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	m, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(m),
		fmt.Sprintf(`chatwarden_build_info{go_version=%q,revision="unknown",version="v9.9.9-test"} 1`, runtime.Version()))
	assert.Equal(t, 1, strings.Count(string(m), "chatwarden_build_info{"), "one series: the -ldflags version replaced the module's")
}
