// Package helpcrunch is a small client of the HelpCrunch REST API v1
// (https://docs.helpcrunch.com/rest-api-v1/api-setup-v1) and the verifier of
// HelpCrunch webhooks (see webhook.go).
//
// The client:
//   - authenticates with `Authorization: Bearer <API key>` (Settings →
//     Developers → Public API; not the legacy key);
//   - waits on a client-side rate limiter before every request: 120 requests
//     a minute by default (the documented account limit), evenly spaced, see
//     WithRateLimit. Share one Client per HelpCrunch account so the limit
//     holds across goroutines;
//   - turns every non-2xx answer into an *APIError decoded from the
//     documented {"errors":[{"code","message"}]} envelope, and wraps every
//     error with the operation and the chat it concerns;
//   - never retries on its own: callers decide with IsRetryable and
//     RetryAfter.
//
// Chat ids are integers in HelpCrunch; ParseChatID converts the string ids of
// stored events.
//
// A Client is safe for concurrent use.
package helpcrunch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/internal/apiurl"
	"github.com/chatwarden/chatwarden/internal/httpcall"
	"golang.org/x/time/rate"
)

// Defaults.
const (
	// DefaultBaseURL is the API host used unless WithBaseURL says otherwise;
	// request paths start with /v1.
	DefaultBaseURL = "https://api.helpcrunch.com"
	// APIVersion is the first path segment of every request.
	APIVersion = "v1"
	// DefaultTimeout is the timeout of the default HTTP client.
	DefaultTimeout = 20 * time.Second
	// DefaultUserAgent is sent unless WithUserAgent says otherwise.
	DefaultUserAgent = "chatwarden-helpcrunch/" + APIVersion
	// DefaultRequestsPerMinute is the documented default limit of an account
	// (https://docs.helpcrunch.com/rest-api-v1/api-setup-v1); above it the
	// API answers 429.
	DefaultRequestsPerMinute = 120
	// MaxPageSize is the largest page the list and search calls accept (and
	// the size the iterators use unless told otherwise).
	MaxPageSize = 100
)

// Client calls the HelpCrunch REST API. Create it with New.
type Client struct {
	apiKey     string
	baseURL    *url.URL
	httpClient *http.Client
	logger     *zap.Logger
	userAgent  string
	limiter    *rate.Limiter // nil: no client-side limit
}

// Option configures a Client. Options run in order after the defaults are
// set; an option that returns an error makes New fail.
type Option func(*Client) error

// New returns a client that authenticates with apiKey. It fails with
// ErrMissingAPIKey when apiKey is empty, and with an error wrapping
// ErrInvalidOption when an option's argument is invalid.
//
// Defaults: base URL DefaultBaseURL, &http.Client{Timeout: DefaultTimeout},
// zap.NewNop(), user agent DefaultUserAgent, DefaultRequestsPerMinute.
func New(apiKey string, opts ...Option) (*Client, error) {
	if strings.TrimSpace(apiKey) == "" {
		return nil, ErrMissingAPIKey
	}
	base, _ := url.Parse(DefaultBaseURL)
	c := &Client{
		apiKey:     apiKey,
		baseURL:    base,
		httpClient: &http.Client{Timeout: DefaultTimeout},
		logger:     zap.NewNop(),
		userAgent:  DefaultUserAgent,
		limiter:    newLimiter(DefaultRequestsPerMinute),
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(c); err != nil {
			return nil, fmt.Errorf("helpcrunch: new client: %w", err)
		}
	}
	// Credentials go to the configured host only.
	c.httpClient = httpcall.SameOriginRedirects(c.httpClient)
	c.logger = c.logger.With(zap.String("platform", "helpcrunch"))
	return c, nil
}

// newLimiter spaces requests evenly: one every minute/perMinute, with a burst
// of one, so no window of a minute sees more than perMinute requests (plus
// the one at its very edge).
func newLimiter(perMinute int) *rate.Limiter {
	return rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), 1)
}

// WithBaseURL sets the scheme and host (and optional path prefix) requests
// go to; default DefaultBaseURL. Tests point it at a fake. The URL must be
// absolute http(s) without user info, query or fragment.
func WithBaseURL(u string) Option {
	return func(c *Client) error {
		parsed, err := apiurl.Parse(u)
		if err != nil {
			return fmt.Errorf("%w: base URL %v", ErrInvalidOption, err)
		}
		c.baseURL = parsed
		return nil
	}
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
// default. The client adds the field platform=helpcrunch and never logs the
// API key.
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

// WithRateLimit sets how many requests a minute the client sends at most,
// evenly spaced; default DefaultRequestsPerMinute. 0 turns the limiter off
// (tests, or an account with a raised limit behind another limiter); a
// negative value is an error. A call waits for its slot (respecting ctx); when
// the slot lies beyond ctx's deadline it fails at once with ErrRateLimited.
func WithRateLimit(perMinute int) Option {
	return func(c *Client) error {
		switch {
		case perMinute < 0:
			return fmt.Errorf("%w: negative rate limit %d", ErrInvalidOption, perMinute)
		case perMinute == 0:
			c.limiter = nil
		default:
			c.limiter = newLimiter(perMinute)
		}
		return nil
	}
}

// wait blocks until the limiter grants a request slot.
func (c *Client) wait(ctx context.Context) error {
	if c.limiter == nil {
		return ctx.Err()
	}
	r := c.limiter.Reserve()
	d := r.Delay()
	if d <= 0 {
		return ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.Cancel()
		return &limitError{wait: d}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}

// newRequest builds a request of method to /v1/<path> with query and body
// (encoded as JSON when non-nil).
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body any) (*http.Request, error) {
	u := c.baseURL.JoinPath(APIVersion, path)
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	req, err := httpcall.NewJSONRequest(ctx, method, u.String(), body, c.userAgent)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	return req, nil
}

// do sends req and decodes a 2xx answer into v (when v is non-nil and the
// body is not empty). Any other status is returned as an *APIError by
// checkResponse.
func (c *Client) do(req *http.Request, v any) error {
	start := time.Now()
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return err
	}
	defer httpcall.Close(resp)
	if ce := c.logger.Check(zap.DebugLevel, "helpcrunch call"); ce != nil {
		ce.Write(zap.String("method", req.Method), zap.String("path", req.URL.Path),
			zap.Int("status", resp.StatusCode), zap.Duration("took", time.Since(start)))
	}
	if err := checkResponse(resp); err != nil {
		return err
	}
	return httpcall.ReadJSON(resp, v)
}

// checkResponse returns nil for a 2xx answer and an *APIError otherwise,
// decoded from {"errors":[{"code","message"}]} read through a LimitReader of
// MaxErrorBody bytes. A body that is not the envelope gives an empty Code and
// the trimmed body text as Message.
func checkResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	apiErr := &APIError{
		StatusCode: resp.StatusCode,
		RetryAfter: httpcall.RetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	if resp.Request != nil && resp.Request.URL != nil {
		apiErr.Endpoint = resp.Request.Method + " " + resp.Request.URL.Path
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
	var env struct {
		Errors []ErrorDetail `json:"errors"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Errors) > 0 {
		apiErr.Errors = env.Errors
		main := env.Errors[0]
		for _, d := range env.Errors {
			if d.Code != "" && d.Code != CodeInvalidRequest {
				main = d
				break
			}
		}
		apiErr.Code, apiErr.Message = main.Code, main.Message
		return apiErr
	}
	apiErr.Message = httpcall.ErrorText(body, resp.StatusCode)
	return apiErr
}

// call waits for the limiter, sends one request and wraps any error with op
// and target ("chat 542335").
func (c *Client) call(ctx context.Context, op, target, method, path string, query url.Values, in, out any) error {
	if err := c.wait(ctx); err != nil {
		return wrapErr(op, target, err)
	}
	req, err := c.newRequest(ctx, method, path, query, in)
	if err != nil {
		return wrapErr(op, target, err)
	}
	return wrapErr(op, target, c.do(req, out))
}
