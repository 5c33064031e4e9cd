package rules_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	. "github.com/chatwarden/chatwarden/rules"
)

// recheckBus is a one-partition bus on a new embedded server, its streams
// provisioned.
func recheckBus(t *testing.T) *bus.Bus {
	t.Helper()
	srv := bustest.Start(t)
	ctx := context.Background()
	b, err := bus.Open(ctx, config.NATS{URL: srv.URL()}, bus.WithPartitions(1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 1, DuplicateWindow: time.Minute, Retention: time.Hour}))
	return b
}

func recheckOf(origin, chat, rule string) *event.Event {
	return &event.Event{ID: event.ContentID([]byte(origin), []byte(rule), []byte("recheck")), Platform: event.LiveChat,
		Action: "incoming_chat", ChatID: chat, Source: event.SourceRecheck, ReceivedAt: time.Now(), Payload: []byte(`{}`),
		Recheck: &event.Recheck{Rule: rule, OriginID: origin}}
}

// TestOneRecheckPendingPerChatAndRule: a second match of a rule for a chat
// while its re-check is pending replaces that re-check (the newer one runs,
// the older never does); other chats, lookalike chat ids included, and
// other rules keep their own. Fired re-checks are no longer pending.
func TestOneRecheckPendingPerChatAndRule(t *testing.T) {
	b := recheckBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := JetStreamScheduler{JS: b.JS, Partitions: 1}

	var mu sync.Mutex
	fired := map[string]string{} // re-check id -> chat/rule
	c, err := b.JS.OrderedConsumer(ctx, bus.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{event.SubjectPrefix + ".>"}})
	require.NoError(t, err)
	cc, err := c.Consume(func(m jetstream.Msg) {
		if ev, err := event.Unmarshal(m.Data()); err == nil && ev.Recheck != nil {
			mu.Lock()
			fired[ev.ID] = ev.ChatID + "/" + ev.Recheck.Rule
			mu.Unlock()
		}
	})
	require.NoError(t, err)
	defer cc.Stop()

	now := time.Now()
	older, newer := recheckOf("e1", "a.b", "r"), recheckOf("e2", "a.b", "r")
	require.NoError(t, s.ScheduleRecheck(ctx, older, now.Add(2*time.Second)))
	require.NoError(t, s.ScheduleRecheck(ctx, newer, now.Add(3*time.Second)))
	require.NoError(t, s.ScheduleRecheck(ctx, older, now.Add(2*time.Second)), "a redelivered match is deduplicated")
	others := []*event.Event{recheckOf("e3", "a_b", "r"), recheckOf("e4", "a.b", "r2"), recheckOf("e5", "PJ0MRSHTDG", "r")}
	for _, re := range others {
		require.NoError(t, s.ScheduleRecheck(ctx, re, now.Add(2*time.Second)))
	}
	n, err := PendingRechecks(ctx, b.JS)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "one per chat and rule")

	want := map[string]string{newer.ID: "a.b/r"}
	for _, re := range others {
		want[re.ID] = re.ChatID + "/" + re.Recheck.Rule
	}
	// The older re-check was due a second before the newer one: had it
	// stayed, it would have fired first.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(c, want, fired)
	}, 30*time.Second, 50*time.Millisecond)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		n, err := PendingRechecks(ctx, b.JS)
		assert.NoError(c, err)
		assert.Zero(c, n)
	}, 10*time.Second, 50*time.Millisecond)
}

// TestPendingRechecksAreCapped: with MaxPending re-checks pending, a match
// of a new chat is refused with ErrTooManyRechecks, while a chat that has
// one pending may still replace it; the engine audits the refused match as
// skipped, says why, and does not retry the event.
func TestPendingRechecksAreCapped(t *testing.T) {
	b := recheckBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := JetStreamScheduler{JS: b.JS, Partitions: 1, MaxPending: 3}
	later := time.Now().Add(time.Hour)
	for i := 1; i <= 3; i++ {
		require.NoError(t, s.ScheduleRecheck(ctx, recheckOf(fmt.Sprint("e", i), fmt.Sprint("C", i), "r"), later))
	}
	err := s.ScheduleRecheck(ctx, recheckOf("e4", "C4", "r"), later)
	require.ErrorIs(t, err, ErrTooManyRechecks)
	assert.ErrorContains(t, err, "workers.max_pending_rechecks is 3")
	require.NoError(t, s.ScheduleRecheck(ctx, recheckOf("e5", "C1", "r"), later.Add(time.Minute)), "replacing a pending one")
	n, err := PendingRechecks(ctx, b.JS)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	h := newHarness(t, []byte(delayedRule), WithScheduler(s))
	h.fake.AddChat(unassignedChat("C9"))
	require.NoError(t, h.engine.Handle(ctx, h.webhook(t, "incoming_chat", "C9", nil)), "not retried")
	recs := h.audit.Records()
	require.Len(t, recs, 1)
	assert.Equal(t, audit.Skipped, recs[0].Outcome)
	assert.Contains(t, recs[0].Reason, "too many pending re-checks")
}
