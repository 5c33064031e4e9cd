// Package livechat is a thin client of the LiveChat Agent Chat Web API v3.6
// (https://platform.text.com/docs/messaging/agent-chat-api).
//
// Every call is `POST {baseURL}/v3.6/agent/action/<action>` with a JSON body.
// The client:
//   - authenticates with a personal access token (Basic) or an OAuth/bot token
//     (Bearer), see Auth;
//   - sends `X-Region: fra` for "fra:" tokens and, when the API answers
//     misdirected_request naming another region, repeats that one request once
//     with that region and uses it for every later call;
//   - turns every non-200 answer into an *APIError (see errors.go), and wraps
//     every error with the action and the chat it concerns;
//   - logs a warning once per header value when the API marks the version
//     legacy or deprecated (`Legacy` / `Deprecation` headers);
//   - paces its requests with a Limiter, by default its own AdaptiveLimiter,
//     which slows down on too_many_requests and recovers gradually (see
//     WithRateLimiter);
//   - never retries on its own otherwise: callers decide with IsRetryable and
//     RetryAfter.
//
// A Client is safe for concurrent use.
package livechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/internal/apiclient"
	"github.com/chatwarden/chatwarden/internal/httpcall"
)

// Defaults.
const (
	// DefaultBaseURL is the API host used unless WithBaseURL says otherwise.
	DefaultBaseURL = "https://api.livechatinc.com"
	// APIVersion is the Agent Chat Web API version in every request path.
	APIVersion = "3.6"
	// DefaultTimeout is the timeout of the default HTTP client. It is longer
	// than the API's own 15 s request_timeout threshold.
	DefaultTimeout = 20 * time.Second
	// DefaultUserAgent is sent unless WithUserAgent says otherwise.
	DefaultUserAgent = "chatwarden-livechat/" + APIVersion
)

// maxLifecycleValues caps how many distinct Legacy/Deprecation values a
// client remembers (and warns about).
const maxLifecycleValues = 32

// Client calls the Agent Chat Web API. Create it with New.
type Client struct {
	apiclient.Core
	auth    Auth
	limiter Limiter // nil: no pacing

	mu     sync.RWMutex
	region string // X-Region sent with each request; "" sends none

	warnMu sync.Mutex
	warned map[string]struct{} // "Legacy=2026-01-01" → already logged
}

// Option configures a Client. Options run in order after the defaults are
// set; an option that returns an error makes New fail.
type Option = apiclient.Option[*Client]

// New returns a client that authenticates with auth. It fails with
// ErrMissingAuth when auth has no token, and with an error wrapping
// ErrInvalidOption when an option's argument is invalid.
//
// Defaults: base URL DefaultBaseURL, an HTTP client with DefaultTimeout and
// a transport of its own (apiclient.NewTransport), zap.NewNop(), user agent
// DefaultUserAgent, region auth.Region(), and a
// NewAdaptiveLimiter(AdaptiveConfig{}) of its own.
func New(auth Auth, opts ...Option) (*Client, error) {
	if auth.IsZero() {
		return nil, ErrMissingAuth
	}
	c := &Client{
		auth:    auth,
		region:  auth.Region(),
		warned:  make(map[string]struct{}),
		limiter: NewAdaptiveLimiter(AdaptiveConfig{}),
	}
	err := apiclient.Setup(c, apiclient.Config{
		Platform: "livechat", BaseURL: DefaultBaseURL, UserAgent: DefaultUserAgent, Timeout: DefaultTimeout,
		ErrInvalidOption: ErrInvalidOption, Authorize: c.authorize,
		Success:     func(status int) bool { return status == http.StatusOK },
		DecodeError: decodeError,
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("livechat: new client: %w", err)
	}
	return c, nil
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
//     client adds platform=livechat and never logs credentials.
//   - WithUserAgent sets the User-Agent; default DefaultUserAgent.
//   - WithConcurrency sets how many calls run at once at most
//     (workers.concurrency; default 32): the idle connections the default
//     transport keeps to the API host, and the most it opens.
var WithBaseURL, WithHTTPClient, WithLogger, WithUserAgent, WithConcurrency = apiclient.WithBaseURL[*Client], apiclient.WithHTTPClient[*Client], apiclient.WithLogger[*Client], apiclient.WithUserAgent[*Client], apiclient.WithConcurrency[*Client]

// WithRegion sets the X-Region sent with every request ("fra", "dal"),
// overriding the one derived from the token. Useful for PATs of EU accounts.
// The empty string sends no X-Region.
func WithRegion(region string) Option {
	return func(c *Client) error {
		c.region = region
		return nil
	}
}

// WithRateLimiter sets the limiter that paces the client's requests; nil
// turns pacing off. Default: an AdaptiveLimiter of its own, without a
// ceiling. Give several clients one limiter to share a budget.
func WithRateLimiter(l Limiter) Option {
	return func(c *Client) error {
		c.limiter = l
		return nil
	}
}

// RateLimiter returns the client's limiter (nil when pacing is off).
func (c *Client) RateLimiter() Limiter { return c.limiter }

// Region returns the X-Region the client currently sends ("" for none). It
// changes when the API answers misdirected_request with another region.
func (c *Client) Region() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.region
}

func (c *Client) setRegion(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.region = r
}

// authorize adds the credentials and the region to a request.
func (c *Client) authorize(req *http.Request) {
	req.Header.Set("Authorization", c.auth.header())
	if r := c.Region(); r != "" {
		req.Header.Set("X-Region", r)
	}
}

// newRequest builds the POST of action of api ("agent", "configuration")
// with body encoded as JSON (nil sends "{}"). The request can be re-sent:
// GetBody is set.
func (c *Client) newRequest(ctx context.Context, api, action string, body any) (*http.Request, error) {
	if body == nil {
		body = json.RawMessage("{}")
	}
	return c.NewRequest(ctx, http.MethodPost, "v"+APIVersion+"/"+api+"/action/"+action, nil, body)
}

// do sends req (Core.Do) and warns about the API's lifecycle headers.
func (c *Client) do(req *http.Request, v any) error {
	resp, err := c.Do(req, v)
	if resp != nil {
		c.checkLifecycle(resp.Header)
	}
	return err
}

// decodeError is the *APIError of a failed answer, decoded from the
// envelope {"error":{"type","message","data"}}. A body that is not the
// envelope gives an empty Type and the trimmed body text as Message.
func decodeError(er *apiclient.ErrorResponse) error {
	apiErr := &APIError{StatusCode: er.StatusCode, RetryAfter: er.RetryAfter}
	if r := er.Response.Request; r != nil && r.URL != nil {
		apiErr.Action = path.Base(r.URL.Path)
	}
	var env struct {
		Error *struct {
			Type    string          `json:"type"`
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal(er.Body, &env) == nil && env.Error != nil && (env.Error.Type != "" || env.Error.Message != "") {
		apiErr.Type = env.Error.Type
		apiErr.Message = env.Error.Message
		if d := bytes.TrimSpace(env.Error.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
			apiErr.Data = d
		}
		return apiErr
	}
	apiErr.Message = er.Text()
	return apiErr
}

// checkLifecycle logs a warning the first time the client sees a value of
// the Legacy or Deprecation header.
func (c *Client) checkLifecycle(h http.Header) {
	for _, name := range [...]string{"Legacy", "Deprecation"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		key := name + "=" + v
		c.warnMu.Lock()
		_, seen := c.warned[key]
		full := len(c.warned) >= maxLifecycleValues
		if !seen && !full {
			c.warned[key] = struct{}{}
		}
		c.warnMu.Unlock()
		if seen || full {
			continue
		}
		var msg string
		if name == "Legacy" {
			msg = "LiveChat Agent Chat Web API v" + APIVersion + " is legacy; its legacy stage ends on " + v +
				", after which it is deprecated: move to a newer API version"
		} else {
			msg = "LiveChat Agent Chat Web API v" + APIVersion + " is deprecated; its deprecation stage ends on " + v +
				", after which it is decommissioned: move to a newer API version now"
		}
		c.Logger().Warn(msg, zap.String("header", name), zap.String("ends", v),
			zap.String("api_version", APIVersion))
	}
}

// call runs one action of the Agent Chat API, paced by the limiter (see
// exchange).
func (c *Client) call(ctx context.Context, action, target string, in, out any) error {
	return c.exchange(ctx, "agent", action, target, in, out, c.send)
}

// exchange runs one action of api: builds the request, sends it with send,
// and on a misdirected_request naming another region repeats it once with
// that region, which the client then keeps. Errors are wrapped with the
// action and target ("chat X").
func (c *Client) exchange(ctx context.Context, api, action, target string, in, out any,
	send func(*http.Request, any) error) error {
	req, err := c.newRequest(ctx, api, action, in)
	if err != nil {
		return wrapErr(action, target, err)
	}
	err = send(req, out)
	if apiErr, ok := errors.AsType[*APIError](err); ok && apiErr.Type == TypeMisdirectedRequest {
		if region := apiErr.Region(); region != "" && region != req.Header.Get("X-Region") {
			c.setRegion(region)
			c.Logger().Info("livechat API answered misdirected_request; switching region",
				zap.String("action", action), zap.String("from", req.Header.Get("X-Region")),
				zap.String("region", region))
			retry, rerr := retryRequest(req, region)
			if rerr != nil {
				return wrapErr(action, target, rerr)
			}
			err = send(retry, out)
		}
	}
	return wrapErr(action, target, err)
}

// send is do, paced by the client's limiter.
func (c *Client) send(req *http.Request, out any) error {
	if c.limiter == nil {
		return c.do(req, out)
	}
	done, err := c.limiter.Acquire(req.Context())
	if err != nil {
		return err
	}
	err = c.do(req, out)
	done(err)
	return err
}

// retryRequest is a copy of req with a fresh body and X-Region set.
func retryRequest(req *http.Request, region string) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	r.Header.Set("X-Region", region)
	return r, nil
}

// wrapErr adds the call's context ("update_chat_properties chat X") to an
// error while keeping it reachable with errors.Is/As.
func wrapErr(action, target string, err error) error {
	return httpcall.WrapOp("livechat", action, target, err)
}
