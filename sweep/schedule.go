package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
)

// TickBudget bounds one scheduled sweep (below the workers' 2-minute limit
// per event): what it has not published by then, the next run finds again.
const TickBudget = 90 * time.Second

// fingerprintHeader carries a hash of a schedule's spec, target and
// parameters on its schedule message, to tell whether it changed.
const fingerprintHeader = "Chatwarden-Sweep-Schedule"

// Schedule is a recurring sweep. It is stored as a JetStream message
// schedule in the events stream (subject ScheduleSubject(kind)); at every
// due time the server publishes the schedule's tick event (ActionTick) to
// the events subject of partition 0, where exactly one worker replica
// receives it, like any event, and runs the sweep (see Ticks).
type Schedule struct {
	// Spec is "@every 1h", @hourly/@daily/@weekly/@monthly/@yearly or a
	// 6-field cron expression (UTC); see config.CheckSchedule.
	Spec    string  `json:"spec"`
	Params  Params  `json:"params"`
	MaxRate float64 `json:"max_rate,omitempty"`
}

// ScheduleSubject is the subject of the schedule message of a kind of
// sweep: chatwarden.schedules.sweep.<kind>.
func ScheduleSubject(kind string) string {
	return bus.SchedulePrefix + ".sweep." + event.Token(kind)
}

// tick returns the tick event of s and the fingerprint of the schedule.
func (s Schedule) tick(partitions int) (ev *event.Event, subject, fingerprint string, err error) {
	payload, err := json.Marshal(s)
	if err != nil {
		return nil, "", "", fmt.Errorf("encoding the sweep schedule: %w", err)
	}
	ev = &event.Event{Platform: event.LiveChat, Action: ActionTick, Source: event.SourceSweep, Payload: payload}
	subject = ev.Subject(partitions)
	fingerprint = event.ContentID([]byte(s.Spec), []byte(subject), payload)
	ev.ID = event.ContentID([]byte(ActionTick), []byte(fingerprint))
	return ev, subject, fingerprint, nil
}

// EnsureSchedule stores the schedule s, replacing the kind's previous one,
// unless the stored one is the same (same spec, target and parameters):
// then it changes nothing, so replicas starting one after the other neither
// duplicate the schedule nor move its next due time. Replicas starting at
// the same moment publish the same message id, which JetStream stores once
// within the stream's duplicate window; and the server keeps a single
// schedule per subject in any case (a schedule message rolls up the
// previous one). changed reports whether a schedule was stored.
//
// Replicas should run the same sweep settings: a replica with other ones
// replaces the schedule when it starts.
func EnsureSchedule(ctx context.Context, js jetstream.JetStream, partitions int, s Schedule) (changed bool, err error) {
	if err := s.Params.Check(); err != nil {
		return false, fmt.Errorf("sweep schedule: %w", err)
	}
	if s.Spec == "" {
		return false, errors.New("sweep schedule: empty spec")
	}
	ev, target, fingerprint, err := s.tick(partitions)
	if err != nil {
		return false, err
	}
	subject := ScheduleSubject(s.Params.Kind)
	stream, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return false, fmt.Errorf("sweep schedule: stream %s: %w", bus.EventsStream, err)
	}
	last, err := stream.GetLastMsgForSubject(ctx, subject)
	switch {
	case err == nil:
		if last.Header.Get(fingerprintHeader) == fingerprint && last.Header.Get(jetstream.ScheduleHeader) != "" {
			return false, nil
		}
	case errors.Is(err, jetstream.ErrMsgNotFound):
	default:
		return false, fmt.Errorf("sweep schedule: reading %s: %w", subject, err)
	}
	ev.ReceivedAt = time.Now().UTC()
	data, err := ev.Encode()
	if err != nil {
		return false, fmt.Errorf("sweep schedule: %w", err)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, "sweep-schedule-"+fingerprint)
	msg.Header.Set(fingerprintHeader, fingerprint)
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithScheduleCron(s.Spec), jetstream.WithScheduleTarget(target),
		jetstream.WithExpectStream(bus.EventsStream))
	if err != nil {
		return false, fmt.Errorf("sweep schedule %q: storing it on %s: %w", s.Spec, subject, err)
	}
	return !ack.Duplicate, nil
}

// RemoveSchedule deletes the schedule of a kind of sweep; removed is false
// when there was none.
func RemoveSchedule(ctx context.Context, js jetstream.JetStream, kind string) (removed bool, err error) {
	subject := ScheduleSubject(kind)
	stream, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return false, fmt.Errorf("sweep schedule: stream %s: %w", bus.EventsStream, err)
	}
	if _, err := stream.GetLastMsgForSubject(ctx, subject); errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("sweep schedule: reading %s: %w", subject, err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return false, fmt.Errorf("sweep schedule: removing %s: %w", subject, err)
	}
	return true, nil
}

// ApplySchedule makes the stored schedule of KindLiveChatUnassigned match
// s: stored (or replaced) when s.Spec is set, removed when it is empty. It
// returns what it did, for the log: "created", "unchanged" or "removed" (""
// when there was nothing to remove).
func ApplySchedule(ctx context.Context, js jetstream.JetStream, partitions int, s Schedule) (string, error) {
	if s.Params.Kind == "" {
		s.Params.Kind = KindLiveChatUnassigned
	}
	if s.Spec == "" {
		removed, err := RemoveSchedule(ctx, js, s.Params.Kind)
		if removed {
			return "removed", err
		}
		return "", err
	}
	changed, err := EnsureSchedule(ctx, js, partitions, s)
	if changed {
		return "created", err
	}
	return "unchanged", err
}

// Clients gives the platform clients of an organization (tenant "" the
// default one); rules.Clients is one. Ticks uses LiveChat's, which must be
// a Lister.
type Clients interface {
	Client(platform, tenant string) (any, error)
}

// Ticks is the consumer middleware that runs a scheduled sweep when its
// tick (a livechat.sweep_tick event) arrives: it finds the chats with the
// LiveChat client of the schedule's organization (from clients, so the
// sweep shares the workers' client and its rate limiter) and publishes their
// events with pub, within TickBudget. Other events go to next. opts
// configure each run's Sweeper (the schedule's max_rate is added).
//
// A run that cannot list is retried like any event (and dead-lettered when
// the failure is permanent, e.g. missing credentials); a run cut short by
// the budget is not an error: the next run finds the rest.
func Ticks(clients Clients, pub Publisher, logger *zap.Logger, opts ...Option) consumer.Middleware {
	if logger == nil {
		logger = zap.NewNop()
	}
	logger = logger.Named("sweep")
	return func(next consumer.Handler) consumer.Handler {
		return consumer.HandlerFunc(func(ctx context.Context, ev *event.Event) error {
			if ev.Platform != event.LiveChat || ev.Action != ActionTick {
				return next.Handle(ctx, ev)
			}
			return runTick(ctx, clients, pub, logger, ev, opts)
		})
	}
}

func runTick(ctx context.Context, clients Clients, pub Publisher, logger *zap.Logger, ev *event.Event, opts []Option) error {
	var s Schedule
	if err := json.Unmarshal(ev.Payload, &s); err != nil {
		return consumer.Permanent("validation", fmt.Errorf("decoding the sweep schedule of tick %s: %w", ev.ID, err))
	}
	if err := s.Params.Check(); err != nil {
		return consumer.Permanent("validation", fmt.Errorf("sweep tick %s: %w", ev.ID, err))
	}
	api, err := clients.Client(event.LiveChat, s.Params.Tenant)
	if err != nil {
		return consumer.Permanent("no credentials", fmt.Errorf("scheduled sweep: %w", err))
	}
	lister, ok := api.(Lister)
	if !ok {
		return consumer.Permanent("configuration", fmt.Errorf("scheduled sweep: %w", ErrNotLister))
	}
	sw, err := New(lister, pub, append([]Option{WithLogger(logger), WithMaxRate(s.MaxRate)}, opts...)...)
	if err != nil {
		return consumer.Permanent("configuration", err)
	}
	runCtx, cancel := context.WithTimeout(ctx, TickBudget)
	defer cancel()
	rep, err := sw.Run(runCtx, s.Params, TriggerSchedule)
	fields := []zap.Field{zap.String("schedule", s.Spec), zap.String("kind", s.Params.Kind),
		zap.Duration("older_than", s.Params.OlderThan), zap.Ints("groups", s.Params.Groups),
		zap.Int("found", rep.Found), zap.Int("published", rep.Published.Stored),
		zap.Int("already_queued", rep.Published.Duplicates), zap.Duration("took", rep.Took)}
	switch {
	case err == nil:
		logger.Info("scheduled sweep done", fields...)
		return nil
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		logger.Warn("scheduled sweep stopped at its time budget; the next run continues", append(fields, zap.Error(err))...)
		return nil
	}
	logger.Warn("scheduled sweep failed", append(fields, zap.Error(err))...)
	if ctx.Err() == nil && !livechat.IsRetryable(err) && !errors.Is(err, bus.ErrNotConnected) && isAPIError(err) {
		return consumer.Permanent("sweep", err)
	}
	after, _ := livechat.RetryAfter(err)
	return consumer.Retry(err, after)
}

func isAPIError(err error) bool {
	_, ok := errors.AsType[*livechat.APIError](err)
	return ok
}
