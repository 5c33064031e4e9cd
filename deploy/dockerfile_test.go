package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	stage int    // index of the FROM it belongs to
	cmd   string // upper case: FROM, RUN, ...
	args  string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var (
		out   []instruction
		stage = -1
		cur   strings.Builder
	)
	for line := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{stage: stage, cmd: cmd, args: strings.TrimSpace(args)})
	}
	require.Zero(t, cur.Len(), "the Dockerfile ends inside a continued line")
	return out
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "../Dockerfile")
	last := ins[len(ins)-1].stage
	require.Positive(t, last, "multi-stage: a build stage and a final stage")

	final := func(cmd string) []string {
		var out []string
		for _, in := range ins {
			if in.stage == last && in.cmd == cmd {
				out = append(out, in.args)
			}
		}
		return out
	}
	all := func(cmd string) []string {
		var out []string
		for _, in := range ins {
			if in.cmd == cmd {
				out = append(out, in.args)
			}
		}
		return out
	}
	exec := func(t *testing.T, args string) []string {
		t.Helper()
		var v []string
		require.NoError(t, json.Unmarshal([]byte(args), &v), "exec form (JSON array): %s", args)
		return v
	}

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"builds with Go 1.26", func(t *testing.T) {
			assert.Regexp(t, `^golang:1\.26\S* AS build$`, all("FROM")[0])
		}},
		{"builds ./cmd/chatwarden statically", func(t *testing.T) {
			var build string
			for _, r := range all("RUN") {
				if strings.Contains(r, "go build") {
					build = r
				}
			}
			require.NotEmpty(t, build, "a RUN with go build")
			assert.Contains(t, build, "CGO_ENABLED=0")
			assert.Contains(t, build, "-trimpath")
			assert.Contains(t, build, "-X github.com/chatwarden/chatwarden/cli.Version=${VERSION}")
			assert.Regexp(t, `-o /chatwarden \./cmd/chatwarden$`, build)
		}},
		{"final stage is distroless or scratch", func(t *testing.T) {
			from := final("FROM")
			require.Len(t, from, 1)
			assert.Regexp(t, `^(gcr\.io/distroless/static\S*|scratch)$`, from[0])
		}},
		{"runs as a non-root user", func(t *testing.T) {
			users := final("USER")
			require.NotEmpty(t, users, "the final stage sets USER")
			user, _, _ := strings.Cut(users[len(users)-1], ":")
			assert.NotContains(t, []string{"root", "0", ""}, user)
		}},
		{"exposes 8080", func(t *testing.T) {
			assert.Contains(t, final("EXPOSE"), "8080")
		}},
		{"entrypoint is the binary, serve by default", func(t *testing.T) {
			ep, cmd := final("ENTRYPOINT"), final("CMD")
			require.Len(t, ep, 1)
			require.Len(t, cmd, 1)
			assert.Equal(t, []string{"/chatwarden"}, exec(t, ep[0]))
			assert.Equal(t, []string{"serve"}, exec(t, cmd[0]))
		}},
		{"health check uses the binary", func(t *testing.T) {
			hc := final("HEALTHCHECK")
			require.Len(t, hc, 1)
			_, probe, ok := strings.Cut(hc[0], "CMD ")
			require.True(t, ok, hc[0])
			assert.Equal(t, []string{"/chatwarden", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"}, exec(t, probe))
		}},
		{"copies the binary from the build stage", func(t *testing.T) {
			assert.Contains(t, final("COPY"), "--from=build /chatwarden /chatwarden")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile("../.dockerignore")
	require.NoError(t, err)
	lines := regexp.MustCompile(`(?m)^\s*([^#\s]\S*)\s*$`).FindAllStringSubmatch(string(data), -1)
	var patterns []string
	for _, m := range lines {
		patterns = append(patterns, m[1])
	}
	for _, want := range []string{".git", ".env", "data/"} {
		assert.Contains(t, patterns, want, "keep %s out of the build context", want)
	}
	for _, p := range patterns {
		assert.NotContains(t, []string{"go.mod", "go.sum", "cmd", "*.go", "**/*.go", "."}, p, "the build needs it")
	}
}
