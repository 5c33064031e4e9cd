package rulestest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/platform"
	_ "github.com/chatwarden/chatwarden/platform/all"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/rules/rulestest"
	"github.com/chatwarden/chatwarden/samples"
)

const ruleFile = `rules:
  - name: unpin
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
  - name: later
    on: [livechat.chat_deactivated]
    after: 1h
    then:
      - livechat.unpin: {}
`

// TestRunFile runs one saved webhook per case through the rules against the
// fake API and checks the outcomes, the calls and the verdict.
func TestRunFile(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(ruleFile), 0o600))
	set, err := rules.LoadFile(rulesPath, platform.Actions(), rules.DefaultRegistry())
	require.NoError(t, err)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	pinned := livechattest.UnassignedChat("C1", now.Add(-72*time.Hour))

	tests := []struct {
		name           string
		action, chat   string
		chats          []livechat.Chat
		expect         string
		wantOutcomes   map[string]string
		wantUnexpected []string
		wantChecks     []rulestest.Check
		wantCalls      []string // actions called besides get_chat
		wantOK         bool
	}{
		{name: "acts and schedules, as expected", action: "chat_deactivated", chat: "C1", chats: []livechat.Chat{pinned},
			expect:       "expect:\n  unpin: acted\n  later: scheduled\n",
			wantOutcomes: map[string]string{"unpin": audit.Acted, "later": audit.Scheduled},
			wantChecks:   []rulestest.Check{{Rule: "later", Want: "scheduled", Got: "scheduled"}, {Rule: "unpin", Want: "acted", Got: "acted"}},
			wantCalls:    []string{"update_chat_properties"}, wantOK: true},
		{name: "the chat in the expectation file", action: "chat_deactivated", chat: "C1",
			expect:       "chat: {id: C1, properties: {routing: {pinned: false}}, thread: {id: TC1, properties: {routing: {unassigned: true}}}}\nexpect:\n  unpin: skipped\n",
			wantOutcomes: map[string]string{"unpin": audit.Skipped, "later": audit.Scheduled},
			wantChecks:   []rulestest.Check{{Rule: "unpin", Want: "skipped", Got: "skipped"}}, wantOK: true},
		{name: "a failure nobody expected", action: "chat_deactivated", chat: "UNKNOWN",
			wantOutcomes:   map[string]string{"unpin": audit.Failed, "later": audit.Scheduled},
			wantUnexpected: []string{"unpin"}},
		{name: "a failure expected", action: "chat_deactivated", chat: "UNKNOWN", expect: "expect:\n  unpin: failed\n",
			wantOutcomes: map[string]string{"unpin": audit.Failed, "later": audit.Scheduled},
			wantChecks:   []rulestest.Check{{Rule: "unpin", Want: "failed", Got: "failed"}}, wantOK: true},
		{name: "a mismatch", action: "incoming_chat", chat: "C1", expect: "expect:\n  unpin: acted\n",
			wantOutcomes: map[string]string{},
			wantChecks:   []rulestest.Check{{Rule: "unpin", Want: "acted", Got: rulestest.None}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ev := filepath.Join(dir, "ev.json")
			require.NoError(t, os.WriteFile(ev, samples.LiveChat(tt.action, "s", tt.chat, "T"+tt.chat), 0o600))
			if tt.expect != "" {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "ev.expect.yaml"), []byte(tt.expect), 0o600))
			}
			res, err := rulestest.RunFile(context.Background(), set, ev, rulestest.Params{Chats: tt.chats, Now: now})
			require.NoError(t, err)
			assert.Equal(t, tt.action, res.Event.Action)
			assert.Equal(t, tt.wantOutcomes, res.Outcomes)
			assert.Equal(t, tt.wantUnexpected, res.Unexpected)
			assert.Equal(t, tt.wantChecks, res.Checks)
			var calls []string
			for _, c := range res.Calls {
				if c.Action != "get_chat" {
					calls = append(calls, c.Action)
				}
			}
			assert.Equal(t, tt.wantCalls, calls)
			assert.Equal(t, tt.wantOK, res.OK())
			assert.Equal(t, "ev.expect.yaml", res.ExpectationFile)
		})
	}
}

func TestRunFileErrors(t *testing.T) {
	dir := t.TempDir()
	set, err := rules.LoadFile("../../examples/rules.yaml", platform.Actions(), rules.DefaultRegistry())
	require.NoError(t, err)
	junk := filepath.Join(dir, "junk.json")
	require.NoError(t, os.WriteFile(junk, []byte(`{"nope": true}`), 0o600))
	badExp := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(badExp, samples.LiveChat("chat_deactivated", "s", "C1", "T1"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.expect.yaml"), []byte("expect:\n  unpin: done\n"), 0o600))
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "none.json"), "no such file"},
		{"not a webhook", junk, "not a LiveChat webhook body"},
		{"unknown outcome", badExp, `bad.expect.yaml: expect.unpin: want acted, skipped, scheduled, failed, dry_run or none, got "done"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rulestest.RunFile(context.Background(), set, tt.path, rulestest.Params{Now: time.Now()})
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// TestReadExpectationSyntaxErrorLine checks that a broken expectation file
// names the line of its YAML error (yaml.v3 counts parser errors from 0).
// Moved here from cli/rules_test.go with ReadExpectation.
func TestReadExpectationSyntaxErrorLine(t *testing.T) {
	dir := t.TempDir()
	eventPath := filepath.Join(dir, "ev.json")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ev.expect.yaml"), []byte("expect:\n  r1: acted\n r2: skipped\n"), 0o600))
	_, err := rulestest.ReadExpectation(eventPath)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ev.expect.yaml: yaml: line 3: did not find expected key")
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name       string
		prev, next string
		want       string
	}{
		{"first", "", audit.Skipped, audit.Skipped},
		{"acted beats skipped", audit.Skipped, audit.Acted, audit.Acted},
		{"failed beats acted", audit.Acted, audit.Failed, audit.Failed},
		{"acted stays over dry run", audit.Acted, audit.DryRun, audit.Acted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, rulestest.Summarize(tt.prev, tt.next))
		})
	}
}
