package rules_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/chatwarden/chatwarden/rules"
)

func TestParseAndCompileErrors(t *testing.T) {
	reg := NewRegistry()
	require.NoError(t, reg.Register("known-handler", RuleFunc(nil)))
	tests := []struct {
		name string
		yaml string
		want []string // all must appear in the error
	}{
		{"not YAML", "rules: [", []string{"not valid YAML"}},
		{"no rules key", "rulez: []", []string{`unknown top-level key "rulez"`}},
		{"rules not a list", "rules: {a: 1}", []string{"`rules` must be a list"}},
		{"missing name", "rules:\n  - on: [livechat.chat_deactivated]\n    then: [{livechat.unpin: {}}]", []string{"rule #1", "`name` is required"}},
		{"unknown key", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    iff: true\n    then: [{livechat.unpin: {}}]", []string{`rule "r1"`, `unknown key "iff"`, "line 4"}},
		{"duplicate names", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]\n  - name: r1\n    on: livechat.incoming_chat\n    then: [{livechat.unpin: {}}]", []string{`rule "r1" (line 5)`, "already used by the rule on line 2"}},
		{"missing on", "rules:\n  - name: r1\n    then: [{livechat.unpin: {}}]", []string{"`on` is required"}},
		{"no then", "rules:\n  - name: r1\n    on: livechat.chat_deactivated", []string{"needs `then` actions or a `handler`"}},
		{"on without action", "rules:\n  - name: r1\n    on: livechat\n    then: [{livechat.unpin: {}}]", []string{`"livechat" is not platform.action`}},
		{"unknown platform", "rules:\n  - name: r1\n    on: zendesk.ticket\n    then: [{livechat.unpin: {}}]", []string{`unknown platform "zendesk"`}},
		{"after in days", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    after: 2d\n    then: [{livechat.unpin: {}}]", []string{"write days as hours"}},
		{"bad enrich", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    enrich: everything\n    then: [{livechat.unpin: {}}]", []string{"want chat or properties"}},
		{"if not boolean", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    if: chat.id\n    then: [{livechat.unpin: {}}]", []string{`rule "r1" (line 2)`, "if (line 4)", "bool"}},
		{"if unknown field", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    if: chat.pinnned\n    then: [{livechat.unpin: {}}]", []string{"if (line 4)", "pinnned"}},
		{"if syntax error", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    if: chat.pinned &&\n    then: [{livechat.unpin: {}}]", []string{"if (line 4)"}},
		{"if error keeps its lines", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    if: chat.pinned && chat.pinnned\n    then: [{livechat.unpin: {}}]",
			[]string{"if (line 4): type rules.ChatEnv has no field pinnned (1:21)\n | chat.pinned && chat.pinnned\n | " + strings.Repeat(".", 20) + "^"}},
		{"unknown action", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpinn: {}}]", []string{`unknown action "livechat.unpinn"`, "livechat.unpin"}},
		{"unknown parameter", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - livechat.tag_thread: {tga: x}", []string{"livechat.tag_thread", `unknown field "tga"`, "line 5"}},
		{"missing parameter", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - livechat.tag_thread: {}", []string{"tag: required"}},
		{"wrong parameter type", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - livechat.transfer_chat: {group_id: two}", []string{"livechat.transfer_chat", "group_id"}},
		{"both transfer targets", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - livechat.transfer_chat: {group_id: 1, agent_ids: [a]}", []string{"exactly one of group_id or agent_ids"}},
		{"bad routing status", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - livechat.set_routing_status: {status: busy}", []string{"accepting_chats"}},
		{"bad visibility", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - livechat.send_event: {text: hi, visibility: secret}", []string{"visibility"}},
		{"system_message_type on a message", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - livechat.send_event: {text: hi, system_message_type: x}", []string{"system_message_type"}},
		{"step with two keys", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - {livechat.unpin: {}, livechat.tag_thread: {tag: a}}", []string{"each step is one"}},
		{"unknown go handler", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - go: nope", []string{`no Go handler "nope"`, "known-handler"}},
		{"unknown handler key", "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    handler: nope", []string{`no Go handler "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes([]byte(tt.yaml), "test.yaml", DefaultActions(), reg)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestCompileReportsEveryBrokenRule(t *testing.T) {
	_, err := LoadBytes([]byte(`
rules:
  - name: a
    on: livechat.chat_deactivated
    if: chat.nope
    then: [{livechat.unpin: {}}]
  - name: b
    on: livechat.chat_deactivated
    then: [{livechat.nope: {}}]
`), "t.yaml", DefaultActions(), NewRegistry())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `rule "a"`)
	assert.Contains(t, err.Error(), `rule "b"`)
}

func TestValidFileListsRules(t *testing.T) {
	reg := NewRegistry()
	require.NoError(t, reg.Register("h", RuleFunc(nil)))
	set, err := LoadBytes([]byte(`
rules:
  - name: one
    description: first
    on: [livechat.chat_deactivated, livechat.incoming_chat]
    if: chat.pinned
    enrich: chat
    after: 48h
    then:
      - livechat.unpin: {}
      - go: h
    dry_run: true
  - name: two
    on: livechat.*
    handler: h
`), "t.yaml", DefaultActions(), reg)
	require.NoError(t, err)
	infos := set.Rules()
	require.Len(t, infos, 2)
	assert.Equal(t, "one", infos[0].Name)
	assert.Equal(t, []string{"livechat.unpin", "go:h"}, infos[0].Then)
	assert.True(t, infos[0].DryRun)
	assert.Equal(t, "48h0m0s", infos[0].After.String())
	assert.Equal(t, []string{"go:h"}, infos[1].Then)
	assert.True(t, strings.HasPrefix(set.Source, "t.yaml"))
}

func TestEmptyRulesList(t *testing.T) {
	set, err := LoadBytes([]byte("rules:\n"), "t.yaml", DefaultActions(), NewRegistry())
	require.NoError(t, err)
	assert.Equal(t, 0, set.Len())
}
