package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/event"
)

// Names of the streams and the worker consumer. They are part of the operator
// contract (the nats CLI works on them) and never change.
const (
	EventsStream     = "CHATWARDEN_EVENTS"
	DeadLetterStream = "CHATWARDEN_DLQ"
	AuditStream      = "CHATWARDEN_AUDIT"
	WorkerConsumer   = "chatwarden-workers"

	// SchedulePrefix starts the subjects of scheduled messages (delayed rule
	// re-checks, sweep ticks). They live in the events stream, which
	// allows message schedules (nats-server 2.12+); at their time the server
	// publishes them to their target subject.
	SchedulePrefix = "chatwarden.schedules"

	// DeadLetterPrefix and AuditPrefix start the subjects of the dead-letter
	// and audit streams: <prefix>.<platform>.<chat>.
	DeadLetterPrefix = "chatwarden.dlq"
	AuditPrefix      = "chatwarden.audit"

	// AuditRetention is how long audit records are kept (30 days).
	AuditRetention = 30 * 24 * time.Hour

	// DoneBucket is the key-value bucket where workers record performed
	// non-idempotent actions, so a redelivered event never repeats them. Keys
	// expire after DoneTTL, well beyond any redelivery.
	DoneBucket = "CHATWARDEN_DONE"
	DoneTTL    = 30 * 24 * time.Hour

	metaPartitions = "chatwarden.partitions"
)

// StreamSettings are the parts of the configuration that shape the streams.
type StreamSettings struct {
	Partitions      int
	DuplicateWindow time.Duration
	Retention       time.Duration
	Replicas        int
}

// ConsumerSettings shape the durable worker consumer.
type ConsumerSettings struct {
	AckWait       time.Duration
	MaxAckPending int
}

// ProvisionStreams creates or updates the events, dead-letter and audit
// streams. It is idempotent and safe to run from every replica at start.
//
// The number of partitions is recorded in the events stream's metadata when
// the stream is created; a later start with a different nats.partitions fails
// with ErrPartitionsChanged rather than silently re-partitioning chats.
func ProvisionStreams(ctx context.Context, js jetstream.JetStream, s StreamSettings) error {
	if s.Replicas < 1 {
		s.Replicas = 1
	}
	existing, err := js.Stream(ctx, EventsStream)
	switch {
	case err == nil:
		got := existing.CachedInfo().Config.Metadata[metaPartitions]
		if got != "" && got != strconv.Itoa(s.Partitions) {
			return fmt.Errorf("%w: stream %s has %s partitions, nats.partitions is %d (see README, \"Changing partitions\")",
				ErrPartitionsChanged, EventsStream, got, s.Partitions)
		}
	case errors.Is(err, jetstream.ErrStreamNotFound):
	default:
		return fmt.Errorf("looking up stream %s: %w", EventsStream, err)
	}

	cfgs := []jetstream.StreamConfig{
		{
			Name:              EventsStream,
			Description:       "chatwarden: every accepted webhook and sweep event",
			Subjects:          []string{event.SubjectPrefix + ".>", SchedulePrefix + ".>"},
			Storage:           jetstream.FileStorage,
			Retention:         jetstream.LimitsPolicy,
			Discard:           jetstream.DiscardOld,
			AllowMsgSchedules: true,
			MaxAge:            s.Retention,
			Duplicates:        s.DuplicateWindow,
			Replicas:          s.Replicas,
			Metadata:          map[string]string{metaPartitions: strconv.Itoa(s.Partitions)},
		},
		{
			Name:        DeadLetterStream,
			Description: "chatwarden: events given up after a permanent failure or exhausted attempts",
			Subjects:    []string{DeadLetterPrefix + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  2 * time.Minute,
			Replicas:    s.Replicas,
		},
		{
			Name:        AuditStream,
			Description: "chatwarden: one record per rule decision and action",
			Subjects:    []string{AuditPrefix + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      AuditRetention,
			Duplicates:  2 * time.Minute,
			Replicas:    s.Replicas,
		},
	}
	for _, c := range cfgs {
		if _, err := js.CreateOrUpdateStream(ctx, c); err != nil {
			return fmt.Errorf("provisioning stream %s: %w", c.Name, err)
		}
	}
	return nil
}

// ProvisionWorkerConsumer creates or updates the durable pull consumer the
// workers share. Redelivery is bounded by the worker (workers.max_attempts),
// not by the server, so that the last attempt always ends in a dead letter
// rather than a silent stop: MaxDeliver is unlimited here.
func ProvisionWorkerConsumer(ctx context.Context, js jetstream.JetStream, s ConsumerSettings) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       WorkerConsumer,
		Description:   "chatwarden workers: apply rules to events",
		FilterSubject: event.SubjectPrefix + ".>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: s.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	c, err := js.CreateOrUpdateConsumer(ctx, EventsStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("provisioning consumer %s on %s: %w", WorkerConsumer, EventsStream, err)
	}
	return c, nil
}

// ProvisionDoneBucket creates or updates the key-value bucket of performed
// actions.
func ProvisionDoneBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DoneBucket,
		Description: "chatwarden: non-idempotent actions already performed, by event, rule and step",
		TTL:         DoneTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("provisioning key-value bucket %s: %w", DoneBucket, err)
	}
	return kv, nil
}
