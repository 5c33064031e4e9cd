// Package service assembles chatwarden from its parts: the NATS bus, the
// HTTP receiver and the workers. `serve`, `receive`, `work`, `demo` and the
// end-to-end tests all start it through Start.
package service

import (
	"github.com/chatwarden/chatwarden/tracing"

	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/console"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/handlers"
	"github.com/chatwarden/chatwarden/internal/breaker"
	"github.com/chatwarden/chatwarden/internal/connlimit"
	"github.com/chatwarden/chatwarden/internal/framing"
	"github.com/chatwarden/chatwarden/internal/memguard"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/rules"
)

// Roles selects what the process does.
type Roles struct {
	Receive bool // serve the webhook routes
	Work    bool // run the workers
}

func (r Roles) configRole() config.Role {
	switch {
	case r.Receive && r.Work:
		return config.RoleAll
	case r.Receive:
		return config.RoleReceiver
	default:
		return config.RoleWorker
	}
}

// What the service decides by itself, not configuration keys.
const (
	// gaugeEvery is how often the gauges of pending dead letters and of
	// the streams and consumers are brought up to date.
	gaugeEvery = 5 * time.Second
	// failedStartCleanup bounds the release of what a failed Start had
	// started.
	failedStartCleanup = 5 * time.Second
	// autoRetryWithin bounds the retry of an outage's dead letters once its
	// breaker closed (dlq.auto_retry); what is left stays for `dlq retry`.
	autoRetryWithin = 2 * time.Minute
)

// maxAckPending is each partition consumer's limit of events delivered and
// not yet acknowledged: four per worker (workers.concurrency), at least
// 100.
func maxAckPending(concurrency int) int { return max(100, 4*concurrency) }

// Service is a running chatwarden process.
type Service struct {
	cfg      *config.Config
	logger   *zap.Logger
	metrics  *metrics.Metrics
	bus      *bus.Bus
	http     *http.Server
	addr     string
	admin    *http.Server // nil when admin.addr is "off"
	adminAt  string
	runner   *consumer.Runner
	engine   *rules.Engine
	errc     chan error
	pending  *dlq.PendingWatcher // keeps chatwarden_dead_letters_pending current
	streams  *console.Watcher    // keeps the stream and consumer gauges current
	breakers *breaker.Set        // the platform APIs' circuit breakers; nil without workers

	stopTracing func(context.Context) error
	watchCtx    context.Context
	stopWatch   context.CancelFunc
	reload      chan struct{}
}

// Option configures Start.
type Option func(*options)

type options struct {
	logger     *zap.Logger
	httpClient *http.Client
	busOpts    []bus.Option
	handlers   *rules.Registry
}

// WithRuleHandlers sets the registry of Go rule handlers (default
// rules.DefaultRegistry(), where rules.MustRegister adds).
func WithRuleHandlers(r *rules.Registry) Option { return func(o *options) { o.handlers = r } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.logger = l } }

// WithHTTPClient sets one HTTP client for every platform API client
// (default: each platform its own, PlatformHTTPClient with its request
// timeout and workers.concurrency).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithBusOptions passes options to bus.Open (tests use bus.WithTCPToEmbedded).
func WithBusOptions(opts ...bus.Option) Option {
	return func(o *options) { o.busOpts = append(o.busOpts, opts...) }
}

// Start connects to (or starts) NATS, provisions streams and the worker
// consumer, starts the workers and the HTTP server, and returns once all are
// running. The public HTTP listener is on cfg.HTTP.Addr and the admin one
// on cfg.Admin.Addr (port 0 picks a free one; see Addr and AdminAddr).
func Start(ctx context.Context, cfg *config.Config, roles Roles, opts ...Option) (*Service, error) {
	o := options{logger: zap.NewNop()}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Service{cfg: cfg, logger: o.logger, metrics: metrics.New(), errc: make(chan error, 1), reload: make(chan struct{}, 1)}
	s.watchCtx, s.stopWatch = context.WithCancel(context.Background())
	stopTracing, err := tracing.Setup(ctx, cfg.OTel)
	if err != nil {
		return nil, err
	}
	s.stopTracing = stopTracing
	for _, w := range cfg.WarningsFor(roles.configRole()) {
		s.logger.Warn(w)
	}
	var memory handlers.MemoryGuard // nil: no budget
	if cfg.HTTP.MaxMemoryBytes > 0 {
		memory = memguard.Start(s.watchCtx, cfg.HTTP.MaxMemoryBytes, s.logger)
	}

	b, err := bus.Open(ctx, cfg.NATS, append([]bus.Option{bus.WithLogger(s.logger), bus.WithPartitions(cfg.NATS.Partitions)}, o.busOpts...)...)
	if err != nil {
		return nil, err
	}
	s.bus = b
	fail := func(err error) (*Service, error) {
		cctx, cancel := context.WithTimeout(context.Background(), failedStartCleanup)
		defer cancel()
		s.shutdown(cctx)
		return nil, err
	}

	err = bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{
		Partitions: cfg.NATS.Partitions, DuplicateWindow: cfg.NATS.DuplicateWindow,
		Retention: cfg.NATS.Retention, Replicas: cfg.NATS.Replicas, Logger: s.logger,
	})
	if err != nil {
		return fail(err)
	}
	deadLetters, err := dlq.New(b.JS, dlq.WithLogger(s.logger))
	if err != nil {
		return fail(err)
	}
	s.pending = deadLetters.WatchPending(s.metrics.DeadLettersPending, gaugeEvery)

	if roles.Work {
		if err := s.startWorkers(ctx, o, deadLetters); err != nil {
			return fail(err)
		}
	}

	s.streams = console.WatchStreams(b.JS, s.metrics, gaugeEvery, s.logger) // after the workers' consumers exist
	cons, err := console.New(b.JS, b.Partitions(), console.WithDeadLetters(deadLetters), console.WithGatherer(s.metrics.Registry),
		console.WithRules(s.rulesInForce(o.handlers)), console.WithLogger(s.logger), console.WithStore(b.StoreState),
		console.WithBreakers(s.breakerStatuses))
	if err != nil {
		return fail(err)
	}
	receivers, err := Receivers(cfg)
	if err != nil {
		return fail(err)
	}
	deps := handlers.Deps{
		Logger: s.logger, Metrics: s.metrics, Ready: b, Publisher: b, Liveness: b,
		Receive:          roles.Receive,
		Receivers:        receivers,
		MaxBodyBytes:     cfg.HTTP.MaxBodyBytes,
		MaxInflightBytes: cfg.HTTP.MaxInflightBytes,
		MaxInflight:      cfg.HTTP.MaxInflight,
		Memory:           memory,
		PublishTimeout:   cfg.HTTP.PublishTimeout,
		AdminToken:       cfg.Admin.Token,
		MetricsPublic:    cfg.Admin.MetricsPublic,
		DeadLetters:      deadLetters,
		Console:          cons,

		BodyTimeout:      cfg.HTTP.BodyTimeout,
		MaxInflightPerIP: cfg.HTTP.MaxInflightPerIP,
		TrustedProxies:   cfg.HTTP.TrustedProxyPrefixes(),
	}
	// Both listeners are bound before either serves, so a port in use
	// fails the start instead of leaving half a service.
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fail(fmt.Errorf("listening on http.addr %s: %w", cfg.HTTP.Addr, err))
	}
	var adminLn net.Listener
	if cfg.Admin.Addr != config.AdminOff {
		if adminLn, err = net.Listen("tcp", cfg.Admin.Addr); err != nil {
			_ = ln.Close()
			return fail(fmt.Errorf("listening on admin.addr %s: %w", cfg.Admin.Addr, err))
		}
	}
	s.addr = ln.Addr().String()
	// The connection caps guard the public listener; the admin one is
	// private (loopback by default).
	s.http = s.serve(capConns(ln, cfg.HTTP, s.metrics), handlers.New(deps), "http", publicTimeouts(cfg))
	if adminLn != nil {
		s.adminAt = adminLn.Addr().String()
		s.admin = s.serve(adminLn, handlers.NewAdmin(deps), "admin", adminTimeouts(cfg))
	}
	go func() { // a connection closed for good is fatal: see bus.Bus.Lost
		select {
		case <-b.Lost():
			select {
			case s.errc <- b.Alive(s.watchCtx):
			default:
			}
		case <-s.watchCtx.Done():
		}
	}()
	s.logger.Info("chatwarden started", zap.String("http", s.addr), zap.String("admin", s.adminAt), zap.Bool("receive", roles.Receive),
		zap.Bool("work", roles.Work), zap.Bool("embedded_nats", b.Embedded()), zap.String("nats_listen", b.ClientURL()))
	return s, nil
}

// timeouts are an HTTP server's timeouts.
type timeouts struct{ header, read, write, idle time.Duration }

// publicTimeouts are the public listener's: http.header_timeout,
// http.read_timeout, http.write_timeout, http.idle_timeout.
func publicTimeouts(cfg *config.Config) timeouts {
	return timeouts{cfg.HTTP.HeaderTimeout, cfg.HTTP.ReadTimeout, cfg.HTTP.WriteTimeout, cfg.HTTP.IdleTimeout}
}

// adminTimeouts are the admin listener's: http.header_timeout,
// admin.read_timeout, admin.write_timeout, admin.idle_timeout.
func adminTimeouts(cfg *config.Config) timeouts {
	return timeouts{cfg.HTTP.HeaderTimeout, cfg.Admin.ReadTimeout, cfg.Admin.WriteTimeout, cfg.Admin.IdleTimeout}
}

// serve serves h on ln in the background; a failure other than a shutdown
// is reported on Err. name is the listener's config section, for logs.
func (s *Service) serve(ln net.Listener, h http.Handler, name string, t timeouts) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.header,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		ErrorLog:          zap.NewStdLog(s.logger.Named(name)),
	}
	// Requests with both Content-Length and Transfer-Encoding: 400, closed.
	ln = framing.Protect(srv, ln, s.logger.Named(name))
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case s.errc <- fmt.Errorf("HTTP server %s.addr on %s: %w", name, ln.Addr(), err):
			default:
			}
		}
	}()
	return srv
}

// capConns caps the connections of each client address at
// http.max_conns_per_ip (trusted proxies exempt) and of all together at
// http.max_conns, counting the rejected ones by reason.
func capConns(ln net.Listener, h config.HTTP, m *metrics.Metrics) net.Listener {
	trusted := h.TrustedProxyPrefixes()
	return connlimit.New(ln, h.MaxConnsPerIP, connlimit.MaxTotal(h.MaxConns),
		connlimit.OnReject(func(reason string) { m.ConnectionsRejected.WithLabelValues(reason).Inc() }),
		connlimit.Exempt(func(a netip.Addr) bool {
			return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
		}))
}

func (s *Service) startWorkers(ctx context.Context, o options, deadLetters *dlq.Store) error {
	cfg := s.cfg
	cons, err := bus.ProvisionWorkerConsumers(ctx, s.bus.JS, bus.ConsumerSettings{
		Partitions:    cfg.NATS.Partitions,
		AckWait:       cfg.Workers.AckWait,
		MaxAckPending: maxAckPending(cfg.Workers.Concurrency),
		PinnedTTL:     cfg.Workers.FailoverAfter,
		Logger:        s.logger,
	})
	if err != nil {
		return err
	}
	// Without a client of the caller's, each platform gets one of its own
	// (PlatformHTTPClient).
	hc := o.httpClient
	var clients *Clients // set below, before any call can close a breaker
	var onClose []breaker.SetOption
	if cfg.DLQ.AutoRetryOn() {
		onClose = append(onClose, breaker.OnClose(func(platform, org string) {
			s.autoRetry(deadLetters, clients, platform, org)
		}))
	}
	s.breakers = breaker.NewSet(breaker.Settings{Window: cfg.Breaker.Window, MinCalls: cfg.Breaker.MinCalls,
		FailureRatio: cfg.Breaker.FailureRatio, Consecutive: cfg.Breaker.ConsecutiveFailures,
		ProbeInterval: cfg.Breaker.ProbeInterval, ProbeMax: cfg.Breaker.ProbeMax},
		append(onClose, breaker.WithLogger(s.logger.Named("breaker")),
			breaker.WithMetrics(s.metrics.BreakerState, s.metrics.BreakerTransitions))...)
	clients, err = NewClients(ctx, cfg, s.bus.JS, hc, s.logger, InstrumentClients(s.metrics.InstrumentClient),
		WithBreakers(s.breakers))
	if err != nil {
		return err
	}
	engine, err := NewEngine(ctx, cfg, s.bus, clients, s.logger, s.metrics, o.handlers)
	if err != nil {
		return err
	}
	s.engine = engine
	if cfg.RulesFile != "" {
		if err := engine.Watch(s.watchCtx, cfg.RulesFile, s.reload); err != nil {
			return err
		}
	}
	sweeps, err := sweepMiddleware(ctx, cfg, s.bus, clients, engine, s.logger, s.metrics)
	if err != nil {
		return err
	}
	h := consumer.Chain(engine, append([]consumer.Middleware{consumer.Recover(), consumer.Timeout(s.cfg.Workers.HandlerTimeout)}, sweeps...)...)
	workers, err := bus.ProvisionWorkersBucket(ctx, s.bus.JS, cfg.NATS.Replicas, s.logger)
	if err != nil {
		return err
	}
	events, err := s.bus.JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		return fmt.Errorf("opening stream %s: %w", bus.EventsStream, err)
	}
	r, err := consumer.New(cons, h, consumer.JetStreamDeadLetters{JS: s.bus.JS},
		consumer.WithBalancing(workers, events, cfg.Workers.BalanceEvery, bus.WorkerHeartbeat),
		consumer.WithLogger(s.logger), consumer.WithMetrics(s.metrics),
		consumer.WithConcurrency(cfg.Workers.Concurrency), consumer.WithMaxAttempts(cfg.Workers.MaxAttempts),
		consumer.WithAckWait(cfg.Workers.AckWait), consumer.WithPriorityGroup(bus.WorkerGroup),
		consumer.WithBackoff(consumer.Backoff{Base: cfg.Workers.BackoffBase, Max: cfg.Workers.BackoffMax}))
	if err != nil {
		return err
	}
	if err := r.Start(); err != nil {
		return err
	}
	s.runner = r
	return nil
}

// Addr is the address the public HTTP listener (http.addr) listens on.
func (s *Service) Addr() string { return s.addr }

// AdminAddr is the address the admin listener (admin.addr) listens on, ""
// when it is off.
func (s *Service) AdminAddr() string { return s.adminAt }

// Bus is the service's connection to NATS.
func (s *Service) Bus() *bus.Bus { return s.bus }

// Metrics are the service's metrics.
func (s *Service) Metrics() *metrics.Metrics { return s.metrics }

// Err reports a fatal error after Start: of the HTTP server, or the broker
// connection closed for good (bus.ErrConnectionLost; /healthz answers 503
// from then on). The caller should stop the service and start a new one.
func (s *Service) Err() <-chan error { return s.errc }

// Stop shuts down gracefully within ctx: it stops taking HTTP requests and
// lets those in flight finish, lets workers finish the events they hold, then
// drains the NATS connection and stops the embedded server.
func (s *Service) Stop(ctx context.Context) error {
	s.logger.Info("shutting down")
	err := s.shutdown(ctx)
	if err == nil {
		s.logger.Info("stopped cleanly")
	}
	return err
}

// ReloadRules asks the workers to reload the rule file (what SIGHUP does).
// A file that does not load is refused and logged; the old rules stay.
func (s *Service) ReloadRules() {
	select {
	case s.reload <- struct{}{}:
	default:
	}
}

// rulesInForce is what the console shows as the rules: the workers' rule set
// (current after reloads), or, in a process without workers, the configured
// rule file as it is on disk now.
func (s *Service) rulesInForce(handlers *rules.Registry) console.RulesFunc {
	return func() (*rules.RuleSet, bool, error) {
		if s.engine != nil {
			return s.engine.Rules(), s.cfg.Workers.DryRun || s.cfg.RulesFile == "", nil
		}
		set, builtIn, err := LoadRules(s.cfg, handlers)
		return set, s.cfg.Workers.DryRun || builtIn, err
	}
}

// Engine is the rules engine of the workers (nil without the work role).
func (s *Service) Engine() *rules.Engine { return s.engine }

func (s *Service) shutdown(ctx context.Context) error {
	s.stopWatch()
	var errs []error
	defer func() {
		if s.stopTracing != nil {
			_ = s.stopTracing(ctx)
		}
	}()
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping HTTP server: %w", err))
		}
	}
	if s.admin != nil {
		if err := s.admin.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping the admin HTTP server: %w", err))
		}
	}
	if s.runner != nil {
		if err := s.runner.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.pending != nil {
		s.pending.Stop()
	}
	if s.streams != nil {
		s.streams.Stop()
	}
	if s.bus != nil {
		if err := s.bus.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// autoRetry retries the dead letters of an outage of platform and org
// (dlq.auto_retry) once its circuit breaker closed: at most
// dlq.auto_retry_max of them, oldest first (see dlq.Store.AutoRetry).
func (s *Service) autoRetry(deadLetters *dlq.Store, clients *Clients, platform, org string) {
	ctx, cancel := context.WithTimeout(s.watchCtx, autoRetryWithin)
	defer cancel()
	log := s.logger.With(zap.String("platform", platform), zap.String("org", org))
	rep, err := deadLetters.AutoRetry(ctx, func(ev *event.Event) bool {
		return ev.Platform == platform && clients.BreakerOrg(ev.Platform, ev.Tenant) == org
	}, s.cfg.DLQ.AutoRetryMax)
	if rep != nil {
		s.metrics.DeadLettersAutoRetried.WithLabelValues(platform, "retried").Add(float64(rep.Done))
		s.metrics.DeadLettersAutoRetried.WithLabelValues(platform, "failed").Add(float64(rep.Failed))
		if rep.Done > 0 {
			log.Info("dead letters of the outage retried now that the platform answers again (dlq.auto_retry)",
				zap.Int("retried", rep.Done), zap.Int("limit", s.cfg.DLQ.AutoRetryMax))
		}
	}
	if err != nil {
		log.Warn("retrying the dead letters of the outage failed; the rest stay for `chatwarden dlq retry`", zap.Error(err))
	}
}

// breakerStatuses lists the platform API circuit breakers of this process
// (none without workers), for the console.
func (s *Service) breakerStatuses() []breaker.Status {
	if s.breakers == nil {
		return nil
	}
	return s.breakers.Statuses()
}
