package dlq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

const secret = "s3cret"

// unpinRule is the first policy, acting (not in dry run).
const unpinRule = `rules:
  - name: unpin-abandoned-unassigned
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
`

// openBus starts an embedded NATS server on a temporary data directory and
// provisions the streams, as the service does.
func openBus(t *testing.T) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, config.NATS{DataDir: t.TempDir(), Listen: "off"}, bus.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{
		Partitions: 16, DuplicateWindow: 10 * time.Minute, Retention: time.Hour, Replicas: 1,
	}))
	return b
}

func newStore(t *testing.T, js jetstream.JetStream, opts ...dlq.Option) *dlq.Store {
	t.Helper()
	st, err := dlq.New(js, append([]dlq.Option{dlq.WithLogger(zaptest.NewLogger(t))}, opts...)...)
	require.NoError(t, err)
	return st
}

func testEvent(chat string) *event.Event {
	return &event.Event{
		ID: event.ContentID([]byte(chat)), Platform: event.LiveChat, Action: "chat_deactivated",
		ChatID: chat, Source: event.SourceWebhook, ReceivedAt: time.Now().UTC(), Payload: []byte(`{"chat_id":"` + chat + `"}`),
	}
}

// storeDeadLetter writes a dead letter for ev as the runner would (the event
// was at sequence eventSeq of the events stream) and returns its sequence in
// the dead-letter stream.
func storeDeadLetter(t *testing.T, b *bus.Bus, ev *event.Event, eventSeq uint64, reason string, failedAt time.Time) uint64 {
	t.Helper()
	ctx := context.Background()
	data, err := ev.Marshal()
	require.NoError(t, err)
	dl := &consumer.DeadLetter{
		ID: ev.ID, Platform: ev.Platform, Action: ev.Action, ChatID: ev.ChatID, Event: data,
		Subject: ev.Subject(16), StreamSeq: eventSeq, StoredAt: time.Now().UTC(), Reason: reason,
		Cause: "validation", Error: "permanent (validation): wrong type", Rule: "unpin-abandoned-unassigned",
		Operation: "livechat.unpin", Attempts: 1, FailedAt: failedAt,
	}
	require.NoError(t, consumer.JetStreamDeadLetters{JS: b.JS}.DeadLetter(ctx, dl))
	st, err := b.JS.Stream(ctx, bus.DeadLetterStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	return info.State.LastSeq
}

func eventsStored(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err)
	info, err := st.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func seqs(dls []dlq.DeadLetter) []uint64 {
	out := []uint64{}
	for _, dl := range dls {
		out = append(out, dl.Seq)
	}
	return out
}

// startService runs serve (receiver and workers) against the fake LiveChat
// with the acting unpin rule.
func startService(t *testing.T, apiURL string) *service.Service {
	t.Helper()
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(unpinRule), 0o600))
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.NATS.DataDir = t.TempDir()
	cfg.NATS.Listen = "off"
	cfg.LiveChat.APIURL = apiURL
	cfg.LiveChat.WebhookSecrets = []string{secret}
	cfg.LiveChat.PAT = config.PAT{AccountID: "acc", Token: "tok"}
	cfg.LiveChat.RequestTimeout = time.Second
	cfg.Workers.Concurrency = 4
	cfg.Workers.MaxAttempts = 4
	cfg.Workers.AckWait = 2 * time.Second
	cfg.Workers.BackoffBase = 20 * time.Millisecond
	cfg.Workers.BackoffMax = 200 * time.Millisecond
	cfg.RulesFile = rulesPath
	require.NoError(t, cfg.Validate())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	svc, err := service.Start(ctx, cfg, service.Roles{Receive: true, Work: true}, service.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
	return svc
}

func postDeactivated(t *testing.T, svc *service.Service, chat string) {
	t.Helper()
	resp, err := http.Post("http://"+svc.Addr()+"/webhooks/livechat", "application/json",
		bytes.NewReader(samples.LiveChat("chat_deactivated", secret, chat, "T-"+chat)))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func unpinned(fake *livechattest.Server, chat string) int {
	n := 0
	for _, c := range fake.CallsTo("update_chat_properties") {
		var body struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(c.Body, &body) == nil && body.ID == chat && c.Status == http.StatusOK {
			n++
		}
	}
	return n
}

func TestPermanentFailureInspectedThenRetriedAfterTheCauseIsFixed(t *testing.T) {
	fake := livechattest.New()
	apiURL, stop := fake.Start()
	t.Cleanup(stop)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	fake.FailNext("update_chat_properties", 1, livechattest.Validation("properties.routing.pinned: wrong type"))
	svc := startService(t, apiURL)
	js := svc.Bus().JS
	st := newStore(t, js)
	ctx := context.Background()

	postDeactivated(t, svc, "C1")
	var dls []dlq.DeadLetter
	require.Eventually(t, func() bool {
		var err error
		dls, err = st.List(ctx, dlq.Filter{Reason: consumer.ReasonPermanent})
		return err == nil && len(dls) == 1
	}, 20*time.Second, 20*time.Millisecond)
	dl := dls[0]
	assert.Equal(t, "C1", dl.ChatID)
	assert.Equal(t, "validation", dl.Cause)
	assert.Equal(t, "unpin-abandoned-unassigned", dl.Rule)
	assert.Equal(t, "livechat.unpin", dl.Operation)
	exhausted, err := st.List(ctx, dlq.Filter{Reason: consumer.ReasonExhausted})
	require.NoError(t, err)
	assert.Empty(t, exhausted, "the reason filter applies")

	// show: by its number and by its event id, with the failed attempt.
	for _, ref := range []string{formatSeq(dl.Seq), dl.ID} {
		d, err := st.Get(ctx, ref)
		require.NoError(t, err, ref)
		assert.Equal(t, dl.Seq, d.Seq)
		require.Len(t, d.FailedAttempts, 1, "the failed attempt comes from the audit trail")
		assert.Contains(t, d.FailedAttempts[0].Error, "wrong type")
		assert.Equal(t, "livechat.unpin", d.FailedAttempts[0].Operation)
		ev, err := event.Unmarshal(d.Event)
		require.NoError(t, err)
		assert.Equal(t, "C1", ev.ChatID)
	}

	// A dry run changes nothing.
	stored := eventsStored(t, js)
	res, err := st.Retry(ctx, formatSeq(dl.Seq), true)
	require.NoError(t, err)
	assert.Equal(t, dlq.WouldRetry, res.Outcome)
	assert.Equal(t, dl.ID+"-retry-"+formatSeq(dl.Seq), res.MsgID)
	assert.Equal(t, stored, eventsStored(t, js))
	again, err := st.List(ctx, dlq.Filter{})
	require.NoError(t, err)
	assert.Equal(t, []uint64{dl.Seq}, seqs(again))
	assert.Equal(t, 0, unpinned(fake, "C1"))

	// The fake is healthy again (FailNext fired once): the retry completes.
	res, err = st.Retry(ctx, formatSeq(dl.Seq), false)
	require.NoError(t, err)
	assert.Equal(t, dlq.Retried, res.Outcome)
	assert.False(t, res.Duplicate, "the original event id is still in the duplicate window; the retry id is not")
	assert.Equal(t, stored+1, eventsStored(t, js))
	require.Eventually(t, func() bool { return unpinned(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)
	c, _ := fake.Chat("C1")
	assert.False(t, c.Pinned())
	left, err := st.List(ctx, dlq.Filter{})
	require.NoError(t, err)
	assert.Empty(t, left, "the dead letter is removed")
	require.Eventually(t, func() bool {
		recs, err := audit.Read(ctx, js, audit.Query{ChatID: "C1"})
		if err != nil || len(recs) == 0 {
			return false
		}
		last := recs[len(recs)-1]
		return last.Outcome == audit.Acted && last.EventID == dl.ID
	}, 20*time.Second, 20*time.Millisecond, "the retried event keeps its id in the audit trail")
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(svc.Metrics().DeadLettersPending) == 0
	}, 20*time.Second, 20*time.Millisecond)
}

func formatSeq(n uint64) string { return strconv.FormatUint(n, 10) }

func TestRetryRepublishesPastTheDuplicateWindow(t *testing.T) {
	b := openBus(t)
	st := newStore(t, b.JS)
	ctx := context.Background()
	ev := testEvent("C1")
	_, err := b.Publish(ctx, ev) // the original delivery: its id is in the duplicate window
	require.NoError(t, err)
	seq := storeDeadLetter(t, b, ev, 1, consumer.ReasonPermanent, time.Now())

	res, err := st.Retry(ctx, ev.ID, false)
	require.NoError(t, err)
	assert.Equal(t, dlq.Retried, res.Outcome)
	assert.Equal(t, uint64(2), res.EventSeq)
	assert.Equal(t, uint64(2), eventsStored(t, b.JS))

	es, err := b.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	m, err := es.GetMsg(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, dlq.RetryMsgID(ev.ID, seq), m.Header.Get(jetstream.MsgIDHeader))
	assert.Equal(t, formatSeq(seq), m.Header.Get(dlq.HeaderRetryOf))
	assert.Equal(t, ev.Subject(16), m.Subject, "same subject, so the same partition")
	got, err := event.Unmarshal(m.Data)
	require.NoError(t, err)
	assert.Equal(t, ev.ID, got.ID, "the event keeps its id")

	_, err = st.Get(ctx, formatSeq(seq))
	require.ErrorIs(t, err, dlq.ErrNotFound)
}

func TestNothingIsLostWhenRepublishingFails(t *testing.T) {
	b := openBus(t)
	st := newStore(t, b.JS)
	ctx := context.Background()
	seq := storeDeadLetter(t, b, testEvent("C1"), 1, consumer.ReasonPermanent, time.Now())
	require.NoError(t, b.JS.DeleteStream(ctx, bus.EventsStream))

	res, err := st.Retry(ctx, formatSeq(seq), false)
	require.Error(t, err)
	assert.Equal(t, dlq.Failed, res.Outcome)
	assert.Contains(t, err.Error(), "the dead letter is kept")
	rep, err := st.RetryAll(ctx, dlq.Filter{}, false)
	require.Error(t, err)
	assert.Equal(t, 1, rep.Failed)

	dls, err := st.List(ctx, dlq.Filter{})
	require.NoError(t, err)
	assert.Equal(t, []uint64{seq}, seqs(dls), "the dead letter stays")
}

func TestRetryAll(t *testing.T) {
	b := openBus(t)
	st := newStore(t, b.JS)
	ctx := context.Background()
	now := time.Now()
	s1 := storeDeadLetter(t, b, testEvent("C1"), 1, consumer.ReasonPermanent, now.Add(-3*time.Hour))
	s2 := storeDeadLetter(t, b, testEvent("C2"), 2, consumer.ReasonExhausted, now.Add(-time.Minute))
	// An undecodable message: no event to retry.
	require.NoError(t, consumer.JetStreamDeadLetters{JS: b.JS}.DeadLetter(ctx, &consumer.DeadLetter{
		ID: "seq-3", Event: json.RawMessage(`"garbage"`), Subject: "chatwarden.events.x.y.0", StreamSeq: 3,
		Reason: consumer.ReasonUndecodable, Error: "decoding stored event", FailedAt: now,
	}))

	tests := []struct {
		name                  string
		filter                dlq.Filter
		wantDone, wantSkipped int
	}{
		{"by reason", dlq.Filter{Reason: consumer.ReasonExhausted}, 1, 0},
		{"since", dlq.Filter{Since: now.Add(-time.Hour)}, 1, 1},
		{"all", dlq.Filter{}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := st.RetryAll(ctx, tt.filter, true)
			require.NoError(t, err)
			assert.True(t, rep.DryRun)
			assert.Equal(t, tt.wantDone, rep.Done)
			assert.Equal(t, tt.wantSkipped, rep.Skipped)
			assert.Equal(t, uint64(0), eventsStored(t, b.JS), "a dry run publishes nothing")
		})
	}

	rep, err := st.RetryAll(ctx, dlq.Filter{}, false)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Done)
	assert.Equal(t, 1, rep.Skipped)
	require.Len(t, rep.Results, 3)
	assert.Equal(t, []string{dlq.Retried, dlq.Retried, dlq.Skipped},
		[]string{rep.Results[0].Outcome, rep.Results[1].Outcome, rep.Results[2].Outcome})
	assert.Equal(t, []uint64{s1, s2}, []uint64{rep.Results[0].Seq, rep.Results[1].Seq}, "oldest first")
	assert.Equal(t, uint64(2), eventsStored(t, b.JS))

	left, err := st.List(ctx, dlq.Filter{})
	require.NoError(t, err)
	require.Len(t, left, 1, "only the undecodable one is left")
	_, err = st.Retry(ctx, formatSeq(left[0].Seq), false)
	require.ErrorIs(t, err, dlq.ErrNotRetryable)
	assert.Contains(t, err.Error(), "purge")
}

func TestPurge(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		purge   func(st *dlq.Store, old, recent uint64, oldEvent string) ([]uint64, error)
		wantOut []uint64 // purged (or would be)
		wantErr error
		dryRun  bool
	}{
		{
			name: "by number",
			purge: func(st *dlq.Store, old, _ uint64, _ string) ([]uint64, error) {
				res, err := st.Purge(context.Background(), formatSeq(old), false)
				return []uint64{res.Seq}, err
			},
			wantOut: []uint64{1},
		},
		{
			name: "by event id",
			purge: func(st *dlq.Store, _, _ uint64, id string) ([]uint64, error) {
				res, err := st.Purge(context.Background(), id, false)
				return []uint64{res.Seq}, err
			},
			wantOut: []uint64{1},
		},
		{
			name: "older than",
			purge: func(st *dlq.Store, _, _ uint64, _ string) ([]uint64, error) {
				rep, err := st.PurgeOlderThan(context.Background(), 24*time.Hour, false)
				return resultSeqs(rep), err
			},
			wantOut: []uint64{1},
		},
		{
			name: "older than, dry run",
			purge: func(st *dlq.Store, _, _ uint64, _ string) ([]uint64, error) {
				rep, err := st.PurgeOlderThan(context.Background(), time.Hour, true)
				return resultSeqs(rep), err
			},
			wantOut: []uint64{1, 2},
			dryRun:  true,
		},
		{
			name: "older than, none that old",
			purge: func(st *dlq.Store, _, _ uint64, _ string) ([]uint64, error) {
				rep, err := st.PurgeOlderThan(context.Background(), 30*24*time.Hour, false)
				return resultSeqs(rep), err
			},
			wantOut: []uint64{},
		},
		{
			name: "unknown number",
			purge: func(st *dlq.Store, _, _ uint64, _ string) ([]uint64, error) {
				_, err := st.Purge(context.Background(), "42", false)
				return nil, err
			},
			wantErr: dlq.ErrNotFound,
		},
		{
			name: "non-positive age",
			purge: func(st *dlq.Store, _, _ uint64, _ string) ([]uint64, error) {
				_, err := st.PurgeOlderThan(context.Background(), 0, false)
				return nil, err
			},
			wantErr: dlq.ErrInvalidArgument,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := openBus(t)
			st := newStore(t, b.JS, dlq.WithClock(func() time.Time { return now }))
			oldEv := testEvent("OLD")
			old := storeDeadLetter(t, b, oldEv, 1, consumer.ReasonPermanent, now.Add(-48*time.Hour))
			recent := storeDeadLetter(t, b, testEvent("RECENT"), 2, consumer.ReasonPermanent, now.Add(-2*time.Hour))
			require.Equal(t, []uint64{1, 2}, []uint64{old, recent})

			got, err := tt.purge(st, old, recent, oldEv.ID)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantOut, got)
			left, err := st.List(context.Background(), dlq.Filter{})
			require.NoError(t, err)
			want := []uint64{}
			for _, s := range []uint64{old, recent} {
				if tt.dryRun || !contains(tt.wantOut, s) {
					want = append(want, s)
				}
			}
			assert.Equal(t, want, seqs(left))
		})
	}
}

func resultSeqs(rep *dlq.Report) []uint64 {
	if rep == nil {
		return nil
	}
	out := []uint64{}
	for _, r := range rep.Results {
		out = append(out, r.Seq)
	}
	return out
}

func contains(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestReferences(t *testing.T) {
	b := openBus(t)
	st := newStore(t, b.JS)
	ev := testEvent("C1")
	first := storeDeadLetter(t, b, ev, 1, consumer.ReasonPermanent, time.Now())
	// The same event dead-lettered again after a retry (a new events sequence).
	storeDeadLetter(t, b, ev, 7, consumer.ReasonPermanent, time.Now())

	tests := []struct {
		name    string
		ref     string
		wantSeq uint64
		wantErr error
		wantMsg string
	}{
		{"by number", formatSeq(first), first, nil, ""},
		{"unknown number", "999", 0, dlq.ErrNotFound, "no dead letter 999"},
		{"unknown event id", "nope", 0, dlq.ErrNotFound, "no dead letter nope"},
		{"empty", " ", 0, dlq.ErrInvalidArgument, "empty"},
		{"event id of two dead letters", ev.ID, 0, dlq.ErrAmbiguous, "(1, 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := st.Get(context.Background(), tt.ref)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), tt.wantMsg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantSeq, d.Seq)
		})
	}
}

func TestNotADeadLetterIsListedAndPurgeable(t *testing.T) {
	b := openBus(t)
	st := newStore(t, b.JS)
	ctx := context.Background()
	_, err := b.JS.PublishMsg(ctx, &nats.Msg{Subject: bus.DeadLetterPrefix + ".x.y", Data: []byte("not json")})
	require.NoError(t, err)
	dls, err := st.List(ctx, dlq.Filter{})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	assert.Contains(t, dls[0].Error, "not a dead letter")
	_, err = st.Purge(ctx, formatSeq(dls[0].Seq), false)
	require.NoError(t, err)
}

func TestFilterValidation(t *testing.T) {
	_, err := newStore(t, openBus(t).JS).List(context.Background(), dlq.Filter{Reason: "bogus"})
	require.ErrorIs(t, err, dlq.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "attempts_exhausted")
}

func TestMissingStreamSaysWhatToCheck(t *testing.T) {
	b := openBus(t)
	require.NoError(t, b.JS.DeleteStream(context.Background(), bus.DeadLetterStream))
	_, err := newStore(t, b.JS).List(context.Background(), dlq.Filter{})
	require.ErrorIs(t, err, dlq.ErrNoStream)
	assert.Contains(t, err.Error(), "nats.data_dir")
}

func TestWatchPending(t *testing.T) {
	b := openBus(t)
	st := newStore(t, b.JS)
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "pending"})
	w := st.WatchPending(g, 10*time.Millisecond)
	t.Cleanup(w.Stop)

	seq := storeDeadLetter(t, b, testEvent("C1"), 1, consumer.ReasonPermanent, time.Now())
	storeDeadLetter(t, b, testEvent("C2"), 2, consumer.ReasonPermanent, time.Now())
	require.Eventually(t, func() bool { return testutil.ToFloat64(g) == 2 }, 10*time.Second, 10*time.Millisecond)
	_, err := st.Purge(context.Background(), formatSeq(seq), false)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return testutil.ToFloat64(g) == 1 }, 10*time.Second, 10*time.Millisecond)
	w.Stop()
	w.Stop() // idempotent
}

func TestParse(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{"duration", "90m", now.Add(-90 * time.Minute), false},
		{"days", "7d", now.Add(-7 * 24 * time.Hour), false},
		{"RFC 3339", "2026-05-01T08:30:00Z", time.Date(2026, 5, 1, 8, 30, 0, 0, time.UTC), false},
		{"date", "2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), false},
		{"garbage", "yesterday", time.Time{}, true},
		{"negative", "-1h", time.Time{}, true},
		{"zero", "0s", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dlq.ParseSince(tt.in, now)
			if tt.wantErr {
				require.ErrorIs(t, err, dlq.ErrInvalidArgument)
				return
			}
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(got), "got %s", got)
		})
	}
}
