package rules_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	lcp "github.com/chatwarden/chatwarden/platform/livechat"
	. "github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/rules/enginetest"
)

func unassignedChat(id string) livechat.Chat {
	c := livechattest.UnassignedChat(id, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	c.Thread.ID = "T-" + id
	return c
}

const delayedRule = `
rules:
  - name: unpin-later
    on: [livechat.incoming_chat]
    if: chat.unassigned && chat.pinned
    after: 48h
    enrich: chat
    then:
      - livechat.unpin: {}
`

func TestDelayedRuleRechecksAgainstFreshState(t *testing.T) {
	tests := []struct {
		name      string
		change    func(h *harness)
		wantUnpin bool
		wantLast  string
	}{
		{"still unassigned and pinned: acts", func(*harness) {}, true, "acted:livechat.unpin"},
		{"an agent took it meanwhile: does not act", func(h *harness) {
			c, _ := h.fake.Chat("C1")
			c.Thread.Properties["routing"]["unassigned"] = false
			h.fake.AddChat(c)
		}, false, "skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []byte(delayedRule))
			h.fake.AddChat(unassignedChat("C1"))
			ev := h.webhook(t, "incoming_chat", "C1", nil)
			require.NoError(t, h.engine.Handle(context.Background(), ev))
			require.Len(t, h.rechecks(), 1)
			re := h.rechecks()[0]
			assert.Equal(t, h.now.Add(48*time.Hour), h.recheckTimes()[0])
			assert.Equal(t, event.SourceRecheck, re.Source)
			assert.Equal(t, "unpin-later", re.Recheck.Rule)
			assert.Equal(t, ev.ID, re.Recheck.OriginID)
			assert.NotEqual(t, ev.ID, re.ID)
			assert.Empty(t, h.fake.CallsTo("update_chat_properties"), "nothing happens before the re-check")

			tt.change(h)
			h.now = h.now.Add(48 * time.Hour)
			require.NoError(t, h.engine.Handle(context.Background(), re))
			assert.Len(t, h.rechecks(), 1, "a re-check does not schedule another")
			assert.Equal(t, tt.wantUnpin, len(h.fake.CallsTo("update_chat_properties")) == 1)
			outcomes := h.audit.ByRule()["unpin-later"]
			assert.Equal(t, []string{"scheduled", tt.wantLast}, outcomes)
		})
	}
}

func TestRecheckOfARemovedRuleIsSkipped(t *testing.T) {
	h := newHarness(t, []byte(delayedRule))
	h.fake.AddChat(unassignedChat("C1"))
	require.NoError(t, h.engine.Handle(context.Background(), h.webhook(t, "incoming_chat", "C1", nil)))
	other, err := LoadBytes([]byte("rules:\n  - name: other\n    on: livechat.chat_deactivated\n    then: [{livechat.unpin: {}}]\n"), "t", DefaultActions(), NewRegistry())
	require.NoError(t, err)
	h.engine.Swap(other)
	require.NoError(t, h.engine.Handle(context.Background(), h.rechecks()[0]))
	recs := h.audit.Records()
	assert.Equal(t, audit.Skipped, recs[len(recs)-1].Outcome)
	assert.Contains(t, recs[len(recs)-1].Reason, "no longer in the rule file")
	assert.Empty(t, h.fake.CallsTo("update_chat_properties"))
}

func TestNonIdempotentActionsAreNotRepeated(t *testing.T) {
	h := newHarness(t, []byte(`
rules:
  - name: note
    on: [livechat.chat_deactivated]
    then:
      - livechat.send_event: {text: closed, visibility: agents}
      - livechat.tag_thread: {tag: closed}
`))
	h.fake.AddChat(unassignedChat("C1"))
	ev := h.webhook(t, "chat_deactivated", "C1", nil)
	for i := 0; i < 3; i++ { // a redelivered event
		require.NoError(t, h.engine.Handle(context.Background(), ev))
	}
	assert.Len(t, h.fake.CallsTo("send_event"), 1, "not idempotent: once")
	assert.Len(t, h.fake.CallsTo("tag_thread"), 3, "idempotent: may repeat")
	assert.Equal(t, []string{"acted:livechat.send_event", "acted:livechat.tag_thread",
		"skipped:livechat.send_event", "acted:livechat.tag_thread",
		"skipped:livechat.send_event", "acted:livechat.tag_thread"}, h.audit.ByRule()["note"])
}

func TestDryRun(t *testing.T) {
	rule := `
rules:
  - name: unpin
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned
    then: [{livechat.unpin: {}}]
    dry_run: %v
`
	tests := []struct {
		name       string
		ruleDryRun bool
		global     bool
		wantCalls  int
		want       string
	}{
		{"acting", false, false, 1, "acted:livechat.unpin"},
		{"rule in dry run", true, false, 0, "dry_run:livechat.unpin"},
		{"global dry run", false, true, 0, "dry_run:livechat.unpin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []byte(fmt.Sprintf(rule, tt.ruleDryRun)), WithDryRun(tt.global))
			h.fake.AddChat(unassignedChat("C1"))
			require.NoError(t, h.engine.Handle(context.Background(), h.webhook(t, "chat_deactivated", "C1", nil)))
			assert.Len(t, h.fake.CallsTo("update_chat_properties"), tt.wantCalls)
			assert.Equal(t, []string{tt.want}, h.audit.ByRule()["unpin"])
			rec := h.audit.Records()[0]
			assert.JSONEq(t, `{}`, string(rec.Params))
		})
	}
}

func TestEnrichmentIsFetchedOncePerEvent(t *testing.T) {
	h := newHarness(t, []byte(`
rules:
  - {name: a, on: livechat.chat_deactivated, enrich: chat, if: chat.pinned, then: [{livechat.tag_thread: {tag: a}}]}
  - {name: b, on: livechat.chat_deactivated, enrich: chat, if: chat.unassigned, then: [{livechat.tag_thread: {tag: b}}]}
  - {name: c, on: "livechat.*", enrich: chat, if: "!chat.enriched", then: [{livechat.tag_thread: {tag: c}}]}
`))
	h.fake.AddChat(unassignedChat("C1"))
	require.NoError(t, h.engine.Handle(context.Background(), h.webhook(t, "chat_deactivated", "C1", nil)))
	assert.Len(t, h.fake.CallsTo("get_chat"), 1)
	assert.Equal(t, map[string][]string{"a": {"acted:livechat.tag_thread"}, "b": {"acted:livechat.tag_thread"}, "c": {"skipped"}}, h.audit.ByRule())
}

func TestPropertiesEnrichmentUsesAdditionalData(t *testing.T) {
	h := newHarness(t, []byte(`
rules:
  - {name: p, on: livechat.chat_properties_updated, enrich: properties, if: "!chat.pinned", then: [{livechat.deactivate_chat: {}}]}
`))
	h.fake.AddChat(unassignedChat("C1"))
	require.NoError(t, h.engine.Handle(context.Background(), h.webhook(t, "chat_properties_updated", "C1", nil)))
	assert.Empty(t, h.fake.CallsTo("get_chat"), "additional_data.chat_properties is enough")
	assert.Equal(t, []string{"acted:livechat.deactivate_chat"}, h.audit.ByRule()["p"])
}

func TestTagWithoutThreadUsesTheLatestThread(t *testing.T) {
	h := newHarness(t, []byte(`
rules:
  - {name: t, on: livechat.chat_properties_updated, then: [{livechat.tag_thread: {tag: x}}]}
`))
	h.fake.AddChat(unassignedChat("C1"))
	require.NoError(t, h.engine.Handle(context.Background(), h.webhook(t, "chat_properties_updated", "C1", nil)))
	calls := h.fake.CallsTo("tag_thread")
	require.Len(t, calls, 1)
	assert.Contains(t, string(calls[0].Body), `"thread_id":"T-C1"`)
}

func TestOneFailingRuleDoesNotStopTheOthers(t *testing.T) {
	h := newHarness(t, []byte(`
rules:
  - {name: fails, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}
  - {name: works, on: livechat.chat_deactivated, then: [{livechat.tag_thread: {tag: x}}]}
`))
	h.fake.AddChat(unassignedChat("C1"))
	h.fake.FailNext("update_chat_properties", 1, livechattest.Validation("nope"))
	err := h.engine.Handle(context.Background(), h.webhook(t, "chat_deactivated", "C1", nil))
	require.Error(t, err)
	permanent, _ := consumer.Classify(err)
	assert.True(t, permanent)
	var ae *consumer.ActionError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "fails", ae.Rule)
	assert.Equal(t, "livechat.unpin", ae.Action)
	assert.Equal(t, []string{"acted:livechat.tag_thread"}, h.audit.ByRule()["works"])
	assert.Equal(t, []string{"failed:livechat.unpin"}, h.audit.ByRule()["fails"])
}

func TestRetryableFailureWinsAndCarriesTheHint(t *testing.T) {
	h := newHarness(t, []byte(`
rules:
  - {name: a, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}
  - {name: b, on: livechat.chat_deactivated, then: [{livechat.tag_thread: {tag: x}}]}
`))
	h.fake.AddChat(unassignedChat("C1"))
	h.fake.FailNext("update_chat_properties", 1, livechattest.TooManyRequests(3*time.Second))
	h.fake.FailNext("tag_thread", 1, livechattest.Validation("bad tag"))
	err := h.engine.Handle(context.Background(), h.webhook(t, "chat_deactivated", "C1", nil))
	permanent, hint := consumer.Classify(err)
	assert.False(t, permanent, "one retryable failure retries the event")
	assert.Equal(t, 3*time.Second, hint)
}

func TestNoCredentialsIsPermanent(t *testing.T) {
	set, err := LoadBytes([]byte("rules:\n  - {name: a, on: livechat.chat_deactivated, enrich: chat, then: [{livechat.unpin: {}}]}\n"), "t", DefaultActions(), NewRegistry())
	require.NoError(t, err)
	aud := &memAudit{}
	e := NewEngine(set, clientsFunc(func(tenant string) (LiveChatAPI, error) {
		return nil, fmt.Errorf("organization %s: %w", tenant, ErrNoCredentials)
	}), aud)
	ev := &event.Event{ID: "e1", Platform: event.LiveChat, Action: "chat_deactivated", ChatID: "C1", Tenant: "org-x"}
	err = e.Handle(context.Background(), ev)
	var pe *consumer.PermanentError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "no credentials", pe.Reason)
	assert.Contains(t, err.Error(), "org-x")
}

func TestGoHandlers(t *testing.T) {
	reg := NewRegistry()
	var seen []string
	require.NoError(t, reg.Register("vip-note", RuleFunc(func(ctx context.Context, c *Call) error {
		seen = append(seen, c.Rule+":"+c.ChatID()+":"+c.Chat.Customer.Email)
		if !strings.HasSuffix(c.Chat.Customer.Email, "@example.com") {
			return nil
		}
		if err := c.Do(ctx, "livechat.tag_thread", lcp.TagParams{Tag: "vip"}); err != nil {
			return err
		}
		return c.Do(ctx, "livechat.send_event", map[string]any{"text": "VIP customer", "visibility": "agents"})
	})))
	require.NoError(t, reg.Register("broken", RuleFunc(func(ctx context.Context, c *Call) error {
		return c.Do(ctx, "livechat.tag_thread", map[string]any{"tagg": "x"})
	})))
	set, err := LoadBytes([]byte(`
rules:
  - name: vip
    on: [livechat.incoming_chat]
    handler: vip-note
  - name: vip-step
    on: [livechat.incoming_chat]
    if: chat.unassigned
    then:
      - go: vip-note
`), "t", DefaultActions(), reg)
	require.NoError(t, err)
	h := newHarnessWithSet(t, set, WithHandlers(reg))
	h.fake.AddChat(unassignedChat("C1"))
	ev := h.webhook(t, "incoming_chat", "C1", nil)
	require.NoError(t, h.engine.Handle(context.Background(), ev))
	require.NoError(t, h.engine.Handle(context.Background(), ev), "redelivered")
	assert.Equal(t, []string{"vip:C1:t.anderson@example.com", "vip-step:C1:t.anderson@example.com",
		"vip:C1:t.anderson@example.com", "vip-step:C1:t.anderson@example.com"}, seen)
	assert.Len(t, h.fake.CallsTo("send_event"), 2, "once per rule, not again on redelivery")
	assert.Equal(t, []string{"acted:livechat.tag_thread", "acted:livechat.send_event", "acted:livechat.tag_thread", "skipped:livechat.send_event"},
		h.audit.ByRule()["vip"])

	bad, err := LoadBytes([]byte("rules:\n  - {name: b, on: livechat.incoming_chat, handler: broken}\n"), "t", DefaultActions(), reg)
	require.NoError(t, err)
	h.engine.Swap(bad)
	err = h.engine.Handle(context.Background(), ev)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown field "tagg"`)
}

func TestMustRegisterPanicsOnDuplicates(t *testing.T) {
	name := fmt.Sprintf("test-dup-handler-%d", time.Now().UnixNano()) // the default registry is global
	MustRegister(name, RuleFunc(func(context.Context, *Call) error { return nil }))
	assert.Panics(t, func() { MustRegister(name, RuleFunc(nil)) })
	_, ok := DefaultRegistry().Lookup(name)
	assert.True(t, ok)
}

func TestAuditWriteFailures(t *testing.T) {
	h := newHarness(t, []byte("rules:\n  - {name: a, on: livechat.chat_deactivated, then: [{livechat.tag_thread: {tag: x}}]}\n"))
	h.fake.AddChat(unassignedChat("C1"))
	h.audit.FailNext(2)
	require.NoError(t, h.engine.Handle(context.Background(), h.webhook(t, "chat_deactivated", "C1", nil)), "retried in place")
	h.audit.FailNext(100)
	err := h.engine.Handle(context.Background(), h.webhook(t, "chat_deactivated", "C1", nil))
	permanent, _ := consumer.Classify(err)
	require.Error(t, err)
	assert.False(t, permanent, "an unrecorded decision retries the event")
}

func TestExpressionRuntimeErrorIsPermanent(t *testing.T) {
	h := newHarness(t, []byte(`rules:
  - {name: a, on: livechat.routing_status_set, if: 'int(event.payload.status) > 1', then: [{livechat.tag_thread: {tag: x}}]}
`))
	err := h.engine.Handle(context.Background(), h.webhook(t, "routing_status_set", "C1", nil))
	require.Error(t, err)
	permanent, _ := consumer.Classify(err)
	assert.True(t, permanent)
	assert.Equal(t, []string{"failed"}, h.audit.ByRule()["a"])
}

func TestWatchReloadsAndRefusesBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write := func(s string) { require.NoError(t, os.WriteFile(path, []byte(s), 0o600)) }
	write("rules:\n  - {name: one, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}\n")
	set, err := LoadFile(path, DefaultActions(), NewRegistry())
	require.NoError(t, err)
	h := newHarnessWithSet(t, set)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan struct{}, 1)
	require.NoError(t, h.engine.Watch(ctx, path, sig))

	write("rules:\n  - {name: one, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}\n  - {name: two, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}\n")
	require.Eventually(t, func() bool { return h.engine.Rules().Len() == 2 }, 5*time.Second, 10*time.Millisecond, "reloaded on change")

	write("rules:\n  - {name: broken, on: livechat.chat_deactivated, if: nope, then: [{livechat.unpin: {}}]}\n")
	sig <- struct{}{}
	require.Never(t, func() bool { return h.engine.Rules().Len() != 2 }, 500*time.Millisecond, 20*time.Millisecond, "a broken file is refused")

	// An editor replacing the file (write elsewhere, rename over it).
	tmp := filepath.Join(dir, "rules.yaml.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("rules:\n  - {name: only, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}\n"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	require.Eventually(t, func() bool { return h.engine.Rules().Len() == 1 }, 5*time.Second, 10*time.Millisecond)

	assert.Error(t, h.engine.Reload(filepath.Join(dir, "missing.yaml")))
	assert.Equal(t, 1, h.engine.Rules().Len())
	assert.True(t, errors.Is(h.engine.Watch(ctx, filepath.Join(dir, "no", "such", "dir", "r.yaml"), nil), os.ErrNotExist) ||
		h.engine.Watch(ctx, filepath.Join(dir, "no", "such", "dir", "r.yaml"), nil) != nil)
}

// forgetfulDone loses every record: as a worker that died after the action
// and before recording it.
type forgetfulDone = enginetest.ForgetfulDone

func TestSentEventIsFoundRatherThanSentAgain(t *testing.T) {
	const rule = `
rules:
  - name: note
    on: [livechat.chat_deactivated]
    then:
      - livechat.send_event: {text: closed, visibility: agents}
`
	tests := []struct {
		name      string
		firstRun  bool // the event was handled once before (the record then lost)
		attempt   uint64
		wantSends int
		wantLast  string
	}{
		{"redelivered after a crash before the record: found, not sent again", true, 2, 1, "skipped"},
		{"first delivery: sent without looking", false, 1, 1, "acted"},
		{"redelivered but never sent: sent", false, 2, 1, "acted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []byte(rule), WithDoneStore(forgetfulDone{}))
			h.fake.AddChat(unassignedChat("C1"))
			ev := h.webhook(t, "chat_deactivated", "C1", nil)
			if tt.firstRun {
				require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), 1), ev))
			}
			require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), tt.attempt), ev))
			sends := h.fake.CallsTo("send_event")
			require.Len(t, sends, tt.wantSends)
			assert.Contains(t, string(sends[0].Body), `"custom_id":"chatwarden-`, "the sent event carries its key")
			outcomes := h.audit.ByRule()["note"]
			assert.Equal(t, tt.wantLast+":livechat.send_event", outcomes[len(outcomes)-1])
			if tt.wantLast == "skipped" {
				recs := h.audit.Records()
				assert.Contains(t, recs[len(recs)-1].Reason, "found on the platform")
			}
		})
	}
}

// livechat.send_event sends the Agent Chat API v3.6 shapes: no
// attach_to_last_thread, and a system message with visibility and
// system_message_type (not the pre-3.4 recipients). The fake refuses any
// other shape, so a regression fails the step here.
func TestSendEventV36Shapes(t *testing.T) {
	tests := []struct {
		name      string
		step      string
		wantEvent string
	}{
		{"message", `{text: hi}`, `{"type":"message","text":"hi"}`},
		{"internal note", `{text: hi, visibility: agents}`, `{"type":"message","text":"hi","visibility":"agents"}`},
		{"system message default type", `{type: system_message, text: hi, visibility: agents}`,
			`{"type":"system_message","text":"hi","visibility":"agents","system_message_type":"chatwarden.note"}`},
		{"system message named type", `{type: system_message, text: hi, system_message_type: acme.escalated}`,
			`{"type":"system_message","text":"hi","system_message_type":"acme.escalated"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []byte(`
rules:
  - name: note
    on: [livechat.chat_deactivated]
    then:
      - livechat.send_event: `+tt.step+`
`))
			h.fake.AddChat(unassignedChat("C1"))
			require.NoError(t, h.engine.Handle(context.Background(), h.webhook(t, "chat_deactivated", "C1", nil)))
			sends := h.fake.CallsTo("send_event")
			require.Len(t, sends, 1)
			var body struct {
				ChatID string         `json:"chat_id"`
				Event  map[string]any `json:"event"`
			}
			require.NoError(t, json.Unmarshal(sends[0].Body, &body))
			var top map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(sends[0].Body, &top))
			assert.ElementsMatch(t, []string{"chat_id", "event"}, slices.Collect(maps.Keys(top)))
			assert.Equal(t, "C1", body.ChatID)
			delete(body.Event, "custom_id")
			got, err := json.Marshal(body.Event)
			require.NoError(t, err)
			assert.JSONEq(t, tt.wantEvent, string(got))
			assert.Equal(t, []string{"acted:livechat.send_event"}, h.audit.ByRule()["note"])
		})
	}
}
