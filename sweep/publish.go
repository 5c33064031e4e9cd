package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/chatwarden/chatwarden/event"
)

// Window bounds how many published events await the workers' decision; the
// Tracker is one.
type Window interface {
	// Expect notes an event that was published (or found already stored).
	Expect(ev *event.Event)
	// WaitBelow returns once fewer than n expected events await a decision,
	// or with an error when ctx ends or the workers make no progress.
	WaitBelow(ctx context.Context, n int) error
}

// PublishOptions configure Publish.
type PublishOptions struct {
	// Trigger is recorded in every event (TriggerCommand by default).
	Trigger string
	// StartedAt is when the sweep started (default: now).
	StartedAt time.Time
	// Window, when set with Size, keeps at most Size events awaiting a
	// decision: the next chat is published only when one is decided.
	Window Window
	Size   int
	// OnPublish, when not nil, is called after every event with the totals
	// so far.
	OnPublish func(Published)
}

// Published counts what Publish did.
type Published struct {
	// Stored is the number of events stored now; Duplicates the events the
	// stream already held (an earlier run published them within the
	// duplicate window: not handled again).
	Stored, Duplicates int
}

// Total is Stored + Duplicates.
func (p Published) Total() int { return p.Stored + p.Duplicates }

// Publish publishes the event of every chat, in order, at most maxRate per
// second (WithMaxRate) and, with a Window, at most Size awaiting a
// decision. It stops at the first error (ctx ending included) and reports
// what it published until then; publishing the same chats again later
// continues where it stopped.
func (s *Sweeper) Publish(ctx context.Context, chats []Chat, p Params, o PublishOptions) (Published, error) {
	var done Published
	if s.pub == nil {
		return done, errors.New("sweep: no publisher")
	}
	if o.Trigger == "" {
		o.Trigger = TriggerCommand
	}
	if o.StartedAt.IsZero() {
		o.StartedAt = s.now()
	}
	var pace *rate.Limiter
	if s.maxRate > 0 {
		pace = rate.NewLimiter(rate.Limit(s.maxRate), 1)
	}
	for _, c := range chats {
		if o.Window != nil && o.Size > 0 {
			if err := o.Window.WaitBelow(ctx, o.Size); err != nil {
				return done, err
			}
		}
		if pace != nil {
			if err := pace.Wait(ctx); err != nil {
				return done, fmt.Errorf("pacing the sweep: %w", contextErr(ctx, err))
			}
		}
		ev, err := NewEvent(c, p, o.Trigger, o.StartedAt, s.now())
		if err != nil {
			return done, err
		}
		dup, err := s.publish(ctx, ev)
		if err != nil {
			return done, fmt.Errorf("publishing the sweep event of chat %s: %w", c.ID, err)
		}
		if dup {
			done.Duplicates++
		} else {
			done.Stored++
		}
		if o.Window != nil {
			o.Window.Expect(ev)
		}
		if o.OnPublish != nil {
			o.OnPublish(done)
		}
	}
	return done, nil
}

// Publishing bounds: a publish in flight when a stream leader fails is never
// answered, so each attempt has its own timeout; the event id makes a
// repeated publish a duplicate, so it is tried again.
const (
	publishTimeout  = 10 * time.Second
	publishAttempts = 3
)

// publish stores ev, trying again after a failure (a reconnect, a leader
// election) while ctx lasts.
func (s *Sweeper) publish(ctx context.Context, ev *event.Event) (dup bool, err error) {
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		dup, err = s.pub.Publish(pctx, ev)
		cancel()
		if err == nil || ctx.Err() != nil || attempt == publishAttempts {
			return dup, err
		}
		s.logger.Info("publishing a sweep event failed; trying again", zap.String("event_id", ev.ID), zap.Error(err))
		t := time.NewTimer(time.Duration(attempt) * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, err
		case <-t.C:
		}
	}
}

// contextErr is ctx's error for a wait of the pacing limiter that failed:
// ctx ended, or its deadline comes before the next turn.
func contextErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if _, ok := ctx.Deadline(); ok {
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}

// Report is the outcome of Run.
type Report struct {
	Found     int
	Published Published
	Took      time.Duration
}

// Run finds the chats of p and publishes their events without waiting for
// decisions: what a scheduled sweep does.
func (s *Sweeper) Run(ctx context.Context, p Params, trigger string) (Report, error) {
	start := s.now()
	chats, err := s.Find(ctx, p, nil)
	rep := Report{Found: len(chats)}
	if err != nil {
		rep.Took = s.now().Sub(start)
		return rep, err
	}
	rep.Published, err = s.Publish(ctx, chats, p, PublishOptions{Trigger: trigger, StartedAt: start})
	rep.Took = s.now().Sub(start)
	return rep, err
}
