package dlq

import (
	"context"
	"errors"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
)

// MaxAutoRetries bounds how many times AutoRetry retries one event: a dead
// letter whose event was retried automatically this many times already
// stays for an operator.
const MaxAutoRetries = 3

// AutoRetry retries, oldest first, at most limit dead letters of an outage
// (reason attempts_exhausted, marked consumer.DeadLetter.Outage) whose
// event match accepts, and whose event was retried this way fewer than
// MaxAutoRetries times; the republished event carries
// consumer.HeaderAutoRetries. It is what dlq.auto_retry runs when a
// platform's circuit breaker closes. Like RetryAll it stops at the first
// failure to publish, returning the report so far with the error.
func (s *Store) AutoRetry(ctx context.Context, match func(*event.Event) bool, limit int) (*Report, error) {
	dls, err := s.List(ctx, Filter{Reason: consumer.ReasonExhausted})
	if err != nil {
		return nil, err
	}
	rep := &Report{Results: []Result{}}
	for i := range dls {
		dl := &dls[i]
		if len(rep.Results) >= limit {
			break
		}
		if !dl.Outage || dl.AutoRetries >= MaxAutoRetries {
			continue
		}
		ev, err := event.Unmarshal(dl.Event)
		if err != nil || !match(ev) {
			continue
		}
		res, err := s.retry(ctx, dl, false, dl.AutoRetries+1)
		rep.add(res)
		if err != nil && !errors.Is(err, ErrNotRetryable) {
			return rep, err
		}
	}
	return rep, nil
}
