package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// provisionPatience bounds how long provisioning keeps retrying errors a
// starting or failing-over cluster gives (no meta leader yet, a peer not yet
// seen online, an API request unanswered in time).
const provisionPatience = time.Minute

// provisionAttemptTimeout bounds one provisioning request: a request the
// cluster leaves unanswered (its meta leader changing, a proposal lost) is
// sent again rather than waited for until the caller's deadline. A variable so
// tests can shorten it.
var provisionAttemptTimeout = 10 * time.Second

// transientProvisioning reports whether err, from a JetStream API call, may
// go away by itself: the cluster is still forming or electing a leader.
func transientProvisioning(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10008, // JetStream system temporarily unavailable (no meta leader yet)
			10005: // no suitable peers for placement (a peer not yet seen online)
			return true
		}
	}
	return false
}

// retryProvisioning runs op until it succeeds, fails in a way waiting cannot
// fix, ctx ends, or provisionPatience has passed; it waits 250ms doubling to
// 2s between attempts. Each attempt gets its own context, ending with ctx or
// after provisionAttemptTimeout, whichever is first; the last error is
// returned with how long it was retried. With a logger, the first error
// worth waiting for is logged as a warning (what is waited for, and for how
// long at most) and a success after it as information, so a process waiting
// for its cluster says so.
func retryProvisioning(ctx context.Context, log *zap.Logger, what string, op func(ctx context.Context) error) error {
	if log == nil {
		log = zap.NewNop()
	}
	start := time.Now()
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, provisionAttemptTimeout)
		err := op(actx)
		cancel()
		if err == nil && attempt > 1 {
			log.Info("NATS JetStream ready; provisioned "+what, zap.Int("attempts", attempt),
				zap.Duration("waited", time.Since(start).Round(time.Millisecond)))
		}
		if err == nil || !transientProvisioning(err) || ctx.Err() != nil {
			return err
		}
		if attempt == 1 {
			log.Warn("NATS JetStream cannot provision "+what+" yet; retrying", zap.Duration("for_at_most", provisionPatience),
				zap.Error(err))
		}
		if time.Since(start)+wait > provisionPatience {
			return fmt.Errorf("%w (still failing after %d attempts over %s; is the NATS cluster up with enough JetStream nodes for nats.replicas?)",
				err, attempt, time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
