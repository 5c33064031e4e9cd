package sweep_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/service"
	"github.com/chatwarden/chatwarden/sweep"
)

// busOpen connects to the NATS server at url; closed at the end of the test.
func busOpen(t *testing.T, url string) (*bus.Bus, error) {
	t.Helper()
	b, err := bus.Open(context.Background(), config.NATS{URL: url, Name: "test"})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b, nil
}

// scheduleMsg is the stored schedule message of the livechat sweep, if any.
func scheduleMsg(t *testing.T, js jetstream.JetStream) *jetstream.RawStreamMsg {
	t.Helper()
	st, err := js.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err)
	m, err := st.GetLastMsgForSubject(context.Background(), sweep.ScheduleSubject(sweep.KindLiveChatUnassigned))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	require.NoError(t, err)
	return m
}

// subjectCount is how many messages the events stream holds on subject.
func subjectCount(t *testing.T, js jetstream.JetStream, subject string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), bus.EventsStream)
	require.NoError(t, err)
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	require.NoError(t, err)
	return info.State.Subjects[subject]
}

func TestApplySchedule(t *testing.T) {
	nats := bustest.Start(t)
	b, err := busOpen(t, nats.URL())
	require.NoError(t, err)
	require.NoError(t, bus.ProvisionStreams(context.Background(), b.JS, bus.StreamSettings{Partitions: 4,
		DuplicateWindow: time.Minute, Retention: time.Hour, Replicas: 1}))
	params := sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: 48 * time.Hour}

	// Steps run in order against one stream.
	steps := []struct {
		name     string
		schedule sweep.Schedule
		want     string // what ApplySchedule did
		wantErr  bool
		stored   bool // a schedule message exists afterwards
		sameSeq  bool // ... the same one as before the step
	}{
		{"nothing to remove", sweep.Schedule{}, "", false, false, false},
		{"stored", sweep.Schedule{Spec: "@every 1h", Params: params}, "created", false, true, false},
		{"the same again: left as it is", sweep.Schedule{Spec: "@every 1h", Params: params}, "unchanged", false, true, true},
		{"other parameters: replaced", sweep.Schedule{Spec: "@every 1h", Params: sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: 24 * time.Hour}}, "created", false, true, false},
		{"another spec: replaced", sweep.Schedule{Spec: "0 0 3 * * *", Params: params}, "created", false, true, false},
		{"an invalid spec is refused, the schedule stays", sweep.Schedule{Spec: "@every lunchtime", Params: params}, "", true, true, true},
		{"removed", sweep.Schedule{}, "removed", false, false, false},
	}
	var lastSeq uint64
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := sweep.ApplySchedule(context.Background(), b.JS, 4, st.schedule)
			if st.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				assert.Equal(t, st.want, got)
			}
			m := scheduleMsg(t, b.JS)
			if !st.stored {
				assert.Nil(t, m)
				lastSeq = 0
				return
			}
			require.NotNil(t, m)
			assert.Equal(t, uint64(1), subjectCount(t, b.JS, sweep.ScheduleSubject(sweep.KindLiveChatUnassigned)), "one schedule message")
			assert.Equal(t, st.sameSeq, m.Sequence == lastSeq)
			lastSeq = m.Sequence
		})
	}
}

// TestScheduledSweepOneReplicaPerTick starts three worker replicas at once
// with a sweep every second: they store one schedule, each tick is run by
// one replica (one listing per tick), the chats are unpinned once each, and
// a fourth replica starting later leaves the schedule as it is.
func TestScheduledSweepOneReplicaPerTick(t *testing.T) {
	fake := livechattest.New()
	url, stop := fake.Start()
	defer stop()
	for _, id := range []string{"C1", "C2", "C3"} {
		fake.AddChat(unassigned(id, 72*time.Hour))
	}
	nats := bustest.Start(t)
	cfg := workerConfig(t, url, nats.URL())
	cfg.Sweep.Schedule = "@every 1s"

	var wg sync.WaitGroup
	replicas := make([]*service.Service, 3)
	for i := range replicas {
		wg.Go(func() { replicas[i] = startWorkers(t, cfg) })
	}
	wg.Wait()
	js := replicas[0].Bus().JS
	first := scheduleMsg(t, js)
	require.NotNil(t, first)
	subject := sweep.ScheduleSubject(sweep.KindLiveChatUnassigned)
	assert.Equal(t, uint64(1), subjectCount(t, js, subject), "several replicas starting store one schedule")

	startWorkers(t, cfg)
	assert.Equal(t, first.Sequence, scheduleMsg(t, js).Sequence, "a replica starting later leaves the schedule (and its next tick) alone")

	tickSubject := "chatwarden.events.livechat." + sweep.ActionTick + ".0"
	state := func() string {
		return fmt.Sprintf("ticks %d, listings %d, unpins %v", subjectCount(t, js, tickSubject), len(fake.CallsTo("list_archives")), unpins(fake))
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, subjectCount(t, js, tickSubject), uint64(3), state())
		assert.Len(c, unpins(fake), 3, state())
	}, 20*time.Second, 50*time.Millisecond)

	// Stop the schedule, let the workers finish, then compare.
	removed, err := sweep.RemoveSchedule(context.Background(), js, sweep.KindLiveChatUnassigned)
	require.NoError(t, err)
	assert.True(t, removed)
	require.Eventually(t, func() bool {
		idle, err := bus.WorkersIdle(context.Background(), js, cfg.NATS.Partitions)
		return err == nil && idle
	}, 20*time.Second, 20*time.Millisecond)
	ticks := subjectCount(t, js, tickSubject)
	assert.Equal(t, int(ticks), len(fake.CallsTo("list_archives")), "one listing per tick: each tick ran on one replica")
	assert.Equal(t, map[string]int{"C1": 1, "C2": 1, "C3": 1}, unpins(fake))
}

// memPublisher keeps published events; an event id seen before is a
// duplicate.
type memPublisher struct {
	mu   sync.Mutex
	evs  []*event.Event
	seen map[string]bool
}

func (m *memPublisher) Publish(_ context.Context, ev *event.Event) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	dup := m.seen[ev.ID]
	m.seen[ev.ID] = true
	if !dup {
		m.evs = append(m.evs, ev)
	}
	return dup, nil
}

type clientsFunc func(tenant string) (any, error)

func (f clientsFunc) Client(platform, tenant string) (any, error) {
	if platform != event.LiveChat {
		return nil, rules.NoCredentials(platform, "not in this test")
	}
	return f(tenant)
}

func TestTicks(t *testing.T) {
	tick := func(s sweep.Schedule) *event.Event {
		payload, err := json.Marshal(s)
		require.NoError(t, err)
		return &event.Event{ID: "tick", Platform: event.LiveChat, Action: sweep.ActionTick, Source: event.SourceSweep, Payload: payload}
	}
	params := sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: 48 * time.Hour}
	tests := []struct {
		name          string
		ev            *event.Event
		fail          *livechattest.Failure
		noCredentials bool
		wantNext      bool
		wantPublished int
		wantErr       string // "", "permanent" or "retry"
	}{
		{"another event goes on", &event.Event{Platform: event.LiveChat, Action: "chat_deactivated"}, nil, false, true, 0, ""},
		{"a tick sweeps", tick(sweep.Schedule{Spec: "@hourly", Params: params}), nil, false, false, 2, ""},
		{"a tick of any age sweeps the young chat too", tick(sweep.Schedule{Spec: "@hourly", Params: sweep.Params{Kind: sweep.KindLiveChatUnassigned}}), nil, false, false, 3, ""},
		{"no credentials: dead-lettered", tick(sweep.Schedule{Spec: "@hourly", Params: params}), nil, true, false, 0, "permanent"},
		{"listing refused: dead-lettered", tick(sweep.Schedule{Spec: "@hourly", Params: params}), ptr(livechattest.Validation("bad")), false, false, 0, "permanent"},
		{"listing failing: retried", tick(sweep.Schedule{Spec: "@hourly", Params: params}), ptr(livechattest.ServiceUnavailable()), false, false, 0, "retry"},
		{"an undecodable tick: dead-lettered", &event.Event{Platform: event.LiveChat, Action: sweep.ActionTick, Payload: []byte(`[]`)}, nil, false, false, 0, "permanent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := startFake(t)
			fake.AddChat(unassigned("C1", 72*time.Hour))
			fake.AddChat(unassigned("C2", 50*time.Hour))
			fake.AddChat(unassigned("C3", time.Hour))
			if tt.fail != nil {
				fake.FailNext("list_archives", 100, *tt.fail)
			}
			clients := clientsFunc(func(string) (any, error) {
				if tt.noCredentials {
					return nil, rules.ErrNoCredentials
				}
				return api, nil
			})
			pub := &memPublisher{}
			var gotNext bool
			next := consumer.HandlerFunc(func(context.Context, *event.Event) error { gotNext = true; return nil })
			h := consumer.Chain(next, sweep.Ticks(clients, pub, nil, sweep.WithListRetries(1, 10*time.Millisecond)))
			err := h.Handle(context.Background(), tt.ev)
			assert.Equal(t, tt.wantNext, gotNext)
			assert.Len(t, pub.evs, tt.wantPublished)
			for _, ev := range pub.evs {
				assert.Equal(t, sweep.ActionUnassigned, ev.Action)
				var p sweep.Payload
				require.NoError(t, json.Unmarshal(ev.Payload, &p))
				assert.Equal(t, sweep.TriggerSchedule, p.Sweep.Trigger)
			}
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			permanent, _ := consumer.Classify(err)
			assert.Equal(t, tt.wantErr == "permanent", permanent, "%v", err)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// flakyPublisher fails its first fail publishes.
type flakyPublisher struct {
	memPublisher
	fail int
}

func (f *flakyPublisher) Publish(ctx context.Context, ev *event.Event) (bool, error) {
	f.mu.Lock()
	if f.fail > 0 {
		f.fail--
		f.mu.Unlock()
		return false, bus.ErrNotConnected
	}
	f.mu.Unlock()
	return f.memPublisher.Publish(ctx, ev)
}

// countingWindow records what Publish asks of its window.
type countingWindow struct {
	expected, waits int
	size            int
}

func (w *countingWindow) Expect(*event.Event) { w.expected++ }
func (w *countingWindow) WaitBelow(_ context.Context, n int) error {
	w.waits++
	w.size = n
	return nil
}

func TestPublish(t *testing.T) {
	chats := make([]sweep.Chat, 10)
	for i := range chats {
		chats[i] = sweep.Chat{ID: fmt.Sprintf("C%d", i), ThreadID: fmt.Sprintf("T%d", i)}
	}
	params := sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: time.Hour}
	tests := []struct {
		name     string
		fail     int
		maxRate  float64
		window   bool
		wantErr  bool
		minTook  time.Duration
		wantSent int
	}{
		{"all of them", 0, 0, false, false, 0, 10},
		{"a publish that fails is tried again", 2, 0, false, false, time.Second, 10},
		{"gives up after three tries", 3, 0, false, true, 0, 0},
		{"paced by max rate", 0, 100, false, false, 90 * time.Millisecond, 10},
		{"through a window", 0, 0, true, false, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, api := startFake(t)
			pub := &flakyPublisher{fail: tt.fail}
			sw := newSweeper(t, api, pub, sweep.WithMaxRate(tt.maxRate))
			opts := sweep.PublishOptions{}
			w := &countingWindow{}
			if tt.window {
				opts.Window, opts.Size = w, 4
			}
			begin := time.Now()
			got, err := sw.Publish(context.Background(), chats, params, opts)
			if tt.wantErr {
				require.ErrorIs(t, err, bus.ErrNotConnected)
			} else {
				require.NoError(t, err)
			}
			assert.GreaterOrEqual(t, time.Since(begin), tt.minTook)
			assert.Equal(t, tt.wantSent, got.Stored)
			assert.Len(t, pub.evs, tt.wantSent)
			if tt.window {
				assert.Equal(t, 10, w.expected)
				assert.Equal(t, 10, w.waits)
				assert.Equal(t, 4, w.size)
			}
		})
	}
	// Publishing the same chats again: duplicates, nothing stored.
	_, api := startFake(t)
	pub := &memPublisher{}
	sw := newSweeper(t, api, pub)
	_, err := sw.Publish(context.Background(), chats, params, sweep.PublishOptions{})
	require.NoError(t, err)
	again, err := sw.Publish(context.Background(), chats, params, sweep.PublishOptions{})
	require.NoError(t, err)
	assert.Equal(t, sweep.Published{Duplicates: 10}, again)
}
