package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-shellwords"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/demo"
)

// keptDemo is a `demo --keep` running in this process, with what it printed.
type keptDemo struct {
	out     *syncBuffer
	stderr  *syncBuffer
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run returned, with err set
	err     error
	cfgPath string
	cmds    [][]string // the printed command lines, split as a shell would
}

// startKeptDemo runs `demo --keep` until it has printed its commands.
func startKeptDemo(t *testing.T, args ...string) *keptDemo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &keptDemo{out: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		d.err = Run(ctx, append([]string{"demo", "--keep"}, args...), func(string) string { return "" }, d.out, d.stderr)
		close(d.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(time.Minute):
		}
	})
	// The last printed command marks the end of the listing. The scripted
	// part waits up to 20s for decisions and 20s for the dead letter; a
	// loaded 2-core CI machine under -race gets twice that.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		select {
		case <-d.done:
			assert.Fail(c, "demo --keep ended", "err %v\nstdout:\n%s\nstderr:\n%s", d.err, d.out, d.stderr)
			return
		default:
		}
		assert.Contains(c, d.out.String(), "/admin/dlq\n")
	}, 90*time.Second, 50*time.Millisecond, "stdout:\n%s\nstderr:\n%s", d.out, d.stderr)

	for _, line := range strings.Split(d.out.String(), "\n") {
		if p, ok := strings.CutPrefix(line, "  configuration       "); ok {
			d.cfgPath = strings.TrimSpace(p)
		}
		if cmd, ok := strings.CutPrefix(line, demo.CommandPrefix); ok {
			words, err := shellwords.Parse(cmd)
			require.NoError(t, err, "printed command %q", cmd)
			d.cmds = append(d.cmds, words)
		}
	}
	require.NotEmpty(t, d.cfgPath, "the configuration file is printed:\n%s", d.out)
	return d
}

// command returns the printed chatwarden command whose arguments start with
// prefix (without "chatwarden"), failing when there is none.
func (d *keptDemo) command(t *testing.T, prefix ...string) []string {
	t.Helper()
	for _, words := range d.cmds {
		if words[0] == "chatwarden" && len(words) > len(prefix) && slicesHasPrefix(words[1:], prefix) {
			return words[1:]
		}
	}
	t.Fatalf("no printed command starts with chatwarden %s:\n%s", strings.Join(prefix, " "), d.out)
	return nil
}

// curl returns the printed curl command whose arguments contain marker.
func (d *keptDemo) curl(t *testing.T, marker string) []string {
	t.Helper()
	for _, words := range d.cmds {
		if words[0] == "curl" && strings.Contains(strings.Join(words, " "), marker) {
			return words
		}
	}
	t.Fatalf("no printed curl with %q:\n%s", marker, d.out)
	return nil
}

func slicesHasPrefix(s, prefix []string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := range prefix {
		if s[i] != prefix[i] {
			return false
		}
	}
	return true
}

// flagValue is the value after flag in args.
func flagValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	t.Fatalf("no %s in %q", flag, args)
	return ""
}

// TestDemoKeepIsASandbox starts `demo --keep`, runs the commands it prints
// against it as printed, checks what they answer, then stops it with the
// context (as Ctrl-C / SIGTERM do through main) and checks that it exits
// cleanly and removes its directory.
func TestDemoKeepIsASandbox(t *testing.T) {
	d := startKeptDemo(t)
	dir := filepath.Dir(d.cfgPath)
	_, err := os.Stat(d.cfgPath)
	require.NoError(t, err, "the printed configuration file exists")

	run := func(t require.TestingT, args []string) string {
		stdout, stderr, code := runCLI(t, args...)
		require.Equal(t, 0, code, "chatwarden %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), stdout, stderr)
		assert.NotContains(t, stderr, "no service reachable", "the command reached the running demo")
		return stdout
	}

	t.Run("sweep dry run lists the seeded chats", func(t *testing.T) {
		out := run(t, d.command(t, "sweep", "livechat-unassigned", "--dry-run"))
		assert.Contains(t, out, "dry run: 300 chats would be handed to the workers")
		assert.Contains(t, out, demo.SeededChat(1))
		assert.Contains(t, out, demo.SeededChat(300))
	})

	t.Run("posting the printed webhook unpins the chat, audit says why", func(t *testing.T) {
		curl := d.curl(t, "/webhooks/livechat")
		body := flagValue(t, curl, "--data-binary")
		resp, err := http.Post(curl[len(curl)-1], "application/json", bytes.NewReader([]byte(body)))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		auditChat := d.command(t, "audit", "--chat")
		assert.Equal(t, demo.SeededChat(2), auditChat[2])
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			stdout, _, code := runCLI(c, auditChat...)
			assert.Equal(c, 0, code)
			assert.Regexp(c, demo.SeededChat(2)+`\s+chat_deactivated\s+unpin-abandoned-unassigned\s+livechat.unpin\s+acted`, stdout)
		}, 30*time.Second, 100*time.Millisecond)
		assert.Contains(t, run(t, d.command(t, "audit", "--config")), "CHAT-PINNED", "the scripted part's decisions")
	})

	t.Run("dlq list shows the dead letter and retry clears it", func(t *testing.T) {
		out := run(t, d.command(t, "dlq", "list"))
		assert.Contains(t, out, demo.SeededChat(1))
		assert.Contains(t, out, "validation")
		run(t, d.command(t, "dlq", "retry", "--all"))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			stdout, _, code := runCLI(c, "audit", "--chat", demo.SeededChat(1), "--config", d.cfgPath)
			assert.Equal(c, 0, code)
			assert.Regexp(c, `livechat.unpin\s+acted`, stdout, "the retried event was applied")
		}, 30*time.Second, 100*time.Millisecond)
	})

	t.Run("webhooks register and list against the fake", func(t *testing.T) {
		reg := d.command(t, "webhooks", "register")
		out := run(t, reg)
		assert.Regexp(t, `chat_deactivated\s+-\s+\S+\s+registered`, out)
		assert.Contains(t, out, "license webhooks of client demo-app: enabled")
		out = run(t, d.command(t, "webhooks", "list"))
		assert.Contains(t, out, "chat_deactivated")
		assert.Contains(t, out, flagValue(t, reg, "--url")+"/webhooks/livechat")
	})

	t.Run("rules check, replay and config print", func(t *testing.T) {
		assert.Contains(t, run(t, d.command(t, "rules", "check")), "1 rule, 0 warnings, all valid")
		assert.Contains(t, run(t, d.command(t, "replay")), "(dry run)")
		out := run(t, d.command(t, "config", "print"))
		assert.Contains(t, out, "owner_client_id: demo-app")
	})

	t.Run("the admin API answers the printed token", func(t *testing.T) {
		curl := d.curl(t, "/admin/dlq")
		req, err := http.NewRequest(http.MethodGet, curl[len(curl)-1], nil)
		require.NoError(t, err)
		k, v, _ := strings.Cut(flagValue(t, curl, "-H"), ": ")
		req.Header.Set(k, v)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		m := regexp.MustCompile(`console\s+(\S+/ui/)`).FindStringSubmatch(d.out.String())
		require.Len(t, m, 2, "the console URL is printed")
		resp, err = http.Get(m[1])
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("sweep hands chats to the workers, which unpin them", func(t *testing.T) {
		out := run(t, d.command(t, "sweep", "livechat-unassigned", "--limit"))
		assert.Regexp(t, `found\s+20\b`, out)
		assert.Regexp(t, `unpinned\s+20\b`, out)
	})

	d.cancel()
	select {
	case <-d.done:
		require.NoError(t, d.err, "stdout:\n%s\nstderr:\n%s", d.out, d.stderr)
	case <-time.After(time.Minute):
		t.Fatal("demo --keep did not stop within a minute of its context ending")
	}
	assert.Contains(t, d.out.String(), "removed the demo's directory "+dir)
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "the temporary directory is removed")
}

func TestDemoFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     DemoOptions
		wantErr  string
	}{
		{"defaults", nil, 0, DemoOptions{Chats: demo.DefaultChats}, ""},
		{"keep", []string{"--keep", "--chats", "50", "-v"}, 0, DemoOptions{Keep: true, Chats: 50, Verbose: true}, ""},
		{"no chats", []string{"--keep", "--chats", "0"}, 2, DemoOptions{}, "--chats must be between 1 and"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(newCmdDemo, tt.args...)
			assert.Equal(t, tt.wantCode, ExitCode(err), "err %v", err)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, got, "bad usage runs nothing")
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, tt.want.Keep, got.Keep)
			assert.Equal(t, tt.want.Chats, got.Chats)
			assert.Equal(t, tt.want.Verbose, got.Verbose)
		})
	}
}
