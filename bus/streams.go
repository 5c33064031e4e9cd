package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
)

// Names of the streams and the worker consumer. They are part of the operator
// contract (the nats CLI works on them) and never change.
const (
	EventsStream     = "CHATWARDEN_EVENTS"
	DeadLetterStream = "CHATWARDEN_DLQ"
	AuditStream      = "CHATWARDEN_AUDIT"
	WorkerConsumer   = "chatwarden-workers" // prefix of the per-partition consumers
	WorkerGroup      = "workers"            // their priority group

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
	// Logger, when set, hears that provisioning waits for a cluster that is
	// still forming (see retryProvisioning); nil logs nothing.
	Logger *zap.Logger
}

// ConsumerSettings shape the durable worker consumers.
type ConsumerSettings struct {
	Partitions    int
	AckWait       time.Duration
	MaxAckPending int           // per partition
	PinnedTTL     time.Duration // workers.failover_after
	// Logger, when set, hears that provisioning waits for a cluster that is
	// still forming (see retryProvisioning); nil logs nothing.
	Logger *zap.Logger
}

// ProvisionStreams creates or updates the events, dead-letter and audit
// streams. It is idempotent and safe to run from every replica at start.
//
// The number of partitions is recorded in the events stream's metadata when
// the stream is created; a later start with a different nats.partitions fails
// with ErrPartitionsChanged rather than silently re-partitioning chats.
// Errors a forming or failing-over cluster gives (no meta leader yet, a peer
// not yet seen online, a request unanswered in time) are retried for up to a
// minute; so are they by ProvisionWorkerConsumers and ProvisionDoneBucket.
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
		err := retryProvisioning(ctx, s.Logger, "stream "+c.Name, func(ctx context.Context) error {
			_, err := js.CreateOrUpdateStream(ctx, c)
			return err
		})
		if err != nil {
			return fmt.Errorf("provisioning stream %s: %w", c.Name, err)
		}
	}
	return nil
}

// WorkerConsumerName is the durable consumer of partition p.
func WorkerConsumerName(p int) string { return fmt.Sprintf("%s-p%d", WorkerConsumer, p) }

// PartitionFilter is the subject filter of partition p's events.
func PartitionFilter(p int) string { return fmt.Sprintf("%s.*.*.%d", event.SubjectPrefix, p) }

// ProvisionWorkerConsumers creates or updates one durable pull consumer per
// partition, in the priority group WorkerGroup with a pinned client: the
// server delivers a partition's events to one worker replica at a time, and
// hands the partition to another replica when the pinned one has not pulled
// for PinnedTTL. With per-chat ordering inside the replica, events of one
// chat are applied in stream order even with many replicas.
//
// Redelivery is bounded by the worker (workers.max_attempts), not by the
// server, so that the last attempt always ends in a dead letter rather than
// a silent stop: MaxDeliver is unlimited here.
func ProvisionWorkerConsumers(ctx context.Context, js jetstream.JetStream, s ConsumerSettings) ([]jetstream.Consumer, error) {
	if s.Partitions < 1 {
		return nil, fmt.Errorf("provisioning worker consumers: partitions must be at least 1, got %d", s.Partitions)
	}
	pinned := s.PinnedTTL
	if pinned <= 0 {
		pinned = 15 * time.Second
	}
	// A partition may change owner only after the old owner's unfinished
	// events have been redelivered, or the new owner could run a chat's
	// later events first.
	pinned = max(pinned, s.AckWait)
	out := make([]jetstream.Consumer, 0, s.Partitions)
	for p := 0; p < s.Partitions; p++ {
		cfg := jetstream.ConsumerConfig{
			Durable:        WorkerConsumerName(p),
			Description:    fmt.Sprintf("chatwarden workers: events of partition %d", p),
			FilterSubject:  PartitionFilter(p),
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        s.AckWait,
			MaxDeliver:     -1,
			MaxAckPending:  s.MaxAckPending,
			DeliverPolicy:  jetstream.DeliverAllPolicy,
			PriorityPolicy: jetstream.PriorityPolicyPinned,
			PriorityGroups: []string{WorkerGroup},
			PinnedTTL:      pinned,
		}
		var c jetstream.Consumer
		err := retryProvisioning(ctx, s.Logger, "consumer "+cfg.Durable, func(ctx context.Context) (err error) {
			c, err = js.CreateOrUpdateConsumer(ctx, EventsStream, cfg)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("provisioning consumer %s on %s: %w", cfg.Durable, EventsStream, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// WorkersIdle reports whether the workers have finished every stored event:
// no partition consumer has events pending or waiting for acknowledgement.
func WorkersIdle(ctx context.Context, js jetstream.JetStream, partitions int) (bool, error) {
	for p := 0; p < partitions; p++ {
		c, err := js.Consumer(ctx, EventsStream, WorkerConsumerName(p))
		if err != nil {
			return false, fmt.Errorf("consumer %s: %w", WorkerConsumerName(p), err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return false, fmt.Errorf("consumer %s: %w", WorkerConsumerName(p), err)
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return false, nil
		}
	}
	return true, nil
}

// ProvisionDoneBucket creates or updates the key-value bucket of performed
// actions. Like the streams, it waits up to a minute for a forming cluster,
// and with a logger says so (see retryProvisioning); a nil log logs nothing.
func ProvisionDoneBucket(ctx context.Context, js jetstream.JetStream, replicas int, log *zap.Logger) (jetstream.KeyValue, error) {
	return provisionBucket(ctx, js, log, jetstream.KeyValueConfig{
		Bucket:      DoneBucket,
		Description: "chatwarden: non-idempotent actions already performed, by event, rule and step",
		TTL:         DoneTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
}

// provisionBucket creates or updates a key-value bucket, retrying what a
// forming cluster answers (see retryProvisioning).
func provisionBucket(ctx context.Context, js jetstream.JetStream, log *zap.Logger, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := retryProvisioning(ctx, log, "key-value bucket "+cfg.Bucket, func(ctx context.Context) (err error) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("provisioning key-value bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// WorkersBucket is the key-value bucket where worker replicas announce
// themselves, one key each, refreshed every WorkerHeartbeat; a key expires
// WorkersTTL after a replica stops refreshing it.
const (
	WorkersBucket   = "CHATWARDEN_WORKERS"
	WorkerHeartbeat = 3 * time.Second
	WorkersTTL      = 10 * time.Second
)

// ProvisionWorkersBucket creates or updates the key-value bucket of live
// worker replicas (memory storage: it only says who is alive now). It waits
// for a forming cluster as ProvisionDoneBucket does.
func ProvisionWorkersBucket(ctx context.Context, js jetstream.JetStream, replicas int, log *zap.Logger) (jetstream.KeyValue, error) {
	return provisionBucket(ctx, js, log, jetstream.KeyValueConfig{
		Bucket:      WorkersBucket,
		Description: "chatwarden: worker replicas alive now, for balancing partitions",
		TTL:         WorkersTTL,
		History:     1,
		Storage:     jetstream.MemoryStorage,
		Replicas:    max(replicas, 1),
	})
}
