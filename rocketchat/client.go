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
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/internal/apiclient"
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
	apiclient.Core
	auth    Auth
	maxWait time.Duration
	now     func() time.Time

	mu    sync.Mutex
	until map[string]time.Time // route → calls held until
}

// Option configures a Client.
type Option = apiclient.Option[*Client]

// New returns a client of the workspace at serverURL (e.g.
// "https://chat.example.com", with an optional path prefix) acting as auth.
// It fails with ErrMissingCredentials when auth is incomplete and with an
// error wrapping ErrInvalidOption for a bad URL or option.
//
// Defaults: an HTTP client with DefaultTimeout and a transport of its own
// (apiclient.NewTransport), zap.NewNop(), user agent DefaultUserAgent,
// DefaultMaxRateLimitWait.
func New(serverURL string, auth Auth, opts ...Option) (*Client, error) {
	if auth.IsZero() {
		return nil, ErrMissingCredentials
	}
	if _, err := apiurl.Parse(serverURL); err != nil {
		return nil, fmt.Errorf("rocketchat: new client: %w: server URL %v", ErrInvalidOption, err)
	}
	c := &Client{auth: auth, maxWait: DefaultMaxRateLimitWait, now: time.Now, until: make(map[string]time.Time)}
	err := apiclient.Setup(c, apiclient.Config{
		Platform: "rocketchat", BaseURL: serverURL, UserAgent: DefaultUserAgent, Timeout: DefaultTimeout,
		ErrInvalidOption: ErrInvalidOption, Authorize: c.authorize,
		Success:     func(status int) bool { return status == http.StatusOK },
		DecodeError: c.decodeErrorResponse, CheckBody: checkSuccess,
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("rocketchat: new client: %w", err)
	}
	return c, nil
}

// The options every platform client shares (see internal/apiclient for
// each one's rules):
//   - WithHTTPClient sets the HTTP client; default one with DefaultTimeout
//     and a transport of its own (apiclient.NewTransport). Whatever the
//     client, a redirect to another host is refused, so the credentials
//     reach the configured host only.
//   - WithLogger sets the logger; default zap.NewNop(), nil keeps it. The
//     client adds platform=rocketchat and never logs credentials.
//   - WithUserAgent sets the User-Agent; default DefaultUserAgent.
//   - WithConcurrency sets how many calls run at once at most
//     (workers.concurrency; default 32): the idle connections the default
//     transport keeps to the API host, and the most it opens.
var WithHTTPClient, WithLogger, WithUserAgent, WithConcurrency = apiclient.WithHTTPClient[*Client], apiclient.WithLogger[*Client], apiclient.WithUserAgent[*Client], apiclient.WithConcurrency[*Client]

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
	if dl, ok := ctx.Deadline(); d > c.maxWait || ok && dl.Before(until) {
		return &apiclient.RateLimitError{Sentinel: ErrRateLimited, Wait: d, Message: fmt.Sprintf(
			"rocketchat: rate limit of %s exhausted; it resets in %s", route, d.Round(time.Millisecond))}
	}
	c.Logger().Debug("waiting for the rate limit to reset", zap.String("route", route), zap.Duration("wait", d))
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
	wait := resetWait(h, now)
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

// resetWait is the time until a route may be called again after an answer
// with headers h: the longer of Retry-After and X-RateLimit-Reset (plus
// resetMargin); 0 when neither says.
func resetWait(h http.Header, now time.Time) time.Duration {
	reset := parseReset(h.Get("X-RateLimit-Reset"), now)
	wait := httpcall.RetryAfter(h.Get("Retry-After"), now)
	if reset.After(now) && reset.Sub(now)+resetMargin > wait {
		wait = reset.Sub(now) + resetMargin
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

// authorize adds the personal access token to a request.
func (c *Client) authorize(req *http.Request) {
	req.Header.Set("X-Auth-Token", c.auth.Token)
	req.Header.Set("X-User-Id", c.auth.UserID)
}

// decodeErrorResponse is the *APIError of an answer other than 200. A 429
// (or an error-too-many-requests) carries the time until the route's reset
// as RetryAfter.
func (c *Client) decodeErrorResponse(er *apiclient.ErrorResponse) error {
	apiErr := decodeError(er.StatusCode, er.Body)
	apiErr.Endpoint = er.Endpoint
	apiErr.RetryAfter = er.RetryAfter
	if er.StatusCode == http.StatusTooManyRequests || apiErr.Type == TypeTooManyRequests {
		apiErr.RetryAfter = resetWait(er.Response.Header, c.now())
	}
	return apiErr
}

// checkSuccess finds the failures Rocket.Chat answers with a 200:
// {"success": false, "error": ...}.
func checkSuccess(resp *http.Response, body []byte) error {
	var head struct {
		Success *bool `json:"success"`
	}
	if json.Unmarshal(body, &head) == nil && head.Success != nil && !*head.Success {
		apiErr := decodeError(resp.StatusCode, body)
		apiErr.Endpoint = resp.Request.Method + " " + resp.Request.URL.Path
		return apiErr
	}
	return nil
}

// bracketType finds the Meteor error code Rocket.Chat appends to messages:
// "Error, too many requests. [error-too-many-requests]".
var bracketType = regexp.MustCompile(`\[([A-Za-z0-9_.-]+)\]\s*$`)

// decodeError builds an *APIError from the body shapes Rocket.Chat uses:
// {"success":false,"error":"...","errorType":"..."} and
// {"status":"error","message":"..."} (401).
func decodeError(status int, body []byte) *APIError {
	apiErr := &APIError{StatusCode: status}
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
	req, err := c.NewRequest(ctx, method, APIPrefix+path, query, in)
	if err != nil {
		return wrapErr(op, target, err)
	}
	resp, err := c.Do(req, out)
	if resp != nil {
		c.noteRateLimit(route, resp.Header, resp.StatusCode)
	}
	return wrapErr(op, target, err)
}

// wrapErr adds the call's context ("close_room room X") to an error while keeping it
// reachable with errors.Is/As.
func wrapErr(op, target string, err error) error {
	return httpcall.WrapOp("rocketchat", op, target, err)
}
