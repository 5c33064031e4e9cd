package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/breaker"
)

// Streams are the streams the console and the stream gauges report on.
var Streams = []string{bus.EventsStream, bus.AuditStream, bus.DeadLetterStream}

// StreamStat is the state of one stream.
type StreamStat struct {
	Name      string    `json:"name"`
	Messages  uint64    `json:"messages"`
	Bytes     uint64    `json:"bytes"`
	FirstSeq  uint64    `json:"first_seq"`
	LastSeq   uint64    `json:"last_seq"`
	FirstTime time.Time `json:"first_time"`
	LastTime  time.Time `json:"last_time"`
	Consumers int       `json:"consumers"`
	// Missing is true when the stream does not exist (yet).
	Missing bool `json:"missing,omitempty"`
}

// ConsumerStat is the state of one durable consumer.
type ConsumerStat struct {
	Stream string `json:"stream"`
	Name   string `json:"name"`
	// Partition is the partition the consumer reads ("all" when it reads
	// every partition, as the shared worker consumer does).
	Partition   string `json:"partition"`
	Pending     uint64 `json:"pending"`     // stored, not yet delivered: the lag
	AckPending  int    `json:"ack_pending"` // delivered, not yet acknowledged
	Redelivered int    `json:"redelivered"` // delivered more than once, not yet acknowledged
	Waiting     int    `json:"waiting"`     // pull requests waiting
	Delivered   uint64 `json:"delivered_seq"`
	AckFloor    uint64 `json:"ack_floor_seq"`
}

// Counter is one counter of this process's metrics, in total and by one
// label.
type Counter struct {
	Total float64            `json:"total"`
	Label string             `json:"label,omitempty"`
	By    map[string]float64 `json:"by,omitempty"`
}

// Overview is the console's live view.
type Overview struct {
	Time      time.Time      `json:"time"`
	Streams   []StreamStat   `json:"streams"`
	Consumers []ConsumerStat `json:"consumers"`
	// Counters are this process's counters since it started (the worker's
	// when receiver and worker are separate processes are on the worker's
	// /metrics), keyed by metric name without the chatwarden_ prefix.
	Counters map[string]Counter `json:"counters"`
	// Store says whether this process can store events now (webhooks are
	// answered 503 while it cannot) and how full the embedded server's
	// store is; nil without WithStore.
	Store *bus.StoreState `json:"store,omitempty"`
	// Breakers are this process's platform API circuit breakers (see
	// WithBreakers), by platform and organization; empty in a process
	// without workers.
	Breakers []breaker.Status `json:"breakers"`
}

// counters lists the metrics Overview reports and the label each is broken
// down by.
var counters = []struct{ name, label string }{
	{"chatwarden_webhooks_received_total", "platform"},
	{"chatwarden_webhooks_rejected_total", "reason"},
	{"chatwarden_webhooks_duplicate_total", "platform"},
	{"chatwarden_events_processed_total", "outcome"},
	{"chatwarden_actions_total", "outcome"},
	{"chatwarden_rule_decisions_total", "outcome"},
	{"chatwarden_retries_total", "platform"},
	{"chatwarden_dead_letters_total", "reason"},
	{"chatwarden_api_responses_total", "status"},
	{"chatwarden_dead_letters_pending", ""},
}

// Overview reports the streams, the durable consumers, this process's
// counters and whether it can store events. While it cannot, streams and
// consumers that cannot be read are left out rather than failing the
// answer, so the console shows why.
func (c *Console) Overview(ctx context.Context) (*Overview, error) {
	o := &Overview{Time: c.now().UTC(), Counters: map[string]Counter{}, Streams: []StreamStat{}, Consumers: []ConsumerStat{}, Breakers: []breaker.Status{}}
	if c.store != nil {
		st := c.store()
		o.Store = &st
	}
	if c.breakers != nil {
		o.Breakers = append(o.Breakers, c.breakers()...)
	}
	streams, consumers, err := Stats(ctx, c.js)
	switch {
	case err == nil:
		o.Streams, o.Consumers = streams, consumers
	case o.Store != nil && o.Store.Reason != "":
		c.logger.Debug("reading the streams while the broker cannot store", zap.Error(err))
	default:
		return nil, err
	}
	if c.gatherer != nil {
		mfs, err := c.gatherer.Gather()
		if err != nil {
			c.logger.Warn("gathering metrics for the console", zap.Error(err))
		}
		for _, want := range counters {
			i := slices.IndexFunc(mfs, func(mf *dto.MetricFamily) bool { return mf.GetName() == want.name })
			ctr := Counter{Label: want.label}
			if want.label != "" {
				ctr.By = map[string]float64{}
			}
			if i >= 0 {
				for _, m := range mfs[i].GetMetric() {
					v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
					ctr.Total += v
					for _, l := range m.GetLabel() {
						if l.GetName() == want.label {
							ctr.By[l.GetValue()] += v
						}
					}
				}
			}
			o.Counters[strings.TrimPrefix(want.name, "chatwarden_")] = ctr
		}
	}
	return o, nil
}

// Stats reads the state of the chatwarden streams and of their durable
// consumers. A stream that does not exist is reported as missing.
func Stats(ctx context.Context, js jetstream.JetStream) ([]StreamStat, []ConsumerStat, error) {
	streams := make([]StreamStat, 0, len(Streams))
	consumers := []ConsumerStat{}
	for _, name := range Streams {
		st, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			streams = append(streams, StreamStat{Name: name, Missing: true})
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("looking up stream %s: %w", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("reading stream %s: %w", name, err)
		}
		s := info.State
		streams = append(streams, StreamStat{Name: name, Messages: s.Msgs, Bytes: s.Bytes, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq,
			FirstTime: s.FirstTime, LastTime: s.LastTime, Consumers: s.Consumers})
		if s.Consumers == 0 {
			continue
		}
		list := st.ListConsumers(ctx)
		for ci := range list.Info() {
			if ci.Config.Durable == "" {
				continue // ephemeral: ordered readers, the console's own reads, the nats CLI
			}
			consumers = append(consumers, ConsumerStat{
				Stream: name, Name: ci.Name, Partition: partitionOf(ci.Config.FilterSubject, ci.Config.FilterSubjects),
				Pending: ci.NumPending, AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting,
				Delivered: ci.Delivered.Stream, AckFloor: ci.AckFloor.Stream,
			})
		}
		if err := list.Err(); err != nil {
			return nil, nil, fmt.Errorf("listing consumers of %s: %w", name, err)
		}
	}
	slices.SortFunc(consumers, func(a, b ConsumerStat) int {
		return strings.Compare(a.Stream+"\x00"+a.Name, b.Stream+"\x00"+b.Name)
	})
	return streams, consumers, nil
}

// partitionOf names the partition a consumer's filters select: the number
// when every filter is an event subject ending in the same partition, else
// "all".
func partitionOf(filter string, filters []string) string {
	if filter != "" {
		filters = append([]string{filter}, filters...)
	}
	part := ""
	for _, f := range filters {
		rest, ok := strings.CutPrefix(f, event.SubjectPrefix+".")
		if !ok {
			return "all"
		}
		toks := strings.Split(rest, ".")
		if len(toks) != 3 {
			return "all"
		}
		if _, err := strconv.Atoi(toks[2]); err != nil || (part != "" && part != toks[2]) {
			return "all"
		}
		part = toks[2]
	}
	if part == "" {
		return "all"
	}
	return part
}
