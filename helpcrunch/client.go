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
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/internal/apiclient"
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
	apiclient.Core
	apiKey  string
	limiter *rate.Limiter // nil: no client-side limit
}

// Option configures a Client. Options run in order after the defaults are
// set; an option that returns an error makes New fail.
type Option = apiclient.Option[*Client]

// New returns a client that authenticates with apiKey. It fails with
// ErrMissingAPIKey when apiKey is empty, and with an error wrapping
// ErrInvalidOption when an option's argument is invalid.
//
// Defaults: base URL DefaultBaseURL, an HTTP client with DefaultTimeout and
// a transport of its own (apiclient.NewTransport), zap.NewNop(), user agent
// DefaultUserAgent, DefaultRequestsPerMinute.
func New(apiKey string, opts ...Option) (*Client, error) {
	if strings.TrimSpace(apiKey) == "" {
		return nil, ErrMissingAPIKey
	}
	c := &Client{apiKey: apiKey, limiter: newLimiter(DefaultRequestsPerMinute)}
	err := apiclient.Setup(c, apiclient.Config{
		Platform: "helpcrunch", BaseURL: DefaultBaseURL, UserAgent: DefaultUserAgent, Timeout: DefaultTimeout,
		ErrInvalidOption: ErrInvalidOption, DecodeError: decodeError,
		Authorize: func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+c.apiKey) },
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("helpcrunch: new client: %w", err)
	}
	return c, nil
}

// newLimiter spaces requests evenly: one every minute/perMinute, with a burst
// of one, so no window of a minute sees more than perMinute requests (plus
// the one at its very edge).
func newLimiter(perMinute int) *rate.Limiter {
	return rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), 1)
}

// The options every platform client shares (see internal/apiclient for
// each one's rules):
//   - WithBaseURL sets the base URL (scheme, host, optional path prefix);
//     default DefaultBaseURL. Tests point it at a fake.
//   - WithHTTPClient sets the HTTP client; default one with DefaultTimeout
//     and a transport of its own (apiclient.NewTransport). Whatever the
//     client, a redirect to another host is refused, so the credentials
//     reach the configured host only.
//   - WithLogger sets the logger; default zap.NewNop(), nil keeps it. The
//     client adds platform=helpcrunch and never logs credentials.
//   - WithUserAgent sets the User-Agent; default DefaultUserAgent.
//   - WithConcurrency sets how many calls run at once at most
//     (workers.concurrency; default 32): the idle connections the default
//     transport keeps to the API host, and the most it opens.
var WithBaseURL, WithHTTPClient, WithLogger, WithUserAgent, WithConcurrency = apiclient.WithBaseURL[*Client], apiclient.WithHTTPClient[*Client], apiclient.WithLogger[*Client], apiclient.WithUserAgent[*Client], apiclient.WithConcurrency[*Client]

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
		return &apiclient.RateLimitError{Sentinel: ErrRateLimited, Wait: d, Message: fmt.Sprintf(
			"helpcrunch: client-side rate limit: the next request slot is %s away, past the context deadline",
			d.Round(time.Millisecond))}
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

// decodeError is the *APIError of a failed answer, decoded from
// {"errors":[{"code","message"}]}. A body that is not the envelope gives an
// empty Code and the trimmed body text as Message.
func decodeError(er *apiclient.ErrorResponse) error {
	apiErr := &APIError{StatusCode: er.StatusCode, RetryAfter: er.RetryAfter, Endpoint: er.Endpoint}
	var env struct {
		Errors []ErrorDetail `json:"errors"`
	}
	if json.Unmarshal(er.Body, &env) == nil && len(env.Errors) > 0 {
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
	apiErr.Message = er.Text()
	return apiErr
}

// call waits for the limiter, sends one request and wraps any error with op
// and target ("chat 542335").
func (c *Client) call(ctx context.Context, op, target, method, path string, query url.Values, in, out any) error {
	if err := c.wait(ctx); err != nil {
		return wrapErr(op, target, err)
	}
	req, err := c.NewRequest(ctx, method, APIVersion+"/"+path, query, in)
	if err != nil {
		return wrapErr(op, target, err)
	}
	_, err = c.Do(req, out)
	return wrapErr(op, target, err)
}

// wrapErr adds the call's context ("set_status chat 542335") to an error while keeping it
// reachable with errors.Is/As.
func wrapErr(op, target string, err error) error {
	return httpcall.WrapOp("helpcrunch", op, target, err)
}
