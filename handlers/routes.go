// Package handlers holds every HTTP route of chatwarden, on two listeners:
// the public one (webhook receivers, health and readiness probes) and the
// admin one (admin API, console, metrics, profiler). All routes are
// registered in this file; handlers are built by maker functions that take
// their dependencies and return echo.HandlerFunc.
package handlers

import (
	"context"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/console"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/platform"
)

// Publisher stores an event durably; it returns only after the broker
// acknowledged it. duplicate reports that the same event was already stored.
type Publisher interface {
	Publish(ctx context.Context, ev *event.Event) (duplicate bool, err error)
}

// Readiness reports whether the process can do its job (broker connected,
// streams present).
type Readiness interface {
	Ready(ctx context.Context) error
}

// Deps are what the routes need. Publisher may be nil only when Receive is
// false (the `work` role serves probes and metrics only).
type Deps struct {
	Logger    *zap.Logger
	Metrics   *metrics.Metrics
	Ready     Readiness
	Publisher Publisher

	// Receive turns on the webhook routes. The handlers log no warning of
	// their own about missing secrets: the service logs
	// config.WarningsFor once, only for the platforms configured.
	Receive bool
	// MaxBodyBytes caps webhook bodies (413 beyond); default 1 MiB.
	MaxBodyBytes int64
	// MaxInflightBytes bounds the webhook bytes in flight, charged as they
	// arrive (503 beyond); default 64 MiB.
	MaxInflightBytes int64
	// MaxInflight bounds the webhooks being stored, counted once their body
	// has arrived (503 beyond); default 256.
	MaxInflight int
	// Memory sheds every webhook (503) while it reports the process over
	// its memory budget (see internal/memguard); nil never sheds.
	Memory MemoryGuard
	// PublishTimeout bounds the wait for the broker's acknowledgement before
	// answering 503; default 5s.
	PublishTimeout time.Duration
	// Now is the clock used to stamp received events; default time.Now.
	Now func() time.Time

	// AdminToken is the bearer token of the admin listener (admin.token):
	// /admin/, /debug/pprof/ and, unless MetricsPublic, /metrics. Empty:
	// those routes answer 403 saying to set it.
	AdminToken string
	// MetricsPublic serves /metrics without the token (admin.metrics_public).
	MetricsPublic bool
	// DeadLetters serves /admin/dlq; nil leaves those routes out.
	DeadLetters DeadLetters
	// Console serves the web console's API under /admin/api/ and turns on
	// its page under /ui/; nil leaves both out.
	Console Console

	// Liveness fails /healthz when the process cannot recover by itself
	// (broker connection closed for good); nil: /healthz always answers 200.
	Liveness Liveness

	// BodyTimeout bounds the time a webhook's body takes to arrive, from
	// when its headers were read: later, 408 and the connection closed
	// (http.body_timeout); default 5s.
	BodyTimeout time.Duration
	// MaxInflightPerIP caps the webhooks in flight for one client address
	// (429 with Retry-After beyond; http.max_inflight_per_ip); default 64.
	MaxInflightPerIP int
	// MaxInflightBytesPerIP caps the body bytes the webhooks of one client
	// address hold (429 with Retry-After beyond); default a quarter of
	// MaxInflightBytes, or one body of MaxBodyBytes if that is more.
	MaxInflightBytesPerIP int64
	// TrustedProxies are the peers whose X-Forwarded-For / X-Real-IP name
	// the client (http.trusted_proxies); none: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// Receivers are the platforms' webhook receivers by platform name, each
	// mounted at POST /webhooks/<name> when Receive is on (the service
	// passes those of every registered platform that has one; see
	// platform.Receiver). A platform without one gets no route (404).
	Receivers map[string]platform.Receiver
}

// MemoryGuard tells whether the process is over its memory budget
// (http.max_memory_bytes).
type MemoryGuard interface{ Over() bool }

// New builds the public listener's routes (http.addr): the webhooks and the
// probes, nothing else, because this port faces the internet.
//
//	POST /webhooks/<platform> the platform's webhooks, for each of d.Receivers (when d.Receive):
//	                          /webhooks/livechat, /webhooks/helpcrunch, /webhooks/rocketchat
//	                          (Rocket.Chat Omnichannel) with the shipped platforms
//	GET  /healthz             200 while the process can work (503: restart it)
//	GET  /readyz              200 when the broker is connected and streams exist, else 503
func New(d Deps) *echo.Echo {
	d = withDefaults(d)
	e := newEcho(d)
	e.GET("/healthz", healthz(d.Liveness))
	e.GET("/readyz", readyz(d.Ready))
	if d.Receive {
		shed := shedLoad(d)
		for _, name := range slices.Sorted(maps.Keys(d.Receivers)) {
			e.POST("/webhooks/"+name, webhook(name, d.Receivers[name], d), shed)
		}
	}
	return e
}

// NewAdmin builds the admin listener's routes (admin.addr, loopback by
// default). Everything but the console's static page is behind
// "Authorization: Bearer <admin.token>" (401 without it or with a wrong
// one; 403 saying to set it when no token is configured):
//
//	GET  /metrics                                Prometheus metrics (without the token when d.MetricsPublic)
//	GET  /debug/pprof/...                        Go's profiler (net/http/pprof)
//
// Admin API, answering JSON (see admin.go and package dlq):
//
//	GET    /admin/dlq?reason=&since=             list dead letters (dlq.Listing)
//	GET    /admin/dlq/:id                        one dead letter with its failed attempts (dlq.Detail)
//	POST   /admin/dlq/:id/retry?dry_run=         retry one (dlq.Result)
//	POST   /admin/dlq/retry?dry_run=&reason=&since=  retry all matching (dlq.Report)
//	DELETE /admin/dlq/:id?dry_run=               purge one (dlq.Result)
//	DELETE /admin/dlq?older_than=24h&dry_run=    purge those older than (dlq.Report)
//
// The web console (when d.Console is set; see console.go and package
// console): its page is served without the token, its data only behind it:
//
//	GET    /ui/                                  the console's page (static, embedded)
//	GET    /admin/api/overview                   live counters, streams, consumers (console.Overview)
//	GET    /admin/api/events?limit=&platform=&action=&since=  newest events with decisions (console.Page)
//	GET    /admin/api/timeline?chat_id=&platform=&since=      a chat's timeline (console.Timeline)
//	GET    /admin/api/rules?since=               rules in force with decision counts (console.RuleSet)
func NewAdmin(d Deps) *echo.Echo {
	d = withDefaults(d)
	e := newEcho(d)
	auth := adminAuth(d.AdminToken, d.Logger)

	metricsHandler := echo.WrapHandler(promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{}))
	switch {
	case d.MetricsPublic:
		e.GET("/metrics", metricsHandler)
	case d.AdminToken == "":
		e.GET("/metrics", func(echo.Context) error { return echo.NewHTTPError(http.StatusForbidden, metricsDisabled) })
	default:
		e.GET("/metrics", metricsHandler, auth)
	}
	e.GET("/debug/pprof/*", profiler(), auth)

	admin := e.Group("/admin", auth)
	if d.DeadLetters != nil {
		admin.GET("/dlq", listDeadLetters(d))
		admin.DELETE("/dlq", purgeOldDeadLetters(d))
		admin.POST("/dlq/retry", retryAllDeadLetters(d))
		admin.GET("/dlq/:id", getDeadLetter(d))
		admin.DELETE("/dlq/:id", purgeDeadLetter(d))
		admin.POST("/dlq/:id/retry", retryDeadLetter(d))
	}
	if d.Console != nil {
		e.GET("/ui", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/ui/") })
		e.GET("/ui/*", consoleStatic(console.Static()))
		admin.GET("/api/overview", consoleOverview(d))
		admin.GET("/api/events", consoleEvents(d))
		admin.GET("/api/timeline", consoleTimeline(d))
		admin.GET("/api/rules", consoleRules(d))
	}
	return e
}

// metricsDisabled answers /metrics when neither a token nor public metrics
// are configured.
const metricsDisabled = "metrics need the admin token: set admin.token (and scrape with it as a bearer token), or admin.metrics_public: true for a scraper on a private network"

// withDefaults fills the zero settings of d with their defaults: the
// configuration's, so that a Deps built by hand behaves as the default
// configuration does.
func withDefaults(d Deps) Deps {
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = config.DefaultMaxBodyBytes
	}
	if d.MaxInflightBytes < d.MaxBodyBytes {
		d.MaxInflightBytes = max(config.DefaultMaxInflightBytes, d.MaxBodyBytes)
	}
	if d.MaxInflight <= 0 {
		d.MaxInflight = config.DefaultMaxInflight
	}
	if d.PublishTimeout <= 0 {
		d.PublishTimeout = config.DefaultPublishTimeout
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.BodyTimeout <= 0 {
		d.BodyTimeout = config.DefaultBodyTimeout
	}
	if d.MaxInflightPerIP <= 0 {
		d.MaxInflightPerIP = config.DefaultMaxInflightPerIP
	}
	if d.MaxInflightBytesPerIP <= d.MaxBodyBytes {
		d.MaxInflightBytesPerIP = max(d.MaxInflightBytes/4, d.MaxBodyBytes+1)
	}
	return d
}

// newEcho is an echo instance with the error handler and recovery every
// listener shares.
func newEcho(d Deps) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Logger)
	e.IPExtractor = clientIP(d.TrustedProxies)
	e.Use(middleware.Recover())
	return e
}

// errorHandler answers errors as short JSON without internals; 5xx are logged.
func errorHandler(logger *zap.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code, msg := http.StatusInternalServerError, "internal error"
		if he, ok := err.(*echo.HTTPError); ok {
			code = he.Code
			if s, ok := he.Message.(string); ok {
				msg = s
			} else {
				msg = http.StatusText(code)
			}
		}
		if code >= 500 {
			logger.Error("request failed", zap.String("path", c.Path()), zap.Error(err))
		}
		_ = c.JSON(code, map[string]string{"error": msg})
	}
}
