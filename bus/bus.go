// Package bus owns chatwarden's use of NATS: an embedded server when no URL is
// configured, or a connection to an existing server or cluster; stream and
// consumer provisioning; and publishing events with deduplication.
package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/tracing"
)

// maxPendingPublishes bounds asynchronous publishes awaiting their
// acknowledgement; beyond it Publish fails after a short stall.
const maxPendingPublishes = 4096

// connCheckTimeout bounds the round trip that checks a connection after a
// publish went unanswered (see unanswered).
const connCheckTimeout = 2 * time.Second

// unansweredAfter is how long a publish waits for its acknowledgement
// before the connection is checked (the publish goes on waiting): well
// above a healthy broker's acknowledgement, even under load.
const unansweredAfter = time.Second

// embeddedMaxPayload is the largest message the embedded server accepts. It
// is well above http.max_body_bytes' default so an event never hits it first.
const embeddedMaxPayload = 8 << 20

// Bus is a live connection to JetStream, plus the embedded server when the
// process runs one. It is safe for concurrent use.
type Bus struct {
	Conn *nats.Conn
	JS   jetstream.JetStream

	// srv is the embedded server, nil without one; restartServer replaces it.
	srv        atomic.Pointer[server.Server]
	embedded   bool
	lock       *dirLock
	logger     *zap.Logger
	partitions int

	readyMu  sync.Mutex
	readyAt  time.Time
	closed   atomic.Bool
	shutdown sync.Once

	lost     chan struct{} // closed when the connection is closed for good, not by Close
	lostOnce sync.Once
	lostErr  error

	// store tracks whether the broker can store (see storage.go).
	store storeGuard
	// How the embedded server was started, to start it again (see
	// restartServer), and nats.min_free_disk_bytes.
	natsCfg config.NATS
	creds   Credentials
	dataDir string
	minFree int64
	// checkingConn is set while a publish that went unanswered has the
	// connection checked (see checkConnection).
	checkingConn atomic.Bool
	// suspect is set while that round trip is pending: the connection may
	// be cut off silently, so publishes and Ready fail at once meanwhile
	// instead of waiting for an answer (for at most connCheckTimeout when
	// the connection is fine after all).
	suspect atomic.Bool
}

func newBus(logger *zap.Logger, partitions int) *Bus {
	return &Bus{logger: logger.Named("nats"), partitions: partitions, lost: make(chan struct{}), store: newStoreGuard()}
}

// Option configures Open.
type Option func(*options) error

type options struct {
	logger     *zap.Logger
	partitions int
	inProcess  bool
}

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *zap.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("bus: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithPartitions sets how many partitions event subjects are spread over
// (nats.partitions); default config.DefaultPartitions, 16.
func WithPartitions(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("bus: partitions must be at least 1, got %d", n)
		}
		o.partitions = n
		return nil
	}
}

// WithTCPToEmbedded makes the process talk to its embedded server over its
// TCP listener instead of in-process pipes. Tests use it to exercise
// reconnects; the default (in-process) is faster.
func WithTCPToEmbedded() Option {
	return func(o *options) error { o.inProcess = false; return nil }
}

// Open connects to NATS as cfg says. With cfg.URL empty it first starts an
// embedded nats-server with JetStream and file storage under cfg.DataDir,
// listening on cfg.Listen for operational tools (the nats CLI, chatwarden's own
// subcommands); a Listen of "" or "off" disables that listener.
//
// The embedded server requires credentials of every client, the in-process
// connection included: nats.user/nats.password or nats.token when set,
// otherwise random ones generated at first start and kept in the data
// directory (CredentialsFile, mode 0600) for the operational subcommands. A
// nats.listen that is not a loopback address is refused unless credentials
// are configured.
//
// The embedded server's data directory is locked (LockFile) until Close: a
// second Open of the same directory, in this process or another, fails at
// once with ErrDataDirLocked naming the holder's pid and its nats.listen
// address. The kernel releases the lock when the process dies, so a crash
// leaves no stale lock.
//
// Connecting to an external server retries until ctx ends, logging the first
// failure and then every tenth, so a broker that starts after chatwarden is
// waited for. Once connected, the connection reconnects forever; disconnects
// and reconnects are logged once each, not once per attempt. Publishes fail at
// once while disconnected instead of being buffered.
func Open(ctx context.Context, cfg config.NATS, opts ...Option) (*Bus, error) {
	o := options{logger: zap.NewNop(), partitions: config.DefaultPartitions, inProcess: true}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	b := newBus(o.logger, o.partitions)

	nopts := b.connOptions(cfg)
	url := cfg.URL
	if url == "" {
		if err := checkListenAuth(cfg); err != nil {
			return nil, err
		}
		if err := checkDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
		lock, err := lockDataDir(cfg.DataDir, cfg.Listen)
		if err != nil {
			return nil, err
		}
		b.lock = lock
		creds, err := embeddedCredentials(cfg, b.logger)
		if err != nil {
			b.lock.release()
			return nil, err
		}
		srv, err := startEmbedded(cfg, creds, b.logger)
		if err != nil {
			b.lock.release()
			return nil, err
		}
		b.srv.Store(srv)
		b.embedded, b.natsCfg, b.creds = true, cfg, creds
		b.dataDir, b.minFree = cfg.DataDir, cfg.MinFreeDiskBytes
		if err := lock.record(lockListen(srv)); err != nil {
			b.stopServer()
			return nil, err
		}
		nopts = append(nopts, creds.Option())
		if o.inProcess || srv.Addr() == nil {
			nopts = append(nopts, nats.InProcessServer(inProcess{b}))
		}
		url = srv.ClientURL()
	} else {
		tlsOpts, err := tlsOptions(cfg.TLS)
		if err != nil {
			return nil, err
		}
		nopts = append(nopts, tlsOpts...)
		nopts = append(nopts, authOptions(cfg)...)
	}

	nc, err := b.connect(ctx, url, nopts)
	if err != nil {
		b.stopServer()
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxPendingPublishes),
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		b.closed.Store(true)
		nc.Close()
		b.stopServer()
		return nil, fmt.Errorf("opening JetStream on %s: %w", url, err)
	}
	b.Conn, b.JS = nc, js
	if b.embedded {
		b.logStore()
	}
	b.startStore()
	return b, nil
}

// ClientURL is the URL other processes can use to reach the embedded server,
// or "" when there is none or it does not listen.
func (b *Bus) ClientURL() string {
	srv := b.server()
	if srv == nil || srv.Addr() == nil {
		return ""
	}
	return srv.ClientURL()
}

// Partitions is the number of partitions event subjects are spread over.
func (b *Bus) Partitions() int { return b.partitions }

// Publish stores ev in the events stream with its ID as Nats-Msg-Id and
// returns once JetStream acknowledged it. duplicate is true when the stream
// already held a message with that id within its duplicate window; the event
// is then stored exactly once. Publish fails at once with ErrNotConnected when
// the connection is down.
//
// Publishes are asynchronous underneath: concurrent callers' messages share
// the connection's write batches and the server's acknowledgements come back
// on one subscription, while each caller still waits for its own
// acknowledgement. When too many publishes are outstanding (the broker
// cannot keep up), Publish fails quickly instead of queueing without bound.
//
// While the broker cannot store (disk full, JetStream's storage limit
// reached, JetStream disabled; see StoreState), Publish fails at once with an
// error wrapping ErrStorageFull, and publishes waiting for their
// acknowledgement when such a fault is noticed give up with it. During a
// fault of a limit the broker reported, one publish per second goes through
// as a probe; once one is stored, all are let through again. With the
// embedded server, a store that failed a write is healed by restarting
// JetStream once the disk has room (see heal). A publish to an external
// server that goes unanswered has the connection checked (see unanswered).
func (b *Bus) Publish(ctx context.Context, ev *event.Event) (duplicate bool, err error) {
	if b.Conn.Status() != nats.CONNECTED {
		return false, ErrNotConnected
	}
	if b.suspect.Load() {
		return false, fmt.Errorf("%w: the connection does not answer a round trip (checking)", ErrNotConnected)
	}
	probe, faulted, err := b.admit()
	if err != nil {
		return false, fmt.Errorf("publishing event %s: %w", ev.ID, err)
	}
	stored := false
	if probe {
		defer func() { b.probed(stored) }()
	}
	buf := storedBufs.Get().(*[]byte)
	data, err := ev.AppendEncoded((*buf)[:0])
	if err != nil {
		storedBufs.Put(buf)
		return false, fmt.Errorf("encoding event %s: %w", ev.ID, err)
	}
	// The client copies data into its write buffer as it publishes; the
	// future keeps it only to publish again while the stream has no
	// leader. Once the broker has answered, it is free for the next event;
	// on the other paths it stays with the future.
	release := func() {
		if cap(data) <= maxPooledStored {
			*buf = data[:0]
			storedBufs.Put(buf)
		}
	}
	msg := &nats.Msg{Subject: ev.Subject(b.partitions), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, ev.ID)
	msg.Header.Set(jetstream.ExpectedStreamHeader, EventsStream)
	if tracing.Enabled() {
		var span trace.Span
		ctx, span = tracing.Tracer().Start(ctx, "publish "+EventsStream, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("messaging.destination.name", msg.Subject), attribute.String("chatwarden.event_id", ev.ID)))
		defer span.End()
		tracing.Inject(ctx, msg.Header)
	}
	f, err := b.JS.PublishMsgAsync(msg, jetstream.WithStallWait(100*time.Millisecond))
	if err != nil {
		return false, fmt.Errorf("publishing event %s to %s: %w", ev.ID, msg.Subject, err)
	}
	// A publish unanswered for a while has the connection checked before
	// its timeout, so that a silent cut is noticed early.
	slow := time.NewTimer(unansweredAfter)
	defer slow.Stop()
	for {
		select {
		case <-slow.C:
			b.unanswered()
			continue
		case ack := <-f.Ok():
			stored = true
			release()
			return ack.Duplicate, nil
		case err := <-f.Err():
			release()
			if kind, full := b.storageError(err); full {
				b.setFault(kind, err)
				return false, fmt.Errorf("publishing event %s to %s: %w: %w", ev.ID, msg.Subject, ErrStorageFull, err)
			}
			return false, fmt.Errorf("publishing event %s to %s: %w", ev.ID, msg.Subject, err)
		case <-faulted: // the store failed meanwhile: no acknowledgement will come
			return false, fmt.Errorf("publishing event %s to %s: %w", ev.ID, msg.Subject, b.storeErr())
		case <-b.lost: // no acknowledgement will come
			return false, fmt.Errorf("publishing event %s to %s: %w", ev.ID, msg.Subject, b.lostErr)
		case <-ctx.Done():
			b.unanswered()
			return false, fmt.Errorf("publishing event %s to %s: no acknowledgement: %w", ev.ID, msg.Subject, ctx.Err())
		}
	}
}

// storedBufs keeps the buffers of events' stored forms across publishes.
var storedBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledStored bounds a pooled buffer: an occasional large event does
// not pin its buffer.
const maxPooledStored = 64 << 10

// unanswered follows up a publish the broker did not acknowledge in time:
// the embedded server's store is checked at once (a store that failed a
// write does not answer), and a connection to an external server is
// checked with a round trip; a connection that does not answer it (cut off
// by the network, while TCP has not noticed yet) is dropped and
// reconnected, so that the next publishes fail at once with ErrNotConnected
// instead of waiting for their acknowledgement too.
func (b *Bus) unanswered() {
	if b.embedded {
		b.kickWatch()
		return
	}
	if !b.checkingConn.CompareAndSwap(false, true) {
		return
	}
	b.suspect.Store(true)
	go func() {
		defer b.checkingConn.Store(false)
		defer b.suspect.Store(false)
		err := b.Conn.FlushTimeout(connCheckTimeout)
		if err == nil || b.closed.Load() || b.Conn.Status() != nats.CONNECTED {
			return
		}
		b.logger.Warn("the NATS connection does not answer a round trip; reconnecting", zap.String("reason", ReasonBrokerUnavailable), zap.Error(err))
		if err := b.Conn.ForceReconnect(); err != nil {
			b.logger.Warn("reconnecting to NATS", zap.Error(err))
		}
	}()
}

// Ready reports whether the bus can store events: connected (else an error
// wrapping ErrNotConnected), the store not refusing (else ErrStorageFull), and
// the events stream exists. A positive answer is cached for two seconds so that frequent
// probes stay cheap.
func (b *Bus) Ready(ctx context.Context) error {
	if s := b.Conn.Status(); s != nats.CONNECTED {
		return fmt.Errorf("%w: NATS connection is %s", ErrNotConnected, s)
	}
	if b.suspect.Load() {
		return fmt.Errorf("%w: the connection does not answer a round trip (checking)", ErrNotConnected)
	}
	if err := b.storeErr(); err != nil {
		return err
	}
	b.readyMu.Lock()
	fresh := time.Since(b.readyAt) < 2*time.Second
	b.readyMu.Unlock()
	if fresh {
		return nil
	}
	if _, err := b.JS.Stream(ctx, EventsStream); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			b.unanswered() // a silent connection answers no request either
		}
		return fmt.Errorf("stream %s: %w", EventsStream, err)
	}
	b.readyMu.Lock()
	b.readyAt = time.Now()
	b.readyMu.Unlock()
	return nil
}

// Close drains the connection (flushing pending acks and publishes) and then
// stops the embedded server, if any. It waits at most until ctx ends.
func (b *Bus) Close(ctx context.Context) error {
	var err error
	b.shutdown.Do(func() {
		b.closed.Store(true)
		b.stopStore()
		if b.Conn != nil && !b.Conn.IsClosed() {
			done := make(chan struct{})
			b.Conn.SetClosedHandler(func(*nats.Conn) { close(done) })
			if derr := b.Conn.Drain(); derr != nil {
				b.Conn.Close()
			} else {
				select {
				case <-done:
				case <-ctx.Done():
					b.Conn.Close()
					err = fmt.Errorf("draining NATS connection: %w", ctx.Err())
				}
			}
		}
		b.stopServer()
	})
	return err
}

func (b *Bus) stopServer() {
	if srv := b.server(); srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
	b.lock.release()
}
