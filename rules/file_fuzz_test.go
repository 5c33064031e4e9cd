package rules_test

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	. "github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/samples"
)

// fzSource names the fuzzed rule file in errors.
const fzSource = "fuzz.yaml"

// fzRuleFiles are rule files at the edges of YAML and of the rule format,
// seeds of FuzzLoadBytes besides examples/rules.yaml.
func fzRuleFiles() []string {
	deepList := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	deepMap := strings.Repeat("{a: ", 2000) + "1" + strings.Repeat("}", 2000)
	return []string{
		"", "null", "~", "rules:", "rules: []", "rules: ~", "rules: {}", "rules: 1", "[]", "- a", "---\n...\n",
		"rules: [", "rulez: []",
		// The shapes of TestParseAndCompileErrors, valid and not.
		"rules:\n  - name: r1\n    on: [livechat.chat_deactivated]\n    if: chat.pinned && chat.unassigned\n    enrich: chat\n    after: 48h\n    then:\n      - livechat.unpin: {}\n      - go: h\n    dry_run: true\n  - name: r2\n    on: livechat.*\n    handler: h\n",
		"rules:\n  - on: [livechat.chat_deactivated]\n    then: [{livechat.unpin: {}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    iff: true\n    then: [{livechat.unpin: {}}]",
		"rules:\n  - name: r1\n    on: zendesk.ticket\n    then: [{livechat.unpin: {}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    after: 2d\n    then: [{livechat.unpin: {}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    if: chat.pinned &&\n    then: [{livechat.unpin: {}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - livechat.transfer_chat: {group_id: 1, agent_ids: [a]}",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - livechat.send_event: {text: hi, visibility: agents, type: system_message}\n      - livechat.set_routing_status: {status: offline}\n      - livechat.update_chat_properties: {properties: {routing: {pinned: false}}}\n      - livechat.delete_chat_properties: {properties: {routing: [pinned]}}\n      - livechat.tag_thread: {tag: x}\n      - livechat.deactivate_chat: {ignore_requester_presence: false}",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - {livechat.unpin: {}, livechat.tag_thread: {tag: a}}",
		// Huge numbers.
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    after: 99999999999999999999h\n    then: [{livechat.unpin: {}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    if: chat.age > 99999999999999999999999\n    then: [{livechat.transfer_chat: {group_id: 1e400}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    if: len(chat.tags) == 0x7fffffffffffffff\n    then: [{livechat.transfer_chat: {group_id: -9223372036854775809}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.transfer_chat: {group_id: .inf}}]",
		// Deep nesting.
		"rules: " + deepList,
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.update_chat_properties: {properties: " + deepMap + "}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    if: " + strings.Repeat("(", 3000) + "true" + strings.Repeat(")", 3000) + "\n    then: [{livechat.unpin: {}}]",
		// Invalid UTF-8, control characters, a BOM.
		"rules:\n  - name: \xff\xfe\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]",
		"\xff\xfe\x00r\x00u\x00l\x00e\x00s\x00:",
		"\xef\xbb\xbfrules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]",
		"rules:\n  - name: \"\\x00\\u2028\"\n    on: livechat.chat_deactivated\n    if: \"\\u0000\"\n    then: [{livechat.unpin: {}}]",
		// Duplicate keys, aliases, merge keys, tags, several documents.
		"rules: []\nrules: []",
		"rules:\n  - name: r1\n    name: r2\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]\n  - name: r1\n    on: livechat.incoming_chat\n    then: [{livechat.unpin: {}}]",
		"rules:\n  - &r\n    name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]\n  - *r",
		"rules:\n  - name: &n r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]\n  - name: *n\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]",
		"base: &b {on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}\nrules:\n  - <<: *b\n    name: r1",
		"rules:\n  - name: !!binary cjE=\n    on: !!str livechat.chat_deactivated\n    dry_run: !!bool yes\n    then: [{livechat.unpin: !!null}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]\n---\nrules: oops",
		"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nrules: [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
		"rules:\n  - name: r1\n    on: [livechat.chat_deactivated, 1, null, [a]]\n    then: [{livechat.unpin: {1: 2}}]",
		"rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then:\n      - go: \n      - go: [h]\n",
	}
}

// fzErrorNamesAPlace matches what a load error must name: a rule (by name
// or number), a line or a key of the file.
var fzErrorNamesAPlace = regexp.MustCompile("line [0-9]+|rule \"|rule #[0-9]+|`rules:?`")

// FuzzLoadBytes checks the rule-file loader (Parse, then Compile, as
// LoadBytes does) on any file:
//   - it never panics;
//   - it returns a RuleSet or an error, never both nor neither; an error
//     names the file and a rule, a line or a key;
//   - a RuleSet holds well-formed rules (unique names, platform.action
//     triggers, at least one step, a line), loading it again gives the same
//     rules, and every condition evaluates without panicking.
func FuzzLoadBytes(f *testing.F) {
	if b, err := os.ReadFile("../examples/rules.yaml"); err == nil {
		f.Add(b)
	} else {
		f.Fatalf("reading the example rules: %v", err)
	}
	for _, s := range fzRuleFiles() {
		f.Add([]byte(s))
	}
	actions := DefaultActions()
	handlers := NewRegistry()
	if err := handlers.Register("h", RuleFunc(nil)); err != nil {
		f.Fatal(err)
	}
	envs := fzEnvs(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := LoadBytes(data, fzSource, actions, handlers)
		if set != nil && fzHasDuplicateKeys(data) {
			t.Fatalf("a file with a repeated key loaded: the earlier value is silently lost")
		}
		switch {
		case set != nil && err != nil:
			t.Fatalf("both a rule set and an error: %v", err)
		case set == nil && err == nil:
			t.Fatal("neither a rule set nor an error")
		case err != nil:
			msg := err.Error()
			if !strings.HasPrefix(msg, "rule file "+fzSource) {
				t.Fatalf("error does not name the file: %q", msg)
			}
			if !fzErrorNamesAPlace.MatchString(msg) {
				t.Fatalf("error names no rule, line or key: %q", msg)
			}
			return
		}
		infos := set.Rules()
		if set.Len() != len(infos) || set.Source != fzSource {
			t.Fatalf("Len %d, %d rules listed, source %q", set.Len(), len(infos), set.Source)
		}
		seen := map[string]bool{}
		for _, r := range infos {
			if strings.TrimSpace(r.Name) == "" || seen[r.Name] {
				t.Fatalf("rule with an empty or repeated name %q", r.Name)
			}
			seen[r.Name] = true
			if r.Line < 1 || len(r.On) == 0 || len(r.Then) == 0 {
				t.Fatalf("malformed rule: %+v", r)
			}
			for _, on := range r.On {
				platform, action, ok := strings.Cut(on, ".")
				if !ok || action == "" || (platform != event.LiveChat && platform != event.HelpCrunch && platform != event.RocketChat) {
					t.Fatalf("rule %q listens to %q", r.Name, on)
				}
			}
			if r.After < 0 {
				t.Fatalf("rule %q has a negative delay %s", r.Name, r.After)
			}
		}
		again, err := LoadBytes(data, fzSource, actions, handlers)
		if err != nil || !reflect.DeepEqual(again.Rules(), infos) {
			t.Fatalf("loading the same file again: %v", err)
		}
		for _, c := range set.CompiledRules() {
			for _, env := range envs {
				_, _ = c.Eval(env) // a runtime error is the rule's; a panic is ours
			}
		}
	})
}

// FuzzCompileCondition compiles any `if` expression in an otherwise valid
// rule (faster than reaching expressions through YAML):
//   - Compile never panics;
//   - an error names the rule, its line and the line of `if`;
//   - a compiled condition evaluates without panicking against an event with
//     and without a chat, and gives the same answer twice.
func FuzzCompileCondition(f *testing.F) {
	for _, s := range []string{
		"", "true", "chat.pinned && chat.unassigned", `event.payload.reason == "inactive"`,
		`chat.unassigned && chat.thread_properties.routing?.group_status_at_start == "offline" && !(0 in chat.group_ids)`,
		`event.payload.agent_id == "triage-bot@example.com" && event.payload.status != "accepting_chats"`,
		`(chat.thread_properties.routing?.start_url ?? "") contains "/pricing"`,
		`chat.idle > duration("2h") && now() - event.received_at < duration("1h")`,
		`any(chat.users, .type == "agent") && len(chat.agents) == 0`,
		`chat.customer.email endsWith "@bigcustomer.com" || chat.customer.email matches "^[a-z]+@"`,
		`int("abc") > 0`, `event.payload.chat.id.x.y == 1`, `event.payload[0] == 1`,
		`1 / 0 == 1`, `1 % 0 == 0`, `99999999999999999999 > 1`, `0x7fffffffffffffff + 1 > 0`,
		`len(1..1000000) > 0`, `chat.tags[99] == "x"`, `chat.group_ids[-1] == 1`,
		`"\xff" == "\xfe"`, "chat.id == \"\xff\"", "\x00", "chat.", "chat.pinned &&", "((((", "now()",
		`chat.id`, `1`, `nil`, `chat.properties`, `let x = 1; x == 1`, `duration("x") > 0`,
		`date("2026-01-01") < now()`, `toJSON(event.payload) != ""`, `fromJSON("{") == nil`,
		`map(chat.users, #.id) == []`, `reduce(1..100, # + #acc) > 0`, `max(1, 2) == 2`,
		strings.Repeat("(", 3000) + "true" + strings.Repeat(")", 3000),
		strings.Repeat("!", 5000) + "true",
	} {
		f.Add(s)
	}
	actions := DefaultActions()
	envs := fzEnvs(f)
	f.Fuzz(func(t *testing.T, cond string) {
		spec := Spec{Name: "fz", On: []string{"livechat.*"}, If: cond, Line: 3, IfLine: 5,
			Then: []StepSpec{{Action: "livechat.unpin", Line: 7}}}
		set, err := Compile([]Spec{spec}, actions, nil)
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, `rule "fz" (line 3)`) || !strings.Contains(msg, "if (line 5)") {
				t.Fatalf("error does not name the rule and the line of if: %q", msg)
			}
			return
		}
		if set.Len() != 1 {
			t.Fatalf("%d rules compiled from one", set.Len())
		}
		for _, env := range envs {
			ok1, err1 := set.CompiledRules()[0].Eval(env)
			ok2, err2 := set.CompiledRules()[0].Eval(env)
			if ok1 != ok2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("the same condition on the same event: %v/%v then %v/%v", ok1, err1, ok2, err2)
			}
		}
	})
}

// fzEnvs are what conditions see for a few sample events: an incoming chat
// (with the whole chat), a deactivated chat (ids only) and an empty event.
func fzEnvs(f *testing.F) []*Env {
	f.Helper()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var out []*Env
	for _, action := range []string{"incoming_chat", "chat_deactivated", "chat_transferred"} {
		ev, _, err := livechat.ParseWebhook(samples.LiveChat(action, "s", "C1", "T1"), now.Add(-time.Minute))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, &Env{Event: NewEventEnv(ev, now, true), Chat: chatOf(ev, now),
			Now: func() time.Time { return now }})
	}
	empty := &event.Event{Platform: event.HelpCrunch, Action: "chat.new"}
	out = append(out, &Env{Event: NewEventEnv(empty, now, true), Chat: chatOf(empty, now),
		Now: func() time.Time { return now }})
	return out
}

// fzHasDuplicateKeys reports whether yaml.v3 refuses data for a key repeated
// in one mapping (it checks that when decoding, not when parsing to nodes as
// Parse does).
func fzHasDuplicateKeys(data []byte) bool {
	var v any
	err := yaml.Unmarshal(data, &v)
	return err != nil && strings.Contains(err.Error(), "already defined")
}

// TestLoadBytesEdgeCases pins what the fuzz targets found, and the edge cases
// of the seed corpus whose outcome matters: every error names a rule, a
// line or a key, and a repeated key is an error rather than a silent loss.
func TestLoadBytesEdgeCases(t *testing.T) {
	handlers := NewRegistry()
	require.NoError(t, handlers.Register("h", RuleFunc(nil)))
	const rule = "\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]"
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // all must appear in the error; none: the file loads
		rules   int
	}{
		{name: "empty", yaml: "", wantErr: []string{"empty rule file", "`rules:`"}},
		{name: "null document", yaml: "null", wantErr: []string{"line 1", "`rules:`"}},
		{name: "empty rules", yaml: "rules:", rules: 0},
		{name: "rules twice", yaml: "rules:" + rule + "\nrules: []", wantErr: []string{"line 5", "`rules`", "line 1"}},
		{name: "key twice in a rule", yaml: "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]\n    then: [{livechat.tag_thread: {tag: x}}]",
			wantErr: []string{`rule "r1"`, "line 5", `"then"`, "line 4"}},
		{name: "name twice in a rule", yaml: "rules:\n  - name: r1\n    name: r2\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]",
			wantErr: []string{"line 3", `"name"`}},
		{name: "parameter twice", yaml: "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.tag_thread: {tag: a, tag: b}}]",
			wantErr: []string{`rule "r1"`, "line 4", "already defined"}},
		{name: "invalid UTF-8 on line 3", yaml: "rules:\n  - name: r1\n    description: \xff\xfe\n    on: livechat.chat_deactivated",
			wantErr: []string{"not valid YAML", "line 3"}},
		{name: "control character on line 2", yaml: "rules:\n  - name: r\x01", wantErr: []string{"not valid YAML", "line 2"}},
		{name: "syntax error on line 1", yaml: "rules: a: b", wantErr: []string{"not valid YAML", "line 1"}},
		{name: "tab on line 1", yaml: "\trules: []", wantErr: []string{"not valid YAML", "line 1"}},
		{name: "block scalar header on line 1", yaml: ">100", wantErr: []string{"not valid YAML", "line 1", "line break"}},
		{name: "unterminated quote on line 1", yaml: "rules: 'a", wantErr: []string{"not valid YAML", "line 1"}},
		{name: "unknown anchor on line 3", yaml: "rules:\n  - name: r1\n    on: *nowhere", wantErr: []string{"not valid YAML", "line 3", "nowhere"}},
		{name: "syntax error on line 3", yaml: "rules:\n  - name: r1\n    on: [", wantErr: []string{"not valid YAML", "line 3"}},
		// yaml.v3 counts parser errors' lines from 0: it said line 1 (rules:)
		// for the list that starts on line 2.
		{name: "list broken on line 4 names the list's line", yaml: "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n   then: []\n",
			wantErr: []string{"not valid YAML: yaml: line 2: did not find expected '-' indicator"}},
		{name: "key indented less on line 4 (yaml.v3 says 3)", yaml: "rules: []\nx:\n  a: 1\n b: 2\n",
			wantErr: []string{"not valid YAML: yaml: line 4: did not find expected key"}},
		{name: "alias of a whole rule repeats its name", yaml: "rules:\n  - &r\n    name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]\n  - *r",
			wantErr: []string{"rule #2", "line 6", "a rule must be a mapping"}},
		{name: "huge delay", yaml: "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    after: 99999999999999999999h\n    then: [{livechat.unpin: {}}]",
			wantErr: []string{`rule "r1"`, "line 4", "after"}},
		{name: "huge group id", yaml: "rules:\n  - name: r1\n    on: livechat.chat_deactivated\n    then: [{livechat.transfer_chat: {group_id: 1e400}}]",
			wantErr: []string{`rule "r1"`, "line 4", "group_id"}},
		{name: "deep nesting", yaml: "rules: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000), wantErr: []string{"line 1"}},
		{name: "valid file with a BOM", yaml: "\xef\xbb\xbfrules:" + rule, rules: 1},
		{name: "merge key", yaml: "base: &b {on: livechat.chat_deactivated}\nrules:\n  - <<: *b\n    name: r1", wantErr: []string{"line 1", `unknown top-level key "base"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := LoadBytes([]byte(tt.yaml), fzSource, DefaultActions(), handlers)
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.rules, set.Len())
				return
			}
			require.Error(t, err)
			assert.Nil(t, set)
			assert.Regexp(t, fzErrorNamesAPlace, err.Error())
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
