package consumer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/metrics"
)

// fakeMsg is the part of a delivered message the dead-lettering uses.
type fakeMsg struct {
	jetstream.Msg // other methods are not called (a call panics)
	data          []byte
	inProgress    int
}

func (m *fakeMsg) Data() []byte         { return m.data }
func (m *fakeMsg) Subject() string      { return "chatwarden.events.0.livechat" }
func (m *fakeMsg) Headers() nats.Header { return nats.Header{} }
func (m *fakeMsg) InProgress() error    { m.inProgress++; return nil }

// sink answers each dead letter with the next of errs (nil after the end).
type sink struct {
	mu     sync.Mutex
	errs   []error
	stored []*DeadLetter
}

func (s *sink) DeadLetter(_ context.Context, dl *DeadLetter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return err
	}
	s.stored = append(s.stored, dl)
	return nil
}

func TestPoisonMiddleware(t *testing.T) {
	cause := Permanent("validation", errors.New("422 from the API"))
	cases := []struct {
		name       string
		inner      error
		sinkErrs   []error
		stopping   bool
		wantReason string // the termination's, "" when none
		wantErr    error  // when not a termination
		wantStored bool
	}{
		{name: "success passes through", inner: nil},
		{name: "a hand-back passes through", inner: errHandBack, wantErr: errHandBack},
		{name: "given up: dead-lettered, then terminated", inner: &giveUp{reason: ReasonPermanent, attempts: 2, err: cause},
			wantReason: ReasonPermanent, wantStored: true},
		{name: "the broker fails to store: retried in place until stored", inner: &giveUp{reason: ReasonExhausted, attempts: 8, err: Outage(errors.New("timeout"))},
			sinkErrs: []error{nats.ErrTimeout, nats.ErrTimeout}, wantReason: ReasonExhausted, wantStored: true},
		{name: "refused: terminated without a dead letter", inner: &giveUp{reason: ReasonPermanent, attempts: 1, err: cause},
			sinkErrs: []error{ErrDeadLetterRefused}, wantReason: ReasonPermanent + "; dead letter refused"},
		{name: "stopping before it is stored: handed back", inner: &giveUp{reason: ReasonPermanent, attempts: 1, err: cause},
			sinkErrs: []error{nats.ErrTimeout}, stopping: true, wantErr: errHandBack},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			if tc.stopping {
				stop()
			}
			s := &sink{errs: tc.sinkErrs}
			r := &Runner{dlq: s, logger: zap.NewNop(), metrics: metrics.New(), workCtx: ctx, ackWait: 30 * time.Second,
				backoff: Backoff{Base: time.Millisecond, Max: time.Millisecond}}
			msg := &fakeMsg{data: []byte("not an event")}
			h, _ := testHandling(1, func(int) string { return "" })
			h.j = &job{msg: msg, ev: h.ev}
			h.md.Sequence.Stream = 42
			err := r.poison(func(context.Context, *handling) error { return tc.inner })(context.Background(), h)
			var tm *termination
			if tc.wantReason != "" {
				require.ErrorAs(t, err, &tm)
				assert.Equal(t, tc.wantReason, tm.reason)
				tm.done() // the outcome's metrics and log line do not fail
			} else {
				assert.Equal(t, tc.wantErr, err)
			}
			if !tc.wantStored {
				assert.Empty(t, s.stored)
				return
			}
			require.Len(t, s.stored, 1)
			dl, g := s.stored[0], tc.inner.(*giveUp)
			assert.Equal(t, g.reason, dl.Reason)
			assert.Equal(t, g.attempts, dl.Attempts, "the attempts the retries reached")
			assert.Equal(t, "e1", dl.ID)
			assert.Equal(t, uint64(42), dl.StreamSeq)
			assert.Equal(t, g.reason == ReasonExhausted, dl.Outage, "an outage's exhausted attempts are marked for dlq.auto_retry")
			assert.Equal(t, len(tc.sinkErrs), msg.inProgress, "kept alive while storing is retried")
		})
	}
}
