package sweep

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
)

// Deps are what Run works with.
type Deps struct {
	// Lister lists the chats. Required.
	Lister Lister
	// Publisher stores the events (*bus.Bus). Required unless
	// RunParams.DryRun.
	Publisher Publisher
	// Decisions is the JetStream of a running service, whose audit records
	// and dead letters Run follows to wait for the workers' decisions
	// (see Tracker). nil when no service runs: the events are only stored,
	// and handled when `serve` or `work` starts.
	Decisions jetstream.JetStream
	// Logger receives the sweep's log lines. Default: none.
	Logger *zap.Logger
	// Progress is told how the run goes; every hook is optional.
	Progress Progress
}

// Progress hooks report a Run as it goes, e.g. to draw a progress bar. They
// are called from Run's goroutine; any may be nil.
type Progress struct {
	// Following is called with the Tracker before listing, when Run
	// follows decisions.
	Following func(*Tracker)
	// Listed is called after every list_archives page.
	Listed func(ListProgress)
	// Publishing is called once everything is listed, with the number of
	// chats to publish.
	Publishing func(total int)
	// Published is called after every event with the totals so far.
	Published func(Published)
	// Waiting is called when everything is published and Run waits for the
	// last decisions.
	Waiting func()
}

// RunParams are the chats of a sweep (Params) and how to run it.
type RunParams struct {
	Params
	// DryRun only lists: nothing is published.
	DryRun bool
	// MaxRate caps events published per second (0: no cap).
	MaxRate float64
	// Window is how many events may await a decision at once when Run
	// follows decisions (Deps.Decisions); 0 does not bound them.
	Window int
	// Idle is how long Run waits when the workers decide nothing before it
	// gives up with ErrNoProgress (see WithIdle; 0: the Tracker's default).
	Idle time.Duration
	// Lookback is how far before StartedAt decisions are followed: at least
	// the events stream's duplicate window, since an event an earlier run
	// published in it is not stored again and may be decided already.
	Lookback time.Duration
	// StartedAt is when the sweep started. Default: now.
	StartedAt time.Time
}

// Result is what Run did.
type Result struct {
	// Chats are the chats found, oldest first (all of them, also when
	// publishing stopped early).
	Chats []Chat
	// Published counts the events stored and found already stored.
	Published Published
	// Decisions are the workers' decisions about the events; nil when Run
	// did not follow them (a dry run, or no service running).
	Decisions *Counts
	// Listed reports that every chat was listed: an error Run returns with
	// Listed false came before anything was published.
	Listed bool
}

// Run is a sweep as `chatwarden sweep` runs it: it lists every chat of p
// first (see Sweeper.Find); in a dry run it stops there. Otherwise it
// publishes their events (see Sweeper.Publish) and, with Deps.Decisions,
// keeps at most p.Window of them awaiting the workers' decisions and waits
// until each is decided. The Result holds what was done also when the error
// is not nil: ctx ending, ErrNoProgress when the workers decide nothing for
// p.Idle, or a failure to list or publish. Failed decisions are counted in
// Result.Decisions, not returned as an error.
func Run(ctx context.Context, d Deps, p RunParams) (Result, error) {
	if p.StartedAt.IsZero() {
		p.StartedAt = time.Now()
	}
	logger := d.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	var res Result
	if p.DryRun {
		sw, err := New(d.Lister, nil, WithLogger(logger))
		if err != nil {
			return res, err
		}
		res.Chats, err = sw.Find(ctx, p.Params, d.Progress.Listed)
		res.Listed = err == nil
		return res, err
	}
	sw, err := New(d.Lister, d.Publisher, WithLogger(logger), WithMaxRate(p.MaxRate))
	if err != nil {
		return res, err
	}
	var tracker *Tracker
	if d.Decisions != nil {
		var opts []TrackerOption
		if p.Idle > 0 {
			opts = append(opts, WithIdle(p.Idle))
		}
		tracker, err = NewTracker(ctx, d.Decisions, event.LiveChat, ActionUnassigned, p.StartedAt.Add(-p.Lookback), opts...)
		if err != nil {
			return res, fmt.Errorf("%w (has the service run with this configuration?)", err)
		}
		defer tracker.Stop()
		if d.Progress.Following != nil {
			d.Progress.Following(tracker)
		}
	}

	res.Chats, err = sw.Find(ctx, p.Params, d.Progress.Listed)
	if err != nil {
		return res, err
	}
	res.Listed = true
	if d.Progress.Publishing != nil {
		d.Progress.Publishing(len(res.Chats))
	}
	opts := PublishOptions{StartedAt: p.StartedAt, OnPublish: d.Progress.Published}
	if tracker != nil {
		opts.Window, opts.Size = tracker, p.Window
	}
	res.Published, err = sw.Publish(ctx, res.Chats, p.Params, opts)
	if err == nil && tracker != nil {
		if d.Progress.Waiting != nil {
			d.Progress.Waiting()
		}
		err = tracker.WaitAll(ctx)
	}
	if tracker != nil {
		c := tracker.Counts()
		res.Decisions = &c
	}
	return res, err
}
