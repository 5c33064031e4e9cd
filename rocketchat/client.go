// Package rocketchat is a small client of the Rocket.Chat Omnichannel REST
// API (https://developer.rocket.chat/apidocs) and the decoder of the
// Omnichannel webhook (see webhook.go).
//
// The client:
//   - authenticates every call with the X-Auth-Token and X-User-Id headers of
//     a personal access token (Auth); it never logs them;
//   - treats any answer but 200, and a 200 whose body says "success": false,
//     as an *APIError (see errors.go), and wraps every error with the
//     operation and the room it concerns;
//   - honours the REST rate limiter: it reads X-RateLimit-Remaining and
//     X-RateLimit-Reset per route, and once a route has 0 calls left it holds
//     further calls of that route until the reset (up to
//     WithMaxRateLimitWait, default 10 s; beyond that, or past ctx's deadline,
//     the call fails at once with ErrRateLimited and its RetryAfter). A 429
//     carries the time until the reset as RetryAfter. Run the integration as
//     a user with the bot role (permission api-bypass-rate-limit) to avoid
//     the limiter altogether;
//   - never retries on its own otherwise: callers decide with IsRetryable and
//     RetryAfter.
//
// A Client is safe for concurrent use; share one per workspace so the rate
// limit state is shared.
package rocketchat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/internal/apiurl"
	"github.com/chatwarden/chatwarden/internal/httpcall"
	"go.uber.org/zap/zapcore"
)

// Defaults.
const (
	// APIPrefix is the path of the REST API under the workspace URL.
	APIPrefix = "/api/v1/"
	// DefaultTimeout is the timeout of the default HTTP client.
	DefaultTimeout = 20 * time.Second
	// DefaultUserAgent is sent unless WithUserAgent says otherwise.
	DefaultUserAgent = "chatwarden-rocketchat/1"
	// DefaultMaxRateLimitWait is how long a call waits at most for a route's
	// rate-limit reset before failing with ErrRateLimited.
	DefaultMaxRateLimitWait = 10 * time.Second
	// MaxPageSize is the default upper limit of a page (the workspace setting
	// API_Upper_Count_Limit, 100 unless changed) and the size the iterators
	// use unless told otherwise.
	MaxPageSize = 100
)

// Auth is a personal access token: the user's id and the token. Create one
// under My Account → Personal Access Tokens; it does not expire until revoked.
// Auth never prints or logs the token.
type Auth struct {
	UserID string
	Token  string
}

// IsZero reports whether a lacks the user id or the token.
func (a Auth) IsZero() bool { return a.UserID == "" || a.Token == "" }

// String describes the credentials without the token.
func (a Auth) String() string { return "rocketchat token of user " + a.UserID }

// GoString is String, so %#v does not print the token either.
func (a Auth) GoString() string { return a.String() }

// MarshalLogObject logs the user id only.
func (a Auth) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("user_id", a.UserID)
	return nil
}

// Client calls the Rocket.Chat REST API. Create it with New.
type Client struct {
	auth       Auth
	baseURL    *url.URL
	httpClient *http.Client
	logger     *zap.Logger
	userAgent  string
	maxWait    time.Duration
	now        func() time.Time

	mu    sync.Mutex
	until map[string]time.Time // route → calls held until
}

// Option configures a Client.
type Option func(*Client) error

// New returns a client of the workspace at serverURL (e.g.
// "https://chat.example.com", with an optional path prefix) acting as auth.
// It fails with ErrMissingCredentials when auth is incomplete and with an
// error wrapping ErrInvalidOption for a bad URL or option.
//
// Defaults: &http.Client{Timeout: DefaultTimeout}, zap.NewNop(), user agent
// DefaultUserAgent, DefaultMaxRateLimitWait.
func New(serverURL string, auth Auth, opts ...Option) (*Client, error) {
	if auth.IsZero() {
		return nil, ErrMissingCredentials
	}
	base, err := parseBaseURL(serverURL)
	if err != nil {
		return nil, fmt.Errorf("rocketchat: new client: %w", err)
	}
	c := &Client{
		auth:       auth,
		baseURL:    base,
		httpClient: &http.Client{Timeout: DefaultTimeout},
		logger:     zap.NewNop(),
		userAgent:  DefaultUserAgent,
		maxWait:    DefaultMaxRateLimitWait,
		now:        time.Now,
		until:      make(map[string]time.Time),
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(c); err != nil {
			return nil, fmt.Errorf("rocketchat: new client: %w", err)
		}
	}
	// Credentials go to the configured host only.
	c.httpClient = httpcall.SameOriginRedirects(c.httpClient)
	c.logger = c.logger.With(zap.String("platform", "rocketchat"))
	return c, nil
}

func parseBaseURL(u string) (*url.URL, error) {
	parsed, err := apiurl.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("%w: server URL %v", ErrInvalidOption, err)
	}
	return parsed, nil
}

// WithHTTPClient sets the HTTP client; default
// &http.Client{Timeout: DefaultTimeout}. A nil client is an error.
// Whatever the client, a redirect to another host is refused, so the
// credentials reach the configured host only (see
// httpcall.SameOriginRedirects).
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) error {
		if h == nil {
			return fmt.Errorf("%w: nil HTTP client", ErrInvalidOption)
		}
		c.httpClient = h
		return nil
	}
}

// WithLogger sets the logger; default zap.NewNop(). A nil logger keeps the
// default. The client adds platform=rocketchat.
func WithLogger(l *zap.Logger) Option {
	return func(c *Client) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}

// WithUserAgent sets the User-Agent header; default DefaultUserAgent.
func WithUserAgent(s string) Option {
	return func(c *Client) error {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("%w: empty user agent", ErrInvalidOption)
		}
		c.userAgent = s
		return nil
	}
}

// WithMaxRateLimitWait sets how long a call waits at most for its route's
// rate-limit reset; default DefaultMaxRateLimitWait. 0 never waits (the call
// fails with ErrRateLimited at once, for workers that would rather nak with
// a delay). Negative is an error.
func WithMaxRateLimitWait(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("%w: negative rate-limit wait", ErrInvalidOption)
		}
		c.maxWait = d
		return nil
	}
}

// routeKey names a route for rate limiting, as Rocket.Chat does: path and
// method.
func routeKey(method, path string) string { return method + " " + path }

// waitRoute holds the call while its route is exhausted.
func (c *Client) waitRoute(ctx context.Context, route string) error {
	c.mu.Lock()
	until, ok := c.until[route]
	c.mu.Unlock()
	if !ok {
		return ctx.Err()
	}
	d := until.Sub(c.now())
	if d <= 0 {
		c.mu.Lock()
		if c.until[route].Equal(until) {
			delete(c.until, route)
		}
		c.mu.Unlock()
		return ctx.Err()
	}
	if d > c.maxWait {
		return &limitError{route: route, wait: d}
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
		return &limitError{route: route, wait: d}
	}
	c.logger.Debug("waiting for the rate limit to reset", zap.String("route", route), zap.Duration("wait", d))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// resetMargin is added to X-RateLimit-Reset before calling again: the
// header has millisecond resolution and the server's clock is not ours.
const resetMargin = 50 * time.Millisecond

// noteRateLimit records the route's state from the answer's headers and
// returns the time until the reset (0 when unknown).
func (c *Client) noteRateLimit(route string, h http.Header, status int) time.Duration {
	now := c.now()
	reset := parseReset(h.Get("X-RateLimit-Reset"), now)
	retry := httpcall.RetryAfter(h.Get("Retry-After"), now)
	wait := retry
	if reset.After(now) && reset.Sub(now)+resetMargin > wait {
		wait = reset.Sub(now) + resetMargin
	}
	remaining, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	exhausted := status == http.StatusTooManyRequests || (err == nil && remaining <= 0)
	if exhausted && wait > 0 {
		c.mu.Lock()
		if until := now.Add(wait); until.After(c.until[route]) {
			c.until[route] = until
		}
		c.mu.Unlock()
	}
	return wait
}

// parseReset reads X-RateLimit-Reset. Rocket.Chat sends the reset as epoch
// milliseconds; epoch seconds and a number of seconds from now are accepted
// too. A past or unparsable value is the zero time.
func parseReset(v string, now time.Time) time.Time {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	var t time.Time
	switch {
	case n >= 1e12:
		t = time.UnixMilli(n)
	case n >= 1e9:
		t = time.Unix(n, 0)
	default:
		t = now.Add(time.Duration(n) * time.Second)
	}
	if !t.After(now) || t.Sub(now) > 24*time.Hour {
		return time.Time{}
	}
	return t
}

// newRequest builds a request to /api/v1/<path>.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body any) (*http.Request, error) {
	u := c.baseURL.JoinPath(APIPrefix, path)
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	req, err := httpcall.NewJSONRequest(ctx, method, u.String(), body, c.userAgent)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", c.auth.Token)
	req.Header.Set("X-User-Id", c.auth.UserID)
	return req, nil
}

// do sends req, records the rate-limit headers of route, and decodes a
// successful answer into v.
func (c *Client) do(req *http.Request, route string, v any) error {
	start := time.Now()
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return err
	}
	defer httpcall.Close(resp)
	wait := c.noteRateLimit(route, resp.Header, resp.StatusCode)
	if ce := c.logger.Check(zap.DebugLevel, "rocketchat call"); ce != nil {
		ce.Write(zap.String("route", route), zap.Int("status", resp.StatusCode),
			zap.Duration("took", time.Since(start)), zap.String("ratelimit_remaining", resp.Header.Get("X-RateLimit-Remaining")))
	}
	endpoint := req.Method + " " + req.URL.Path
	if resp.StatusCode != http.StatusOK {
		apiErr := decodeError(resp.StatusCode, io.LimitReader(resp.Body, MaxErrorBody))
		apiErr.Endpoint = endpoint
		if resp.StatusCode == http.StatusTooManyRequests || apiErr.Type == TypeTooManyRequests {
			apiErr.RetryAfter = wait
		} else {
			apiErr.RetryAfter = httpcall.RetryAfter(resp.Header.Get("Retry-After"), c.now())
		}
		return apiErr
	}
	body, err := httpcall.ReadBody(resp)
	if err != nil {
		return err
	}
	// A 200 can still be a failure: {"success": false, "error": ...}.
	var head struct {
		Success *bool `json:"success"`
	}
	if json.Unmarshal(body, &head) == nil && head.Success != nil && !*head.Success {
		apiErr := decodeError(resp.StatusCode, bytes.NewReader(body))
		apiErr.Endpoint = endpoint
		return apiErr
	}
	return httpcall.Decode(body, v)
}

// bracketType finds the Meteor error code Rocket.Chat appends to messages:
// "Error, too many requests. [error-too-many-requests]".
var bracketType = regexp.MustCompile(`\[([A-Za-z0-9_.-]+)\]\s*$`)

// decodeError builds an *APIError from the body shapes Rocket.Chat uses:
// {"success":false,"error":"...","errorType":"..."} and
// {"status":"error","message":"..."} (401).
func decodeError(status int, r io.Reader) *APIError {
	apiErr := &APIError{StatusCode: status}
	body, _ := io.ReadAll(r)
	var env struct {
		Error     json.RawMessage `json:"error"`
		ErrorType string          `json:"errorType"`
		Message   string          `json:"message"`
		Reason    string          `json:"reason"`
	}
	if json.Unmarshal(body, &env) != nil {
		apiErr.Message = httpcall.ErrorText(body, status)
		return apiErr
	}
	var msg string
	if json.Unmarshal(env.Error, &msg) != nil {
		msg = ""
	}
	switch {
	case env.ErrorType != "":
		apiErr.Type = env.ErrorType
	case msg != "":
		if m := bracketType.FindStringSubmatch(msg); m != nil {
			apiErr.Type = m[1]
		} else if !strings.ContainsAny(msg, " \t\n") {
			apiErr.Type = msg
		}
	}
	switch {
	case msg != "":
		apiErr.Message = msg
	case env.Message != "":
		apiErr.Message = env.Message
	case env.Reason != "":
		apiErr.Message = env.Reason
	default:
		apiErr.Message = http.StatusText(status)
	}
	return apiErr
}

// call waits for the route's rate limit, sends one request and wraps any
// error with op and target ("room X").
func (c *Client) call(ctx context.Context, op, target, method, path string, query url.Values, in, out any) error {
	route := routeKey(method, path)
	if err := c.waitRoute(ctx, route); err != nil {
		return wrapErr(op, target, err)
	}
	req, err := c.newRequest(ctx, method, path, query, in)
	if err != nil {
		return wrapErr(op, target, err)
	}
	return wrapErr(op, target, c.do(req, route, out))
}
