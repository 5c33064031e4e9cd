package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

func TestSweepUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no kind", []string{"sweep"}, 2, "Usage:", "a kind of sweep is required: livechat-unassigned"},
		{"unknown kind", []string{"sweep", "helpcrunch-open"}, 2, "", `unknown kind of sweep "helpcrunch-open"`},
		{"help", []string{"sweep", "--help"}, 0, "--config", ""},
		{"help of the kind", []string{"sweep", "livechat-unassigned", "--help"}, 0, "--older-than", ""},
		{"help lists every flag", []string{"sweep", "livechat-unassigned", "--help"}, 0, "--max-rate", ""},
		{"bad duration", []string{"sweep", "livechat-unassigned", "--older-than", "2d"}, 2, "", "invalid argument"},
		{"negative limit", []string{"sweep", "livechat-unassigned", "--limit", "-1"}, 2, "", "--limit must be 0 (no cap) or more"},
		{"zero concurrency", []string{"sweep", "livechat-unassigned", "--concurrency", "0"}, 2, "", "--concurrency must be between 1 and 10000"},
		{"negative rate", []string{"sweep", "livechat-unassigned", "--max-rate", "-2"}, 2, "", "--max-rate must be 0 (no cap) or a positive number"},
		{"negative group", []string{"sweep", "livechat-unassigned", "--group", "-1"}, 2, "", "--group must be a group id"},
		{"unknown organization", []string{"sweep", "livechat-unassigned", "--organization", "org-x"}, 2, "", `--organization "org-x" is not in livechat.organizations`},
		{"stray argument", []string{"sweep", "livechat-unassigned", "now"}, 2, "", "takes no arguments"},
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

// sweepFake is the fake LiveChat with two chats Unassigned for three days,
// one for an hour, and one assigned.
func sweepFake(t *testing.T) (*livechattest.Server, string) {
	t.Helper()
	fake := livechattest.New(livechattest.WithAuth("acc-1", "pat-1"))
	url, stop := fake.Start()
	t.Cleanup(stop)
	old := time.Now().Add(-72 * time.Hour)
	for i, id := range []string{"OLD1", "OLD2"} {
		c := livechattest.UnassignedChat(id, old.Add(time.Duration(i)*time.Minute))
		c.Thread.Events = []livechat.Event{{ID: "e1", Type: "message", Text: "hello?", CreatedAt: old.Add(time.Minute)}}
		fake.AddChat(c)
	}
	fake.AddChat(livechattest.UnassignedChat("YOUNG", time.Now().Add(-time.Hour)))
	assigned := livechattest.UnassignedChat("ASSIGNED", old)
	assigned.Thread.Properties["routing"]["unassigned"] = false
	fake.AddChat(assigned)
	return fake, url
}

func TestSweepDryRunChangesNothing(t *testing.T) {
	fake, url := sweepFake(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "chatwarden.yaml")
	// No service runs and nats.data_dir holds nothing: a dry run needs
	// neither.
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`
nats: {listen: off, data_dir: %q}
livechat: {api_url: %q, pat: {account_id: acc-1, token: pat-1}}
`, filepath.Join(dir, "data"), url)), 0o600))

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, stdout string)
	}{
		{"table", nil, func(t *testing.T, stdout string) {
			assert.Contains(t, stdout, "CHAT")
			assert.Contains(t, stdout, "LAST MESSAGE")
			assert.Regexp(t, `OLD1\s+TOLD1\s+0\s+3d\s+`, stdout)
			assert.Contains(t, stdout, "OLD2")
			assert.NotContains(t, stdout, "YOUNG")
			assert.NotContains(t, stdout, "ASSIGNED")
			assert.Contains(t, stdout, "dry run: 2 chats would be handed to the workers (pinned and unassigned, started 2d ago or earlier, every group); nothing was changed")
		}},
		{"any age", []string{"--older-than", "0s"}, func(t *testing.T, stdout string) {
			assert.Contains(t, stdout, "YOUNG")
			assert.Contains(t, stdout, "dry run: 3 chats would be handed to the workers (pinned and unassigned, any age, every group)")
		}},
		{"json", []string{"--json"}, func(t *testing.T, stdout string) {
			var res struct {
				DryRun bool `json:"dry_run"`
				Found  int  `json:"found"`
				Chats  []struct {
					ID            string    `json:"id"`
					AgeSeconds    int64     `json:"age_seconds"`
					LastMessageAt time.Time `json:"last_message_at"`
				} `json:"chats"`
			}
			require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
			assert.True(t, res.DryRun)
			assert.Equal(t, 2, res.Found)
			require.Len(t, res.Chats, 2)
			assert.Equal(t, "OLD1", res.Chats[0].ID, "oldest first")
			assert.Greater(t, res.Chats[0].AgeSeconds, int64(71*3600))
			assert.False(t, res.Chats[0].LastMessageAt.IsZero())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.ResetCalls()
			stdout, stderr, code := runCLI(t, append([]string{"sweep", "livechat-unassigned", "--config", path, "--dry-run"}, tt.args...)...)
			require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
			tt.check(t, stdout)
			for _, c := range fake.Calls() {
				assert.Equal(t, "list_archives", c.Action, "a dry run only lists")
			}
			for _, c := range fake.Chats() {
				assert.True(t, c.Pinned(), "chat %s unchanged", c.ID)
			}
			_, err := os.Stat(filepath.Join(dir, "data", "jetstream"))
			assert.True(t, os.IsNotExist(err), "no broker started, nothing stored")
		})
	}
}

// TestSweepCommandAgainstServe runs the command while `serve` runs: its
// summary must match what the fake recorded, and a second run finds nothing
// left to do.
func TestSweepCommandAgainstServe(t *testing.T) {
	fake, url := sweepFake(t)
	fake.AddChat(livechattest.UnassignedChat("REFUSED", time.Now().Add(-96*time.Hour)))
	rulesFile := writeFile(t, "rules.yaml", "rules: []\n")
	_, _, path, _ := runServeConfig(t, fmt.Sprintf(`
rules_file: %s
livechat: {api_url: %q, pat: {account_id: acc-1, token: pat-1}}
workers: {backoff_base: 20ms, backoff_max: 200ms}
sweep: {wait: 30s}
`, rulesFile, url), nil)
	// The oldest chat is handed over first; the API refuses its unpin.
	fake.FailNext("update_chat_properties", 1, livechattest.Validation("properties.routing.pinned: refused"))

	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, []string{"sweep", "livechat-unassigned", "--config", path, "--concurrency", "1"}, func(string) string { return "" }, &out, &errb)
	require.Error(t, err, "a failed chat fails the command; stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	assert.Equal(t, 1, ExitCode(err))
	stdout := out.String()
	t.Log("\n" + stdout + "\nstderr:\n" + errb.String())
	assert.Regexp(t, `found\s+3\s`, stdout)
	assert.Regexp(t, `unpinned\s+2\s`, stdout)
	assert.Regexp(t, `skipped\s+0\s`, stdout)
	assert.Regexp(t, `failed\s+1\s+dead letters: chatwarden dlq list --since 1m`, stdout)
	assert.Contains(t, stdout, "details: chatwarden audit --rule sweep-unpin-unassigned --since 1m")
	assert.Contains(t, errb.String(), "1 of 3 chats failed")
	assert.Contains(t, errb.String(), "sweep: ", "plain progress lines when stderr is not a terminal")

	var unpinned []string
	for _, c := range fake.Chats() {
		if !c.Pinned() {
			unpinned = append(unpinned, c.ID)
		}
	}
	assert.Equal(t, []string{"OLD1", "OLD2"}, unpinned, "the summary matches the fake")

	// Again: the refused chat is still pinned and listed, but its event is
	// already stored (and dead-lettered): not handled twice.
	out.Reset()
	errb.Reset()
	err = Run(ctx, []string{"sweep", "livechat-unassigned", "--config", path, "--json"}, func(string) string { return "" }, &out, &errb)
	require.Error(t, err)
	var res struct {
		Found         int `json:"found"`
		Published     int `json:"published"`
		AlreadyQueued int `json:"already_queued"`
		Decisions     struct {
			Unpinned, Failed, Pending int
		} `json:"decisions"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Equal(t, 1, res.Found)
	assert.Equal(t, 0, res.Published)
	assert.Equal(t, 1, res.AlreadyQueued)
	assert.Equal(t, 1, res.Decisions.Failed)
	assert.Len(t, fake.CallsTo("update_chat_properties"), 3, "no call repeated")
}

// TestSweepWithoutAService stores the events in nats.data_dir when no
// service runs, and says they are handled when one starts.
func TestSweepWithoutAService(t *testing.T) {
	_, url := sweepFake(t)
	dir := t.TempDir()
	natsCfg := config.NATS{DataDir: filepath.Join(dir, "data"), Listen: config.ListenOff, Partitions: 16,
		DuplicateWindow: time.Minute, Retention: time.Hour, Replicas: 1, Name: "test"}
	b, err := bus.Open(context.Background(), natsCfg)
	require.NoError(t, err)
	require.NoError(t, bus.ProvisionStreams(context.Background(), b.JS, bus.StreamSettings{Partitions: 16,
		DuplicateWindow: time.Minute, Retention: time.Hour, Replicas: 1}))
	require.NoError(t, b.Close(context.Background()))

	path := writeFile(t, "chatwarden.yaml", fmt.Sprintf(`
nats: {listen: off, data_dir: %q, duplicate_window: 1m, retention: 1h}
livechat: {api_url: %q, pat: {account_id: acc-1, token: pat-1}}
`, natsCfg.DataDir, url))
	stdout, stderr, code := runCLI(t, "sweep", "livechat-unassigned", "--config", path)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
	assert.Regexp(t, `stored\s+2\s`, stdout)
	assert.Contains(t, stdout, "no chatwarden service is running: the events are stored in "+natsCfg.DataDir)

	b, err = bus.Open(context.Background(), natsCfg)
	require.NoError(t, err)
	defer b.Close(context.Background())
	st, err := b.JS.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err)
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter("chatwarden.events.livechat.sweep_unassigned.>"))
	require.NoError(t, err)
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	assert.Equal(t, uint64(2), n, "one event per chat, waiting for the workers")
}

// TestSweepOptions checks that the flags land in SweepOptions and that only
// the given ones count as set (the others take the configuration).
func TestSweepOptions(t *testing.T) {
	got, err := parseOptions(newCmdSweepUnassigned, "--dry-run", "--limit", "5", "--group", "2", "--group", "7", "--json", "--config", "x.yaml")
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.True(t, got.DryRun)
	assert.True(t, got.JSON)
	assert.Equal(t, 5, got.Limit)
	assert.Equal(t, []int{2, 7}, got.Groups)
	assert.Equal(t, "x.yaml", got.ConfigPath)
	assert.True(t, got.Set("limit"))
	assert.False(t, got.Set("older-than"), "not given: sweep.older_than applies")
	s, err := got.apply(config.Sweep{OlderThan: 72 * time.Hour, Limit: 100})
	require.NoError(t, err)
	assert.Equal(t, config.Sweep{OlderThan: 72 * time.Hour, Limit: 5, Groups: []int{2, 7}}, s)
}
