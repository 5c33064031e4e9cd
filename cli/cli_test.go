package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// helper marks the caller as a test helper when t is a *testing.T; the
// helpers that take a require.TestingT also take the *assert.CollectT of an
// EventuallyWithT condition, so that a transient error is retried rather
// than fatal.
func helper(t require.TestingT) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

func runCLI(t require.TestingT, args ...string) (stdout, stderr string, code int) {
	helper(t)
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, args, func(string) string { return "" }, &out, &errb)
	return out.String(), errb.String(), ExitCode(err)
}

func TestUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no subcommand", nil, 2, "Usage:", "a subcommand is required"},
		{"unknown subcommand", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"unknown flag", []string{"serve", "--frobnicate"}, 2, "", "unknown flag: --frobnicate"},
		{"stray argument", []string{"version", "extra"}, 2, "", "takes no arguments"},
		{"version", []string{"version"}, 0, "chatwarden dev", ""},
		{"help", []string{"--help"}, 0, "Available Commands", ""},
		{"missing config file", []string{"serve", "--config", "/nonexistent/chatwarden.yaml"}, 1, "", "/nonexistent/chatwarden.yaml"},
	}
	for _, sub := range []string{"serve", "receive", "work", "demo", "version", "healthcheck"} {
		tests = append(tests, struct {
			name       string
			args       []string
			wantCode   int
			wantStdout string
			wantStderr string
		}{"help of " + sub, []string{sub, "--help"}, 0, "--config", ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tt.args...)
			assert.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stdout, tt.wantStdout)
			assert.Contains(t, stderr, tt.wantStderr)
		})
	}
}

func TestInvalidConfigNamesTheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("nats: {partitions: 0, duplicate_window: 7d}\nhttp: {adress: x}\n"), 0o600))
	_, stderr, code := runCLI(t, "serve", "--config", path)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "adress")
}

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer bad.Close()

	stdout, _, code := runCLI(t, "healthcheck", "--url", ok.URL)
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "ok")
	_, stderr, code := runCLI(t, "healthcheck", "--url", bad.URL)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "503")
	_, _, code = runCLI(t, "healthcheck", "--url", "http://127.0.0.1:1/healthz", "--timeout", "500ms")
	assert.Equal(t, 1, code)
}

func TestDemo(t *testing.T) {
	stdout, stderr, code := runCLI(t, "demo")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	for _, want := range []string{
		"incoming_chat", "200 OK", "401 Unauthorized",
		"holds 3 events",
		"acted", "skipped",
		"update_chat_properties",
		"CHAT-PINNED is unpinned",
	} {
		assert.Contains(t, stdout, want)
	}
	assert.Equal(t, 1, strings.Count(stdout, "update_chat_properties"), "one unpin call:\n%s", stdout)
}

// netnsEnv marks the run of TestServeWithNoConfigurationAtAll inside its own
// network namespace.
const netnsEnv = "CHATWARDEN_TEST_IN_NETNS"

// TestServeWithNoConfigurationAtAll runs `serve` with no file in an empty
// working directory: embedded NATS under ./data, HTTP on :8080, the admin
// listener on 127.0.0.1:9090. Those fixed ports may be taken on the machine,
// so the test runs itself again in a network namespace of its own where it
// can (Linux as root, or where unprivileged user namespaces are allowed).
// Where it cannot, it runs here when the ports are free; when one is taken
// it fails under CI=true naming the process that holds it, and skips,
// saying so, elsewhere.
func TestServeWithNoConfigurationAtAll(t *testing.T) {
	if os.Getenv(netnsEnv) != "" {
		require.NoError(t, loopbackUp())
	} else {
		started, out, err := runInNetNS(t, t.Name())
		if started {
			// Prefixed so that go test -json does not read the inner
			// run's "--- PASS" lines as this test's.
			report := "run in its own network namespace:\n" + prefixLines(out, "netns| ")
			require.NoError(t, err, report)
			require.Contains(t, out, "--- PASS: "+t.Name(), report)
			t.Log("passed in its own network namespace")
			return
		}
		t.Logf("no network namespace (%v): running on this machine's ports", err)
	}
	for _, port := range []int{8080, 4222, 9090} {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			msg := fmt.Sprintf("port %d is in use here, held by %s (%v); cannot check the zero-configuration start", port, portHolder(port), err)
			if os.Getenv("CI") == "true" || os.Getenv(netnsEnv) != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		l.Close()
	}
	dir := t.TempDir()
	t.Chdir(dir)
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"serve"}, func(string) string { return "" }, &bytes.Buffer{}, stderr)
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://127.0.0.1:8080/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "log:\n%s", stderr)
	status := func(url string) int {
		resp, err := http.Get(url)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusNotFound, status("http://127.0.0.1:8080/metrics"), "metrics are not on the public port")
	assert.Equal(t, http.StatusForbidden, status("http://127.0.0.1:9090/metrics"), "metrics need a token by default")
	assert.Equal(t, http.StatusForbidden, status("http://127.0.0.1:9090/admin/dlq"), "no token: the admin API is off")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	_, err := os.Stat(filepath.Join(dir, "data", "jetstream"))
	assert.NoError(t, err, "JetStream data under ./data")
	assert.Contains(t, stderr.String(), "livechat.webhook_secrets is empty")
}

// prefixLines puts prefix before every line of text.
func prefixLines(text, prefix string) string {
	lines := strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n")
	return prefix + strings.Join(lines, prefix)
}
