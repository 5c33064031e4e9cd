package handlers

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Reasons of shed webhooks: too many webhooks or bytes in flight, or the
// process over its memory budget (http.max_memory_bytes).
const (
	reasonOverloaded = "overloaded"
	reasonOverMemory = "over_memory"
	// reasonClientLimit: the client address has http.max_inflight_per_ip
	// webhooks in flight (429).
	reasonClientLimit = "client_limit"
)

// admissionKey is the echo.Context key of a webhook's *admission.
const admissionKey = "chatwarden.admission"

// limits are the shared budgets of the webhooks in flight.
type limits struct {
	maxBytes int64        // http.max_inflight_bytes
	bytes    atomic.Int64 // charged now
	gauge    prometheus.Gauge
	slots    chan struct{}
}

// charge takes n bytes of the budget, or nothing and false when they do not
// fit.
func (l *limits) charge(n int64) bool {
	if l.bytes.Add(n) > l.maxBytes {
		l.bytes.Add(-n)
		return false
	}
	l.gauge.Add(float64(n))
	return true
}

// admission is one webhook's claim on the limits: the bytes of its body
// buffer charged so far (to the budget and to its client address's share)
// and, once its body is read, its slot. release gives back both when the
// webhook has been answered.
type admission struct {
	l       *limits
	clients *perClient
	ip      string
	bytes   int64
	slot    bool
	// overClient: the last charge did not fit in the client address's
	// share (the address's fault: 429), rather than in the budget (503).
	overClient bool
}

// charge takes n more bytes for this webhook, from its client address's
// share and from the byte budget.
func (a *admission) charge(n int64) bool {
	if !a.clients.charge(a.ip, n) {
		a.overClient = true
		return false
	}
	if !a.l.charge(n) {
		a.clients.uncharge(a.ip, n)
		return false
	}
	a.bytes += n
	return true
}

// takeSlot takes one of the http.max_inflight slots without waiting.
func (a *admission) takeSlot() bool {
	select {
	case a.l.slots <- struct{}{}:
		a.slot = true
		return true
	default:
		return false
	}
}

func (a *admission) release() {
	a.l.bytes.Add(-a.bytes)
	a.l.gauge.Sub(float64(a.bytes))
	a.clients.uncharge(a.ip, a.bytes)
	a.bytes = 0
	if a.slot {
		<-a.l.slots
		a.slot = false
	}
}

// admissionOf is the webhook's admission (nil outside shedLoad: nothing is
// charged).
func admissionOf(c echo.Context) *admission {
	a, _ := c.Get(admissionKey).(*admission)
	return a
}

// shedLoad caps the webhooks in flight per client address
// (http.max_inflight_per_ip, counted from when the headers were read until
// answered) and the body bytes they hold (a quarter of
// http.max_inflight_bytes, or one body of max_body_bytes if more): beyond,
// 429 with Retry-After and the connection closed. It bounds the webhook
// bytes (http.max_inflight_bytes) and webhooks (http.max_inflight) in
// flight: a request that does not fit is answered 503 with Retry-After at
// once instead of queueing: under overload, senders retry later, memory
// stays bounded and accepted webhooks stay fast. So no one address can take
// the whole byte budget with bodies it sends slowly.
//
// Bytes are charged as they arrive, never by the declared Content-Length:
// the body buffer starts at 4 KiB and doubles as it fills (see readBody), each
// growth charged before it is allocated, so a webhook holds at most twice the
// bytes it has sent (at least 4 KiB) until it is answered. A slot is taken
// only once the whole body has arrived, for the time the event is stored: a
// slow or stalled body holds no slot, so stalled connections cannot take the
// slots genuine webhooks need (they are bounded by http.body_timeout and the
// per-address caps instead).
//
// While d.Memory reports the process over its memory budget every webhook
// is shed before its body is read.
func shedLoad(d Deps) echo.MiddlewareFunc {
	l := &limits{maxBytes: d.MaxInflightBytes, gauge: d.Metrics.WebhookBytesInflight, slots: make(chan struct{}, d.MaxInflight)}
	clients := newPerClient(d.MaxInflightPerIP, d.MaxInflightBytesPerIP)
	log := d.Logger.Named("webhook")
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if d.Memory != nil && d.Memory.Over() {
				return shed(c, d, log, reasonOverMemory)
			}
			ip := c.RealIP()
			if !clients.take(ip) {
				return tooManyFromClient(c, d, log, ip)
			}
			defer clients.done(ip) // after a.release below
			// The body must arrive within http.body_timeout; the server's
			// ReadTimeout (30s) only bounds the whole request.
			_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now().Add(d.BodyTimeout))
			a := &admission{l: l, clients: clients, ip: ip}
			defer a.release()
			c.Set(admissionKey, a)
			return next(c)
		}
	}
}

// shed answers 503 with Retry-After and counts it under reason.
func shed(c echo.Context, d Deps, log *zap.Logger, reason string) error {
	platform := strings.TrimPrefix(c.Path(), "/webhooks/")
	d.Metrics.WebhooksRejected.WithLabelValues(platform, reason).Inc()
	if ce := log.Check(zap.DebugLevel, "webhook shed"); ce != nil {
		ce.Write(zap.String("platform", platform), zap.String("reason", reason))
	}
	c.Response().Header().Set("Retry-After", retryAfterSeconds)
	return c.JSONBlob(http.StatusServiceUnavailable, shedBody)
}

// tooManyFromClient answers 429 with Retry-After to a client address over
// http.max_inflight_per_ip, and closes the connection (its body is not read).
func tooManyFromClient(c echo.Context, d Deps, log *zap.Logger, ip string) error {
	platform := strings.TrimPrefix(c.Path(), "/webhooks/")
	d.Metrics.WebhooksRejected.WithLabelValues(platform, reasonClientLimit).Inc()
	if ce := log.Check(zap.DebugLevel, "webhook over the client's cap"); ce != nil {
		ce.Write(zap.String("platform", platform), zap.String("remote", ip))
	}
	h := c.Response().Header()
	h.Set("Retry-After", retryAfterSeconds)
	h.Set(echo.HeaderConnection, "close")
	return c.JSONBlob(http.StatusTooManyRequests, tooManyBody)
}

// tooManyBody is the answer to a client over http.max_inflight_per_ip.
var tooManyBody = []byte(`{"error":"too many webhooks in flight from your address; retry later"}` + "\n")

// shedBody is the answer to a shed webhook, encoded once: under overload
// most answers are this one.
var shedBody = []byte(`{"error":"overloaded; retry later"}` + "\n")
