package sweep_test

import (
	"context"
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
	"github.com/chatwarden/chatwarden/livechat/livechattest"
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
