package chaos_test

import (
	"context"
	"encoding/json"

	"github.com/chatwarden/chatwarden/rules"
)

// The rules under test. Every webhook carries payload.chaos_seq, its
// position among its chat's webhooks; chaos-order writes it to the chat
// (update_chat_properties {chaos: {seq: N}}, idempotent), so the fake's call
// log shows the order in which each chat's events were applied. The other
// rules are one of each kind: an enriched conditional idempotent action
// (unpin), a non-idempotent one (send_event) and a plain idempotent one
// (tag_thread).
const rulesYAML = `
rules:
  - name: chaos-order
    description: Write the webhook's sequence number to its chat; reveals the order events are applied in.
    on: ["livechat.*"]
    handler: ` + seqHandler + `
  - name: unpin-abandoned-unassigned
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
  - name: note-transfer
    on: [livechat.chat_transferred]
    then:
      - livechat.send_event: {text: "` + noteText + `", visibility: agents}
  - name: tag-messages
    on: [livechat.incoming_event]
    then:
      - livechat.tag_thread: {tag: ` + seenTag + `}
`

const (
	seqHandler = "chaos-seq"
	seqNS      = "chaos" // the property namespace chaos-order writes
	noteText   = "Transferred (chatwarden chaos test)"
	seenTag    = "chaos-seen"
)

// The handler is registered in every process made of this test binary: the
// tests, and the worker processes they start (see TestMain).
func init() { rules.MustRegister(seqHandler, rules.RuleFunc(writeSeq)) }

// writeSeq writes the event's payload.chaos_seq to its chat's properties.
func writeSeq(ctx context.Context, c *rules.Call) error {
	seq, ok := payloadSeq(c.Event.Payload)
	if !ok {
		return nil
	}
	return c.Do(ctx, "livechat.update_chat_properties", map[string]any{
		"properties": map[string]any{seqNS: map[string]any{"seq": seq}},
	})
}

func payloadSeq(payload []byte) (int, bool) {
	var p struct {
		Seq *int `json:"chaos_seq"`
	}
	if json.Unmarshal(payload, &p) != nil || p.Seq == nil {
		return 0, false
	}
	return *p.Seq, true
}
