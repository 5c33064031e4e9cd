package rules_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	. "github.com/chatwarden/chatwarden/rules"
)

func TestRuleFileChecks(t *testing.T) {
	reg := NewRegistry()
	require.NoError(t, reg.Register("h", RuleFunc(nil)))
	rule := func(on, extra, step string) string {
		return "rules:\n  - name: r\n    on: " + on + "\n" + extra + "    then:\n      - " + step + "\n"
	}
	tests := []struct {
		name     string
		yaml     string
		opts     []LoadOption
		wantErr  []string // all in the error; nil: loads
		notInErr string
		warnings []string // each in one warning, in order
	}{
		// `on` names known platform.action pairs.
		{name: "typo in a LiveChat action (issue 19)", yaml: rule("[livechat.chat_deactivatd]", "", "livechat.unpin: {}"),
			wantErr: []string{`rule "r" (line 2)`, `"livechat.chat_deactivatd" is not a livechat webhook action`, `did you mean "livechat.chat_deactivated"?`, "--allow-unknown-actions"}},
		{name: "typo in a HelpCrunch action", yaml: rule("helpcrunch.chat.closd", "", "helpcrunch.unassign: {}"),
			wantErr: []string{`did you mean "helpcrunch.chat.closed"?`}},
		{name: "Rocket.Chat action in the wrong case", yaml: rule("rocketchat.livechatsession", "", "rocketchat.tag: {tags: [a]}"),
			wantErr: []string{`did you mean "rocketchat.LivechatSession"?`}},
		{name: "action of another platform is no suggestion", yaml: rule("livechat.chat.closed", "", "livechat.unpin: {}"),
			wantErr: []string{`"livechat.chat.closed" is not a livechat webhook action`}, notInErr: "did you mean"},
		{name: "nothing close", yaml: rule("livechat.ticket_created_by_robot", "", "livechat.unpin: {}"),
			wantErr: []string{"is not a livechat webhook action"}, notInErr: "did you mean"},
		{name: "every unknown entry is named", yaml: rule("[livechat.incoming_chat, livechat.chat_deactivatd, livechat.incomming_event]", "", "livechat.unpin: {}"),
			wantErr: []string{`did you mean "livechat.chat_deactivated"?`, `did you mean "livechat.incoming_event"?`}},
		{name: "unknown action allowed is a warning", yaml: rule("[livechat.chat_deactivatd]", "", "livechat.unpin: {}"), opts: []LoadOption{AllowUnknownActions()},
			warnings: []string{`"livechat.chat_deactivatd" is not a livechat webhook action; did you mean "livechat.chat_deactivated"?`}},
		{name: "malformed on is an error even when unknown actions are allowed", yaml: rule("zendesk.ticket", "", "livechat.unpin: {}"), opts: []LoadOption{AllowUnknownActions()},
			wantErr: []string{`unknown platform "zendesk"`}},
		{name: "wildcard", yaml: rule("livechat.*", "", "livechat.unpin: {}")},
		{name: "the sweep's own action", yaml: rule("[livechat.sweep_unassigned, livechat.sweep_tick]", "", "livechat.unpin: {}")},
		{name: "documented actions of each platform", yaml: rule("[helpcrunch.chat.closed, helpcrunch.message.private]", "", "helpcrunch.unassign: {}")},

		// A step of another platform needs cross_platform: true.
		{name: "LiveChat step on a HelpCrunch event (issue 19)", yaml: rule("[helpcrunch.chat.closed]", "", "livechat.unpin: {}"),
			wantErr: []string{`rule "r" (line 2)`, "then (line 5)", "livechat.unpin is a livechat action, but the rule is on helpcrunch.chat.closed", "cross_platform: true"}},
		{name: "one entry of another platform is enough", yaml: rule("[livechat.chat_deactivated, rocketchat.LivechatSession]", "", "livechat.unpin: {}"),
			wantErr: []string{"but the rule is on rocketchat.LivechatSession"}},
		{name: "wildcard of another platform", yaml: rule("helpcrunch.*", "", "rocketchat.close_room: {}"),
			wantErr: []string{"rocketchat.close_room is a rocketchat action"}},
		{name: "cross_platform says why", yaml: rule("[helpcrunch.chat.closed]", "    cross_platform: true\n", "livechat.set_routing_status: {agent_id: a@example.com, status: accepting_chats}")},
		{name: "a Go handler has no platform", yaml: rule("[helpcrunch.chat.closed]", "", "go: h")},
		{name: "cross_platform must be a bool", yaml: rule("[helpcrunch.chat.closed]", "    cross_platform: sometimes\n", "helpcrunch.unassign: {}"),
			wantErr: []string{"cross_platform"}},

		// Warnings: loads, but probably a mistake.
		{name: "always false", yaml: rule("livechat.incoming_chat", "    if: 1 > 2 || false\n", "livechat.unpin: {}"),
			warnings: []string{`if: "1 > 2 || false" is always false`}},
		{name: "always false literal", yaml: rule("livechat.incoming_chat", "    if: \"false\"\n", "livechat.unpin: {}"),
			warnings: []string{"always false"}},
		{name: "always true is not reported", yaml: rule("livechat.incoming_chat", "    if: 2 > 1\n", "livechat.unpin: {}")},
		{name: "a condition that reads the chat is not constant", yaml: rule("livechat.incoming_chat", "    if: chat.pinned && 1 < 2\n", "livechat.unpin: {}")},
		{name: "and false, folded by the compiler", yaml: rule("livechat.incoming_chat", "    if: chat.pinned && false\n", "livechat.unpin: {}"),
			warnings: []string{"always false"}},
		{name: "a condition on now() is not constant", yaml: rule("livechat.incoming_chat", "    if: now().Year() < 2000\n", "livechat.unpin: {}")},
		{name: "delayed non-idempotent step without if", yaml: rule("livechat.incoming_chat", "    after: 1h\n    enrich: chat\n", "livechat.send_event: {text: hi, visibility: agents}"),
			warnings: []string{"after: 1h0m0s runs livechat.send_event (not idempotent) without a re-check"}},
		{name: "delayed non-idempotent step without enrich", yaml: rule("livechat.incoming_chat", "    after: 1h\n    if: chat.unassigned\n", "livechat.transfer_chat: {group_id: 1}"),
			warnings: []string{"runs livechat.transfer_chat (not idempotent)"}},
		{name: "delayed non-idempotent step with a re-check", yaml: rule("livechat.incoming_chat", "    after: 1h\n    enrich: chat\n    if: chat.unassigned\n", "livechat.transfer_chat: {group_id: 1}")},
		{name: "delayed non-idempotent step of Rocket.Chat", yaml: rule("rocketchat.LivechatSessionQueued", "    after: 1h\n    enrich: chat\n    if: event.payload.type == \"LivechatSessionQueued\"\n", "rocketchat.forward: {department_id: D}"),
			warnings: []string{"runs rocketchat.forward (not idempotent) without a re-check of the chat's current state; enrich fetches nothing on rocketchat events"}},
		{name: "delayed idempotent step", yaml: rule("livechat.incoming_chat", "    after: 1h\n", "livechat.unpin: {}")},
		{name: "non-idempotent step without delay", yaml: rule("livechat.incoming_chat", "", "livechat.send_event: {text: hi, visibility: agents}")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := LoadBytes([]byte(tt.yaml), "t.yaml", DefaultActions(), reg, tt.opts...)
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				if tt.notInErr != "" {
					assert.NotContains(t, err.Error(), tt.notInErr)
				}
				return
			}
			require.NoError(t, err)
			warns := set.Warnings()
			require.Len(t, warns, len(tt.warnings), "warnings: %v", warns)
			for i, w := range tt.warnings {
				assert.Contains(t, warns[i].String(), w)
				assert.Contains(t, warns[i].String(), `rule "r" (line `)
			}
		})
	}
}

// TestReloadAcceptsUnknownActionsWithAWarning: a running service keeps
// loading a file whose `on` names an action this version does not know, and
// says so in the log.
func TestReloadAcceptsUnknownActionsWithAWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - {name: new, on: livechat.chat_archived, then: [{livechat.unpin: {}}]}\n"), 0o600))
	core, logs := observer.New(zapcore.WarnLevel)
	set, err := LoadBytes([]byte("rules:\n"), "t", DefaultActions(), NewRegistry())
	require.NoError(t, err)
	e := NewEngine(set, nil, &memAudit{}, WithLogger(zap.New(core)))
	require.NoError(t, e.Reload(path))
	assert.Equal(t, 1, e.Rules().Len())
	entries := logs.FilterMessageSnippet(`"livechat.chat_archived" is not a livechat webhook action`).All()
	require.Len(t, entries, 1, "logged: %v", logs.All())
	assert.Equal(t, "new", entries[0].ContextMap()["rule"])
}
