package dlq_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/event"
)

// TestAutoRetryRetriesOnlyOutagesOfTheOrganizationWithinItsCaps: dead
// letters of an outage (attempts exhausted on connection errors, timeouts
// or 5xx) of the organization whose breaker closed are retried, oldest
// first, up to the cap per close; others (another organization, a failure
// of the call, a permanent failure, an event already retried
// MaxAutoRetries times) stay. The republished event carries its count.
func TestAutoRetryRetriesOnlyOutagesOfTheOrganizationWithinItsCaps(t *testing.T) {
	b := openBus(t)
	st := newStore(t, b.JS)
	ctx := context.Background()
	now := time.Now().UTC()
	store := func(chat, tenant, reason string, outage bool, autoRetries int) uint64 {
		ev := testEvent(chat)
		ev.Tenant = tenant
		data, err := ev.Marshal()
		require.NoError(t, err)
		require.NoError(t, consumer.JetStreamDeadLetters{JS: b.JS}.DeadLetter(ctx, &consumer.DeadLetter{
			ID: ev.ID, Platform: ev.Platform, Action: ev.Action, ChatID: chat, Event: data, Subject: ev.Subject(16),
			StoredAt: now, Reason: reason, Error: "dial tcp: connection refused", Attempts: 8, FailedAt: now,
			Outage: outage, AutoRetries: autoRetries,
		}))
		s, err := b.JS.Stream(ctx, bus.DeadLetterStream)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		return info.State.LastSeq
	}
	first := store("A1", "org-a", consumer.ReasonExhausted, true, 0)
	store("B1", "org-b", consumer.ReasonExhausted, true, 0)                  // another organization
	store("A2", "org-a", consumer.ReasonExhausted, false, 0)                 // the call failed, not the platform
	store("A3", "org-a", consumer.ReasonPermanent, false, 0)                 // permanent
	store("A4", "org-a", consumer.ReasonExhausted, true, dlq.MaxAutoRetries) // retried enough
	second := store("A5", "org-a", consumer.ReasonExhausted, true, 1)
	store("A6", "org-a", consumer.ReasonExhausted, true, 0) // over the cap of this close

	rep, err := st.AutoRetry(ctx, func(ev *event.Event) bool { return ev.Tenant == "org-a" }, 2)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Done)
	assert.Equal(t, []uint64{first, second}, resultSeqs(rep), "oldest first, up to the cap")

	left, err := st.List(ctx, dlq.Filter{})
	require.NoError(t, err)
	var chats []string
	for _, dl := range left {
		chats = append(chats, dl.ChatID)
	}
	assert.Equal(t, []string{"B1", "A2", "A3", "A4", "A6"}, chats)

	// The republished events carry how many times they were retried so.
	s, err := b.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	for seq, want := range map[uint64]string{1: "1", 2: "2"} {
		msg, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		assert.Equal(t, want, msg.Header.Get(consumer.HeaderAutoRetries), "event %d", seq)
	}
}
