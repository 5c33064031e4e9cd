package consumer

import (
	"errors"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// HeaderAutoRetries is set on an event that dlq.auto_retry republished from
// an outage's dead letter: how many times the event was retried that way,
// this time included. A dead letter of it again carries the count
// (DeadLetter.AutoRetries), so that the retries are bounded.
const HeaderAutoRetries = "Chatwarden-Auto-Retries"

// autoRetries reads msg's HeaderAutoRetries (0 when absent or invalid).
func autoRetries(msg jetstream.Msg) int {
	n, err := strconv.Atoi(msg.Headers().Get(HeaderAutoRetries))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Waiter is a handler error saying that the platform is unavailable (its
// circuit breaker is open, see internal/breaker): the event waits, without
// spending an attempt and without holding a concurrency slot, until Ready
// is closed, and is then handled again. Later events of its chat wait
// behind it; the broker is told it is in progress meanwhile.
type Waiter interface {
	error
	Ready() <-chan struct{}
}

// waiter returns the Waiter in err's chain, if any.
func waiter(err error) (Waiter, bool) {
	var w Waiter
	ok := errors.As(err, &w)
	return w, ok
}

// OutageError marks a retryable failure as an outage of the platform (a
// connection error, a timeout, a 5xx answer) rather than a problem of the
// call. An event dead-lettered after exhausting its attempts on one is
// marked DeadLetter.Outage, so that it is retried once the platform answers
// again (dlq.auto_retry).
type OutageError struct{ Err error }

func (e *OutageError) Error() string { return e.Err.Error() }
func (e *OutageError) Unwrap() error { return e.Err }

// Outage wraps err as an outage failure (see OutageError); nil stays nil.
func Outage(err error) error {
	if err == nil {
		return nil
	}
	return &OutageError{Err: err}
}

// isOutage reports whether err's chain holds an OutageError or a Waiter.
func isOutage(err error) bool {
	var oe *OutageError
	_, w := waiter(err)
	return errors.As(err, &oe) || w
}

// waitOutage waits for ready without holding a concurrency slot (other
// platforms' events go on meanwhile); it returns false when the runner
// stops first: an outage is not work in progress that a graceful stop
// waits for. The slot is held again when it returns, for chain to release.
func (r *Runner) waitOutage(ready <-chan struct{}) bool {
	<-r.sem
	defer func() { r.sem <- struct{}{} }()
	select {
	case <-ready:
		return true
	case <-r.waits.stopping():
		return false
	case <-r.workCtx.Done():
		return false
	}
}

// outageWaits hands events waiting for an unavailable platform back to the
// broker as soon as the runner stops, and with them the later events of
// their chats (so that none overtakes the one handed back).
type outageWaits struct {
	once       sync.Once
	stop       chan struct{}
	mu         sync.Mutex
	handedBack map[string]bool // chat keys
}

func (o *outageWaits) stopping() chan struct{} {
	o.once.Do(func() { o.stop = make(chan struct{}) })
	return o.stop
}

// stopNow releases the waiting events; call it once.
func (o *outageWaits) stopNow() { close(o.stopping()) }

// handBack records that chat's waiting event was handed back.
func (o *outageWaits) handBack(chat string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.handedBack == nil {
		o.handedBack = map[string]bool{}
	}
	o.handedBack[chat] = true
}

// behind reports whether an earlier event of chat was handed back.
func (o *outageWaits) behind(chat string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.handedBack[chat]
}
