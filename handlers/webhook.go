package handlers

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/tracing"
)

// Reasons a webhook is rejected (label "reason" of
// chatwarden_webhooks_rejected_total).
const (
	reasonUnauthorized = platform.ReasonUnauthorized
	reasonMalformed    = platform.ReasonMalformed
	reasonTooLarge     = "too_large"
	reasonUnavailable  = "unavailable"
	reasonBodyTimeout  = "body_timeout"
	// reasonStorageFull: the broker refuses to store (disk full, storage
	// limit reached); answered 503 at once. The bus logs when it begins and
	// ends, and reminds while it lasts, so rejections are not logged one by
	// one.
	reasonStorageFull = bus.ReasonStorageFull
	// reasonBrokerUnavailable: the connection to the broker is down; 503 at
	// once, logged by the bus likewise.
	reasonBrokerUnavailable = bus.ReasonBrokerUnavailable
)

// retryAfterSeconds is sent with 503 answers.
const retryAfterSeconds = "5"

// firstChunk is the first size of a body buffer; it doubles as it fills.
const firstChunk = 4 << 10

// discardLimit bounds the bytes of an oversized body read and thrown away
// before its 413 (see discardRest).
const discardLimit = 4 << 20

// errOverBudget: the body's next bytes do not fit in http.max_inflight_bytes.
var errOverBudget = errors.New("webhook bytes in flight over http.max_inflight_bytes")

// readBody reads at most limit bytes of the request body. It reports tooLarge
// without reading further when the body (or its declared length) is bigger.
//
// The buffer grows as bytes arrive, never by the declared length alone: it
// starts at 4 KiB (or the declared length when smaller) and doubles when
// full, up to the declared length (or limit+1 when sent chunked). Each growth
// is first passed to charge (nil: free); when charge refuses, readBody stops
// with errOverBudget. So a request that declares 1 MiB and sends one byte
// costs 4 KiB, and a buffer is never more than twice the bytes received.
func readBody(r *http.Request, limit int64, charge func(n int64) bool) (body []byte, tooLarge bool, err error) {
	if r.ContentLength > limit {
		return nil, true, nil
	}
	want := limit + 1 // sent chunked: one byte past the limit tells it is too large
	if r.ContentLength >= 0 {
		want = r.ContentLength
	}
	for {
		if len(body) == cap(body) {
			if int64(len(body)) == want {
				break
			}
			grow := min(max(2*int64(cap(body)), firstChunk), want) - int64(cap(body))
			if charge != nil && !charge(grow) {
				return nil, false, errOverBudget
			}
			body = append(make([]byte, 0, int64(cap(body))+grow), body...)
		}
		n, err := r.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, err
		}
	}
	if r.ContentLength >= 0 && int64(len(body)) < r.ContentLength {
		return nil, false, fmt.Errorf("reading a body of declared length %d: %w after %d bytes", r.ContentLength, io.ErrUnexpectedEOF, len(body))
	}
	if int64(len(body)) > limit {
		return nil, true, nil
	}
	return body, false, nil
}

// receiver holds what every platform's webhook handler shares: rejecting with
// metrics and logs, and publishing with a deadline.
type receiver struct {
	platform string
	d        Deps
	log      *zap.Logger
}

func newReceiver(platform string, d Deps) *receiver {
	return &receiver{platform: platform, d: d, log: d.Logger.Named("webhook").With(zap.String("platform", platform))}
}

// reject answers status with no details beyond a short message and counts it.
// It logs at info, except the reasons of a broker that cannot store (debug:
// the bus logs those states as they begin and end).
func (r *receiver) reject(c echo.Context, status int, reason, msg string, fields ...zap.Field) error {
	r.d.Metrics.WebhooksRejected.WithLabelValues(r.platform, reason).Inc()
	level := zap.InfoLevel
	if reason == reasonStorageFull || reason == reasonBrokerUnavailable {
		level = zap.DebugLevel
	}
	if ce := r.log.Check(level, "webhook rejected"); ce != nil {
		ce.Write(append(fields, zap.Int("status", status), zap.String("reason", reason),
			zap.String("detail", msg), zap.String("remote", c.RealIP()))...)
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	return c.JSON(status, map[string]string{"error": msg})
}

// store publishes ev and answers: an exact 200 with an empty body once the
// broker acknowledged it (or recognised a duplicate), 503 with Retry-After
// when it could not be stored in time (reason "unavailable"), or at once
// when the broker cannot store (reason "storage_full") or is not connected
// (reason "broker_unavailable").
func (r *receiver) store(c echo.Context, ev *event.Event) error {
	ctx, cancel := contextWithTimeout(c, r.d.PublishTimeout)
	defer cancel()
	span := trace.SpanFromContext(ctx) // a no-op one when tracing is off
	if tracing.Enabled() {
		ctx, span = tracing.Tracer().Start(ctx, "webhook "+r.platform+"."+event.ActionLabel(r.platform, ev.Action), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("chatwarden.event_id", ev.ID), attribute.String("chatwarden.chat_id", ev.ChatID),
				attribute.String("chatwarden.platform", r.platform), attribute.String("chatwarden.action", ev.Action)))
	}
	defer span.End()
	start := time.Now()
	dup, err := r.d.Publisher.Publish(ctx, ev)
	if err != nil {
		span.SetStatus(codes.Error, "not stored")
	}
	span.SetAttributes(attribute.Bool("chatwarden.duplicate", dup))
	r.d.Metrics.PublishLatency.WithLabelValues(r.platform).Observe(time.Since(start).Seconds())
	if err != nil {
		reason, msg := unstoredReason(err)
		return r.reject(c, http.StatusServiceUnavailable, reason, msg,
			zap.String("action", ev.Action), zap.String("chat_id", ev.ChatID), zap.String("event_id", ev.ID), zap.Error(err))
	}
	r.d.Metrics.WebhooksReceived.WithLabelValues(r.platform, event.ActionLabel(r.platform, ev.Action)).Inc() // bounded: unknown actions are "other"
	if dup {
		r.d.Metrics.Duplicates.WithLabelValues(r.platform).Inc()
	}
	if ce := r.log.Check(zap.DebugLevel, "webhook stored"); ce != nil {
		ce.Write(zap.String("action", ev.Action), zap.String("chat_id", ev.ChatID),
			zap.String("event_id", ev.ID), zap.Bool("duplicate", dup))
	}
	return c.NoContent(http.StatusOK)
}

// unstoredReason names why an event could not be stored, and what to tell
// the sender.
func unstoredReason(err error) (reason, msg string) {
	switch {
	case errors.Is(err, bus.ErrStorageFull):
		return reasonStorageFull, "the broker's storage is full; retry later"
	case errors.Is(err, bus.ErrNotConnected), errors.Is(err, bus.ErrConnectionLost):
		return reasonBrokerUnavailable, "the broker is not reachable; retry later"
	default:
		return reasonUnavailable, "cannot store the event right now; retry later"
	}
}

// isTimeout tells whether err is a passed read deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readOrReject reads the capped body, charging its bytes to
// http.max_inflight_bytes as they arrive, then takes a slot of
// http.max_inflight for storing it (see shedLoad); on failure it has already
// answered: 413 too large, 503 with Retry-After over the byte budget, 429
// with Retry-After over the client address's share of it, 408 (and the
// connection closed) when the body did not arrive within http.body_timeout,
// 400 otherwise.
func (r *receiver) readOrReject(c echo.Context) ([]byte, bool) {
	a := admissionOf(c)
	var charge func(int64) bool
	if a != nil {
		charge = a.charge
	}
	body, tooLarge, err := readBody(c.Request(), r.d.MaxBodyBytes, charge)
	switch {
	case tooLarge:
		discardRest(c)
		_ = r.reject(c, http.StatusRequestEntityTooLarge, reasonTooLarge, "body exceeds http.max_body_bytes")
		return nil, false
	case errors.Is(err, errOverBudget) && a.overClient:
		_ = tooManyFromClient(c, r.d, r.d.Logger.Named("webhook"), a.ip)
		return nil, false
	case errors.Is(err, errOverBudget):
		// The rest of the body is not read: close the connection rather
		// than wait for it.
		c.Response().Header().Set(echo.HeaderConnection, "close")
		_ = shed(c, r.d, r.d.Logger.Named("webhook"), reasonOverloaded)
		return nil, false
	case isTimeout(err):
		c.Response().Header().Set(echo.HeaderConnection, "close")
		_ = r.reject(c, http.StatusRequestTimeout, reasonBodyTimeout, "body not received within http.body_timeout")
		return nil, false
	case err != nil:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			discardRest(c)
			_ = r.reject(c, http.StatusRequestEntityTooLarge, reasonTooLarge, "body exceeds the server limit")
			return nil, false
		}
		_ = r.reject(c, http.StatusBadRequest, reasonMalformed, "cannot read body", zap.Error(err))
		return nil, false
	}
	if a != nil && !a.takeSlot() {
		_ = shed(c, r.d, r.d.Logger.Named("webhook"), reasonOverloaded)
		return nil, false
	}
	return body, true
}

// discardRest reads and throws away what is left of an oversized body, up to
// discardLimit bytes and within http.body_timeout (the read deadline set by
// shedLoad), and marks the answer Connection: close. A client that writes
// its whole body before reading the answer (Python's urllib, many SDKs)
// then reads its 413: answering while its bytes still arrive would close
// the connection under them, and the client would see a reset, which
// senders retry forever. A body declared larger than discardLimit (4 MiB)
// is not read at all. Memory stays bounded: the bytes go
// through io.Discard's small buffer, never into the body buffer.
func discardRest(c echo.Context) {
	c.Response().Header().Set(echo.HeaderConnection, "close")
	req := c.Request()
	if req.ContentLength > discardLimit {
		return
	}
	_, _ = io.CopyN(io.Discard, req.Body, discardLimit)
}
