package rules_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	. "github.com/chatwarden/chatwarden/rules"
)

// TestTransferIsFoundRatherThanRepeated: a transfer leaves no marker of
// ours, so on a later attempt (the record of the first lost, as when a worker
// dies between the call and the record) the chat's state decides: already in
// the target group, or with a target agent present, it is not transferred
// again; moved elsewhere meanwhile, or never transferred, it is.
func TestTransferIsFoundRatherThanRepeated(t *testing.T) {
	tests := []struct {
		name          string
		then          string
		firstRun      bool                          // handled once before, the record lost
		meanwhile     *livechat.TransferChatRequest // someone moves the chat between the attempts
		attempt       uint64
		wantTransfers int // transfer_chat calls, ours and meanwhile's
		wantLast      string
	}{
		{"group: redelivered after a crash before the record: found, not repeated",
			`livechat.transfer_chat: {group_id: 7}`, true, nil, 2, 1, "skipped"},
		{"group: first delivery: transferred without looking",
			`livechat.transfer_chat: {group_id: 7}`, false, nil, 1, 1, "acted"},
		{"group: redelivered but never transferred: transferred",
			`livechat.transfer_chat: {group_id: 7}`, false, nil, 2, 1, "acted"},
		{"group: moved to another group meanwhile: transferred again",
			`livechat.transfer_chat: {group_id: 7}`, true, &livechat.TransferChatRequest{Target: livechat.ToGroups(9)}, 2, 3, "acted"},
		{"agents: redelivered after a crash before the record: found, not repeated",
			`livechat.transfer_chat: {agent_ids: [vip@example.com, boss@example.com]}`, true, nil, 2, 1, "skipped"},
		{"agents: redelivered but never transferred: transferred",
			`livechat.transfer_chat: {agent_ids: [vip@example.com]}`, false, nil, 2, 1, "acted"},
		{"agents: moved to another agent meanwhile: transferred again",
			`livechat.transfer_chat: {agent_ids: [vip@example.com]}`, true, &livechat.TransferChatRequest{Target: livechat.ToAgents("other@example.com")}, 2, 3, "acted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []byte(`
rules:
  - name: route
    on: [livechat.incoming_event]
    then:
      - `+tt.then+`
`), WithDoneStore(forgetfulDone{}))
			h.fake.AddChat(unassignedChat("C1"))
			ev := h.webhook(t, "incoming_event", "C1", nil)
			if tt.firstRun {
				require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), 1), ev))
			}
			if tt.meanwhile != nil {
				raw, err := h.engine.Clients().Client(event.LiveChat, "")
				require.NoError(t, err)
				api := raw.(LiveChatAPI)
				req := *tt.meanwhile
				req.ChatID = "C1"
				require.NoError(t, api.TransferChat(context.Background(), req))
			}
			require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), tt.attempt), ev))
			assert.Len(t, h.fake.CallsTo("transfer_chat"), tt.wantTransfers)
			outcomes := h.audit.ByRule()["route"]
			require.NotEmpty(t, outcomes)
			assert.Equal(t, tt.wantLast+":livechat.transfer_chat", outcomes[len(outcomes)-1])
			if tt.wantLast == "skipped" {
				recs := h.audit.Records()
				assert.Contains(t, recs[len(recs)-1].Reason, "found on the platform")
			}
		})
	}
}

// TestTransferOfAnInactiveChatIsNotFound: a chat that is no longer active
// is never taken as transferred; the transfer runs and fails as it would.
func TestTransferOfAnInactiveChatIsNotFound(t *testing.T) {
	h := newHarness(t, []byte(`
rules:
  - name: route
    on: [livechat.incoming_event]
    then:
      - livechat.transfer_chat: {group_id: 0}
`), WithDoneStore(forgetfulDone{}))
	chat := unassignedChat("C1")
	chat.Thread.Active = false
	chat.Access.GroupIDs, chat.Thread.Access.GroupIDs = []int{0}, []int{0}
	h.fake.AddChat(chat)
	err := h.engine.Handle(consumer.WithAttempt(context.Background(), 2), h.webhook(t, "incoming_event", "C1", nil))
	require.Error(t, err)
	assert.Len(t, h.fake.CallsTo("transfer_chat"), 1, "not found, so tried")
}
