package consumer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
)

// testWaiter is a handler error saying the platform is unavailable until
// ready is closed.
type testWaiter struct{ ready chan struct{} }

func (w testWaiter) Error() string          { return "breaker open" }
func (w testWaiter) Ready() <-chan struct{} { return w.ready }

func readyWaiter() testWaiter {
	w := testWaiter{ready: make(chan struct{})}
	close(w.ready)
	return w
}

func testHandling(delivered uint64, lost func(try int) string) (*handling, *int) {
	tries := 0
	h := &handling{
		md:  &jetstream.MsgMetadata{NumDelivered: delivered},
		ev:  &event.Event{ID: "e1", Platform: "livechat", Action: "incoming_chat", ChatID: "C1"},
		log: func(zapcore.Level, string, ...zap.Field) {},
	}
	h.lost = func() string { return lost(tries) }
	return h, &tries
}

func TestRetrier(t *testing.T) {
	errRetry := errors.New("503 from the API")
	never := func(int) string { return "" }
	cases := []struct {
		name        string
		delivered   uint64
		maxAttempts uint64
		results     []error // the handler's, in order (nil after the end)
		waitOK      bool    // what an outage wait returns
		stopped     bool    // the runner is stopping
		lost        func(try int) string
		cancelLost  bool // the handler's context is cancelled as lost on its first try

		wantErr      error  // errHandBack, or nil
		wantGiveUp   string // the reason, when given up
		wantAttempts uint64 // recorded with the give-up
		wantLost     bool
		wantSeen     []uint64 // the attempts the handler saw
		wantHandBack bool     // the chat was recorded as handed back
	}{
		{name: "success at once", delivered: 1, maxAttempts: 3, results: []error{nil}, wantSeen: []uint64{1}},
		{name: "retryable failures retried in place until success", delivered: 1, maxAttempts: 3,
			results: []error{errRetry, errRetry, nil}, wantSeen: []uint64{1, 2, 3}},
		{name: "a redelivery counts from its delivery number", delivered: 2, maxAttempts: 3,
			results: []error{errRetry, errRetry}, wantGiveUp: ReasonExhausted, wantAttempts: 3, wantSeen: []uint64{2, 3}},
		{name: "permanent failure given up at once", delivered: 1, maxAttempts: 3,
			results: []error{Permanent("validation", errors.New("422"))}, wantGiveUp: ReasonPermanent, wantAttempts: 1, wantSeen: []uint64{1}},
		{name: "attempts exhausted", delivered: 1, maxAttempts: 2,
			results: []error{errRetry, errRetry}, wantGiveUp: ReasonExhausted, wantAttempts: 2, wantSeen: []uint64{1, 2}},
		{name: "outage waits spend no attempt; the handler sees the extra tries", delivered: 1, maxAttempts: 1, waitOK: true,
			results: []error{readyWaiter(), readyWaiter(), nil}, wantSeen: []uint64{1, 2, 3}},
		{name: "outage then retryable failures still get their attempts", delivered: 1, maxAttempts: 2, waitOK: true,
			results: []error{readyWaiter(), errRetry, errRetry}, wantGiveUp: ReasonExhausted, wantAttempts: 2, wantSeen: []uint64{1, 2, 3}},
		{name: "stopping during an outage wait hands the event and its chat back", delivered: 1, maxAttempts: 3, waitOK: false,
			results: []error{readyWaiter()}, wantErr: errHandBack, wantHandBack: true, wantSeen: []uint64{1}},
		{name: "ownership lost during an outage wait: not run again", delivered: 1, maxAttempts: 3, waitOK: true,
			results: []error{readyWaiter(), nil}, lost: func(try int) string { return "pin moved" }, wantLost: true, wantSeen: []uint64{1}},
		{name: "ownership lost before a retry: not run again", delivered: 1, maxAttempts: 3,
			results: []error{errRetry, nil}, lost: func(try int) string { return "no keepalive" }, wantLost: true, wantSeen: []uint64{1}},
		{name: "a handler cancelled as lost stops at once", delivered: 1, maxAttempts: 3, cancelLost: true,
			results: []error{context.Canceled}, wantLost: true, wantSeen: []uint64{1}},
		{name: "stopping: a retryable failure is handed back, its attempt not spent", delivered: 1, maxAttempts: 3, stopped: true,
			results: []error{errRetry}, wantErr: errHandBack, wantSeen: []uint64{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stopping, stop := context.WithCancel(context.Background())
			defer stop()
			if tc.stopped {
				stop()
			}
			var handedBack []string
			rt := &retrier{maxAttempts: tc.maxAttempts, backoff: Backoff{Base: time.Millisecond, Max: time.Millisecond}, metrics: metrics.New(),
				stopping: stopping, waitOutage: func(ready <-chan struct{}) bool { <-ready; return tc.waitOK },
				handBack: func(chat string) { handedBack = append(handedBack, chat) }}
			lost := tc.lost
			if lost == nil {
				lost = never
			}
			h, tries := testHandling(tc.delivered, lost)
			var seen []uint64
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			err := rt.middleware(func(ctx context.Context, h *handling) error {
				seen = append(seen, h.attempt)
				*tries++
				if tc.cancelLost {
					cancel(errOwnershipLost)
				}
				if len(seen) > len(tc.results) {
					return nil
				}
				return tc.results[len(seen)-1]
			})(ctx, h)
			assert.Equal(t, tc.wantSeen, seen, "attempts seen by the handler")
			var g *giveUp
			var le *lostError
			switch {
			case tc.wantGiveUp != "":
				require.ErrorAs(t, err, &g)
				assert.Equal(t, tc.wantGiveUp, g.reason)
				assert.Equal(t, tc.wantAttempts, g.attempts)
			case tc.wantLost:
				require.ErrorAs(t, err, &le)
				assert.NotEmpty(t, le.why)
			default:
				assert.Equal(t, tc.wantErr, err)
			}
			if tc.wantHandBack {
				assert.Equal(t, []string{h.ev.Key()}, handedBack)
			} else {
				assert.Empty(t, handedBack)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	next := func(context.Context, *handling) error { return errors.New("ran") }
	cases := []struct {
		name      string
		delivered uint64
		undecoded bool
		behind    bool
		want      string // giveUp reason, "ran", or "hand back"
	}{
		{name: "runs within max attempts", delivered: 3, want: "ran"},
		{name: "undecodable: dead-lettered without running", delivered: 1, undecoded: true, want: ReasonUndecodable},
		{name: "delivered more than max attempts: dead-lettered without running", delivered: 4, want: ReasonExhausted},
		{name: "behind an event of its chat handed back: handed back", delivered: 1, behind: true, want: "hand back"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Runner{maxAttempts: 3}
			h, _ := testHandling(tc.delivered, func(int) string { return "" })
			h.j = &job{}
			if tc.undecoded {
				h.j.err, h.ev = errors.New("not an event"), nil
			}
			if tc.behind {
				r.waits.handBack(h.ev.Key())
			}
			err := r.admit(next)(context.Background(), h)
			var g *giveUp
			switch tc.want {
			case "ran":
				assert.EqualError(t, err, "ran")
			case "hand back":
				assert.Equal(t, errHandBack, err)
			default:
				require.ErrorAs(t, err, &g)
				assert.Equal(t, tc.want, g.reason)
				assert.Equal(t, tc.delivered, g.attempts)
			}
		})
	}
}
