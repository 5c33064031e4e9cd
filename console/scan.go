package console

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// scan describes a read of the newest messages of a stream.
type scan struct {
	stream  string
	filters []string  // subject filters; none for the whole stream
	since   time.Time // skip (and stop at) messages stored before; zero for no bound
	max     int       // stop after this many messages (the answer is then truncated)
	// enough, when set, is asked after each window whether to stop.
	enough func() bool
}

// scanResult says how much was read and whether the scan stopped at max
// before reaching since (or the start of the stream).
type scanResult struct {
	Scanned   int
	Truncated bool
}

const (
	firstWindow = 256
	maxWindow   = 1 << 15
)

// newest calls fn for the messages matching s, newest windows first: the
// stream is read backwards in windows of sequence numbers that double in
// size, each window oldest first. So a bounded read finds the newest
// messages without reading a whole stream, however large the stream is.
//
// Each window is read with a short-lived ephemeral consumer (no acks, in
// memory); the number of matching messages in a window is known exactly
// from the consumers' pending counts, so no read waits for a timeout.
func newest(ctx context.Context, js jetstream.JetStream, s scan, fn func(jetstream.Msg, *jetstream.MsgMetadata) error) (scanResult, error) {
	var res scanResult
	st, err := js.Stream(ctx, s.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return res, fmt.Errorf("%w: %s (has chatwarden run against this NATS server?)", ErrNoStream, s.stream)
	}
	if err != nil {
		return res, fmt.Errorf("looking up stream %s: %w", s.stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return res, fmt.Errorf("reading stream %s: %w", s.stream, err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 || last < first {
		return res, nil
	}
	if s.max <= 0 {
		s.max = defaultMaxScan
	}
	hi, window := last, uint64(firstWindow)
	var pendingAbove uint64 // matching messages after hi
	for {
		lo := first
		if hi >= first+window {
			lo = hi - window + 1
		}
		n, older, skipped, err := readWindow(ctx, st, s, lo, hi, pendingAbove, s.max-res.Scanned, fn)
		res.Scanned += n
		if err != nil {
			return res, err
		}
		switch {
		case skipped:
			res.Truncated = true
			return res, nil
		case older || lo == first:
			return res, nil
		case res.Scanned >= s.max:
			res.Truncated = true
			return res, nil
		case s.enough != nil && s.enough():
			return res, nil
		}
		pendingAbove += uint64(n) // every matching message of the window was read
		hi = lo - 1
		window = min(2*window, maxWindow)
	}
}

// readWindow reads the matching messages with sequences lo..hi, at most
// limit of them. pendingAbove is the number of matching messages after hi.
// older reports a message stored before s.since (the scan can stop);
// skipped that the window held more than limit and its oldest were passed
// over.
func readWindow(ctx context.Context, st jetstream.Stream, s scan, lo, hi, pendingAbove uint64, limit int,
	fn func(jetstream.Msg, *jetstream.MsgMetadata) error) (n int, older, skipped bool, err error) {
	cfg := jetstream.ConsumerConfig{
		Description:       "chatwarden console: a read of recent messages",
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       lo,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 30 * time.Second,
		MemoryStorage:     true,
		Replicas:          1,
	}
	switch len(s.filters) {
	case 0:
	case 1:
		cfg.FilterSubject = s.filters[0]
	default:
		cfg.FilterSubjects = s.filters
	}
	c, err := st.CreateConsumer(ctx, cfg)
	if err != nil {
		return 0, false, false, fmt.Errorf("reading stream %s: %w", s.stream, err)
	}
	name := c.CachedInfo().Name
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = st.DeleteConsumer(dctx, name)
	}()
	pending := c.CachedInfo().NumPending
	if pending <= pendingAbove {
		return 0, false, false, nil
	}
	want := pending - pendingAbove // matching messages in lo..hi
	// When the window holds more than limit, the newest limit are wanted:
	// the older ones are fetched and passed over.
	skip := uint64(0)
	if want > uint64(limit) {
		skip, skipped = want-uint64(limit), true
	}
	for want > 0 && n < limit {
		batch, err := c.Fetch(int(min(want, skip+uint64(limit-n), 500)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return n, older, skipped, fmt.Errorf("reading stream %s: %w", s.stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return n, older, skipped, fmt.Errorf("reading stream %s: message on %s without metadata: %w", s.stream, m.Subject(), err)
			}
			if md.Sequence.Stream > hi {
				continue // stored after the window was planned; a later read shows it
			}
			if skip > 0 {
				skip--
				continue
			}
			n++
			if !s.since.IsZero() && md.Timestamp.Before(s.since) {
				older = true
				continue
			}
			if err := fn(m, md); err != nil {
				return n, older, skipped, err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return n, older, skipped, fmt.Errorf("reading stream %s: %w", s.stream, err)
		}
		if got == 0 {
			break // messages removed meanwhile (retention, purge)
		}
		want -= min(want, uint64(got))
	}
	return n, older, skipped, nil
}
