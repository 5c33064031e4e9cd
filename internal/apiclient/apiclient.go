// Package apiclient is the one HTTP client core the platform clients
// (livechat, livechat/v2, helpcrunch, rocketchat) embed, in the shape of
// go-github's github.go: NewRequest builds a request against the base URL
// with the user agent and the platform's credentials, Do sends it and
// decodes the answer, CheckResponse turns a failed answer into the
// platform's typed error. Each platform keeps only what is its own: its
// authentication (Config.Authorize), the shape of its error bodies
// (Config.DecodeError), its endpoints, rate limiting and error types.
//
// What every client gets from here:
//   - the options WithBaseURL, WithHTTPClient, WithLogger, WithUserAgent and
//     WithConcurrency, validated the same way, with errors wrapping the
//     platform's ErrInvalidOption;
//   - by default an *http.Client with the platform's timeout and a tuned
//     transport of its own (NewTransport): idle connections for every
//     worker, keep-alive, HTTP/2 where the server offers it, dial, TLS and
//     response-header timeouts;
//   - redirects followed only to the configured origin
//     (httpcall.SameOriginRedirects), whatever HTTP client is given;
//   - bounded reading: a successful body up to httpcall.MaxResponseBody, an
//     error body up to httpcall.MaxErrorBody, the rest drained so the
//     connection is reused;
//   - Retry-After read into every API error, and RetryAfter / RateLimitError
//     for the hints callers back off by;
//   - a debug log line per call, never with credentials.
//
// internal/apiclient/apiclienttest holds the contract suite every client
// and every fake runs (429 with Retry-After, 5xx, timeouts, body limits,
// redirects, bad JSON, connection reuse).
package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/internal/apiurl"
	"github.com/chatwarden/chatwarden/internal/httpcall"
)

// Config is what a platform tells the core about itself. Platform,
// UserAgent, Timeout and ErrInvalidOption are required.
type Config struct {
	// Platform names the platform in log fields ("livechat").
	Platform string
	// BaseURL is the default base URL; "" means none (the platform sets it
	// with WithBaseURL, as Rocket.Chat's New does with the server URL).
	BaseURL string
	// UserAgent is the default User-Agent.
	UserAgent string
	// Timeout is the timeout of the default HTTP client.
	Timeout time.Duration
	// ErrInvalidOption is the platform's sentinel that option errors wrap.
	ErrInvalidOption error
	// Authorize adds the credentials and any platform header to a request
	// NewRequest built (nil: none).
	Authorize func(*http.Request)
	// Success reports whether a status is a successful answer; nil: 2xx.
	Success func(status int) bool
	// DecodeError turns a failed answer into the platform's error; nil
	// returns the *ErrorResponse itself.
	DecodeError func(*ErrorResponse) error
	// CheckBody, when set, is given every successful body before it is
	// decoded, for APIs that report failures in a 200 (Rocket.Chat's
	// "success": false); a non-nil error is returned by Do.
	CheckBody func(resp *http.Response, body []byte) error
}

// Core is the part of a platform client that every platform shares. A
// platform's Client embeds it (as a value) and sets it up with Setup; its
// methods are safe for concurrent use after that.
type Core struct {
	cfg         Config
	baseURL     *url.URL
	httpClient  *http.Client
	timeout     time.Duration // of the whole call, taken from the HTTP client (see Setup)
	logger      *zap.Logger
	userAgent   string
	concurrency int
}

func (c *Core) apiCore() *Core { return c }

// Embedder is a platform client that embeds a Core. Only types embedding a
// Core implement it.
type Embedder interface{ apiCore() *Core }

// Option configures a client C embedding a Core. Options run in order after
// the defaults are set; an option that returns an error makes the client's
// New fail.
type Option[C Embedder] func(C) error

// Setup sets c's core to cfg's defaults, applies opts in order and then
// the rules every client follows: without an HTTP client of the caller's,
// one of its own with cfg.Timeout and NewTransport(concurrency); redirects
// only to the same origin; a logger named with the platform. The error of
// an option is returned as it is (the platform's New wraps it).
func Setup[C Embedder](c C, cfg Config, opts []Option[C]) error {
	core := c.apiCore()
	*core = Core{cfg: cfg, logger: zap.NewNop(), userAgent: cfg.UserAgent, concurrency: DefaultConcurrency}
	if cfg.BaseURL != "" {
		base, err := apiurl.Parse(cfg.BaseURL)
		if err != nil {
			return fmt.Errorf("%w: default base URL %v", cfg.ErrInvalidOption, err)
		}
		core.baseURL = base
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(c); err != nil {
			return err
		}
	}
	if core.baseURL == nil {
		return fmt.Errorf("%w: no base URL", cfg.ErrInvalidOption)
	}
	if core.httpClient == nil {
		core.httpClient = NewHTTPClient(cfg.Timeout, core.concurrency)
	}
	// Credentials go to the configured host only.
	core.httpClient = httpcall.SameOriginRedirects(core.httpClient)
	// The whole call's timeout is applied by Do as a deadline of the
	// request's context, not by the HTTP client (this is a copy): a client
	// with a Timeout and a transport net/http does not know (the breaker's,
	// the metrics', the tracing's wrappers) runs two goroutines and a timer
	// per call to enforce it. Do reads the body before it returns, so the
	// deadline bounds the same thing: dialing, the answer and its body.
	core.timeout, core.httpClient.Timeout = core.httpClient.Timeout, 0
	core.logger = core.logger.With(zap.String("platform", cfg.Platform))
	return nil
}

// WithBaseURL sets the scheme and host (and optional path prefix) requests
// go to; tests point it at an httptest server. The URL must be absolute
// http(s) without user info, query or fragment.
func WithBaseURL[C Embedder](u string) Option[C] {
	return func(c C) error {
		core := c.apiCore()
		parsed, err := apiurl.Parse(u)
		if err != nil {
			return fmt.Errorf("%w: base URL %v", core.cfg.ErrInvalidOption, err)
		}
		core.baseURL = parsed
		return nil
	}
}

// WithHTTPClient sets the HTTP client; a nil client is an error. Default:
// one with the platform's timeout and a transport of its own (NewTransport).
// Whatever the client, a redirect to another origin is refused, so the
// credentials reach the configured host only (httpcall.SameOriginRedirects).
func WithHTTPClient[C Embedder](h *http.Client) Option[C] {
	return func(c C) error {
		core := c.apiCore()
		if h == nil {
			return fmt.Errorf("%w: nil HTTP client", core.cfg.ErrInvalidOption)
		}
		core.httpClient = h
		return nil
	}
}

// WithLogger sets the logger; default zap.NewNop(). A nil logger keeps the
// default. The client adds the field platform=<platform> and never logs
// credentials.
func WithLogger[C Embedder](l *zap.Logger) Option[C] {
	return func(c C) error {
		if l != nil {
			c.apiCore().logger = l
		}
		return nil
	}
}

// WithUserAgent sets the User-Agent header; blank is an error.
func WithUserAgent[C Embedder](s string) Option[C] {
	return func(c C) error {
		core := c.apiCore()
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("%w: empty user agent", core.cfg.ErrInvalidOption)
		}
		core.userAgent = s
		return nil
	}
}

// WithConcurrency sets how many calls the client makes at once at most
// (workers.concurrency), so that its default transport keeps that many idle
// connections to the API host; default DefaultConcurrency. It has no effect
// on an HTTP client given with WithHTTPClient. Less than 1 is an error.
func WithConcurrency[C Embedder](n int) Option[C] {
	return func(c C) error {
		core := c.apiCore()
		if n < 1 {
			return fmt.Errorf("%w: concurrency %d is less than 1", core.cfg.ErrInvalidOption, n)
		}
		core.concurrency = n
		return nil
	}
}

// Logger is the client's logger, with the platform field.
func (c *Core) Logger() *zap.Logger { return c.logger }

// BaseURL is a copy of the base URL.
func (c *Core) BaseURL() *url.URL { u := *c.baseURL; return &u }

// NewRequest builds a request of method to path (joined to the base URL;
// it may hold several segments) with query, Accept application/json, the
// user agent and the platform's credentials (Config.Authorize). A non-nil
// body is sent as JSON and can be re-sent (GetBody is set).
func (c *Core) NewRequest(ctx context.Context, method, path string, query url.Values, body any) (*http.Request, error) {
	u := c.baseURL.JoinPath(path)
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	req, err := httpcall.NewJSONRequest(ctx, method, u.String(), body, c.userAgent)
	if err != nil {
		return nil, err
	}
	if c.cfg.Authorize != nil {
		c.cfg.Authorize(req)
	}
	return req, nil
}

// Do sends req, checks the answer (CheckResponse) and decodes a successful
// body into v (nil v: the body is not read, unless Config.CheckBody wants
// it). It returns the response (its body closed) whenever one came, also
// with an API error, so that callers can read its headers; a transport
// failure returns a nil response and the error as http.Client gives it.
// The whole call, body included, is bounded by the HTTP client's Timeout
// (see Setup) and by req's context.
func (c *Core) Do(req *http.Request, v any) (*http.Response, error) {
	start := time.Now()
	if c.timeout > 0 {
		ctx, cancel := context.WithTimeout(req.Context(), c.timeout)
		defer cancel()
		req = req.WithContext(ctx)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer httpcall.Close(resp)
	if ce := c.logger.Check(zap.DebugLevel, c.cfg.Platform+" call"); ce != nil {
		ce.Write(zap.String("method", req.Method), zap.String("path", req.URL.Path),
			zap.Int("status", resp.StatusCode), zap.Duration("took", time.Since(start)))
	}
	if err := c.CheckResponse(resp); err != nil {
		return resp, err
	}
	if v == nil && c.cfg.CheckBody == nil {
		return resp, nil
	}
	body, err := httpcall.ReadBody(resp)
	if err != nil {
		return resp, err
	}
	if c.cfg.CheckBody != nil {
		if err := c.cfg.CheckBody(resp, body); err != nil {
			return resp, err
		}
	}
	return resp, httpcall.Decode(body, v)
}

// CheckResponse returns nil for a successful answer (Config.Success) and
// otherwise the platform's error (Config.DecodeError) built from an
// *ErrorResponse: the status, the endpoint, the Retry-After hint and at
// most httpcall.MaxErrorBody bytes of the body.
func (c *Core) CheckResponse(resp *http.Response) error {
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if c.cfg.Success != nil {
		ok = c.cfg.Success(resp.StatusCode)
	}
	if ok {
		return nil
	}
	er := NewErrorResponse(resp)
	if c.cfg.DecodeError == nil {
		return er
	}
	return c.cfg.DecodeError(er)
}
