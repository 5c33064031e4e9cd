// Package livechatv2 is a client of LiveChat's legacy REST API v2, for
// accounts and reports that still rely on it. Only the archive listing is
// covered: GET /chats with every filter, pages of 25 from page 1, as an
// iterator.
//
// Deprecated: LiveChat marked API v2 deprecated on 2023-03-01 and hid its
// documentation; deprecated versions are decommissioned within months, so
// the API may stop answering at any time. Use the Agent Chat Web API v3.6
// (package livechat: ListChats, ListArchives) instead. The client logs the
// `Deprecation` header when the API sends one.
//
// Authentication is the current one: a personal access token as HTTP Basic
// (`email:PAT`, or `account_id:PAT`) or an OAuth access token as Bearer. The
// retired `login:api_key` Basic scheme is not supported.
//
// Errors are *livechat.APIError (with an empty Type and the HTTP status), so
// livechat.IsRetryable and livechat.RetryAfter classify them. The client
// never retries on its own.
package livechatv2

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/internal/apiurl"
	"github.com/chatwarden/chatwarden/internal/httpcall"
	"github.com/chatwarden/chatwarden/livechat"
)

// Defaults and limits.
const (
	// DefaultBaseURL is the API host; requests go to {base}/chats.
	DefaultBaseURL = "https://api.livechatinc.com"
	// APIVersion is sent as X-API-Version.
	APIVersion = "2"
	// PageSize is how many chats a page holds.
	PageSize = 25
	// MaxPages is how deep the API pages: only the latest 25,000 chats are
	// reachable; narrow the dates to reach older ones.
	MaxPages = 1000
	// DefaultTimeout is the timeout of the default HTTP client.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent is sent unless WithUserAgent says otherwise.
	DefaultUserAgent = "chatwarden-livechat-v2"
)

const maxBody = 32 << 20

// Auth is the credentials of every request. Build it with Basic or Bearer;
// it never prints its token.
type Auth struct {
	username string
	token    string
}

// Basic authenticates with a personal access token as HTTP Basic:
// username is the email (or the account id) of the token's account.
func Basic(username, pat string) Auth { return Auth{username: username, token: pat} }

// Bearer authenticates with an OAuth access token.
func Bearer(token string) Auth { return Auth{token: token} }

// IsZero reports whether a has no token.
func (a Auth) IsZero() bool { return a.token == "" }

func (a Auth) header() string {
	if a.username != "" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.username+":"+a.token))
	}
	return "Bearer " + a.token
}

// String describes the credentials without the token.
func (a Auth) String() string {
	if a.username != "" {
		return "livechat v2 basic credentials of " + a.username
	}
	return "livechat v2 bearer token"
}

// GoString is String.
func (a Auth) GoString() string { return a.String() }

// Client calls API v2. Create it with New; it is safe for concurrent use.
type Client struct {
	auth       Auth
	baseURL    *url.URL
	httpClient *http.Client
	logger     *zap.Logger
	userAgent  string
	warnOnce   sync.Once
}

// Option configures a Client.
type Option func(*Client) error

// WithBaseURL sets the API host; default DefaultBaseURL.
func WithBaseURL(u string) Option {
	return func(c *Client) error {
		p, err := apiurl.Parse(u)
		if err != nil {
			return fmt.Errorf("%w: base URL %v", livechat.ErrInvalidOption, err)
		}
		c.baseURL = p
		return nil
	}
}

// WithHTTPClient sets the HTTP client; default one with DefaultTimeout.
// Whatever the client, a redirect to another host is refused, so the
// credentials reach the configured host only (see
// httpcall.SameOriginRedirects).
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) error {
		if h == nil {
			return fmt.Errorf("%w: nil HTTP client", livechat.ErrInvalidOption)
		}
		c.httpClient = h
		return nil
	}
}

// WithLogger sets the logger; default zap.NewNop().
func WithLogger(l *zap.Logger) Option {
	return func(c *Client) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}

// WithUserAgent sets the User-Agent; default DefaultUserAgent.
func WithUserAgent(s string) Option {
	return func(c *Client) error {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("%w: empty user agent", livechat.ErrInvalidOption)
		}
		c.userAgent = s
		return nil
	}
}

// New returns a client; it fails with livechat.ErrMissingAuth without a
// token.
func New(auth Auth, opts ...Option) (*Client, error) {
	if auth.IsZero() {
		return nil, livechat.ErrMissingAuth
	}
	base, _ := url.Parse(DefaultBaseURL)
	c := &Client{auth: auth, baseURL: base, httpClient: &http.Client{Timeout: DefaultTimeout}, logger: zap.NewNop(),
		userAgent: DefaultUserAgent}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, fmt.Errorf("livechat v2: new client: %w", err)
		}
	}
	// Credentials go to the configured host only.
	c.httpClient = httpcall.SameOriginRedirects(c.httpClient)
	c.logger = c.logger.With(zap.String("platform", "livechat"), zap.String("api_version", APIVersion))
	return c, nil
}

// get sends GET {base}/{path}?query and decodes a 200 answer into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	u := c.baseURL.JoinPath(path)
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", c.auth.header())
	req.Header.Set("X-API-Version", APIVersion)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if d := resp.Header.Get("Deprecation"); d != "" {
		c.warnOnce.Do(func() {
			c.logger.Warn("LiveChat REST API v2 is deprecated and will be decommissioned; move to the Agent Chat Web API v3.6",
				zap.String("deprecation", d), zap.String("sunset", resp.Header.Get("Sunset")))
		})
	}
	if resp.StatusCode != http.StatusOK {
		return apiError(resp, "GET /"+path)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("reading response: %w", err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("response larger than %d bytes", maxBody)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding response: %w", err)
	}
	return nil
}

// apiError turns a non-200 answer into a *livechat.APIError: the v2 error
// bodies ({"error": "..."} or {"errors": ["..."]}) carry no type, so
// classification goes by status.
func apiError(resp *http.Response, endpoint string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, livechat.MaxErrorBody))
	e := &livechat.APIError{StatusCode: resp.StatusCode, Action: endpoint}
	if v := resp.Header.Get("Retry-After"); v != "" {
		var secs int
		if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs > 0 && secs < 3600 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	var env struct {
		Error  json.RawMessage `json:"error"`
		Errors []string        `json:"errors"`
	}
	if json.Unmarshal(body, &env) == nil {
		var s string
		var obj struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(env.Error, &s) == nil && s != "":
			e.Message = s
		case json.Unmarshal(env.Error, &obj) == nil && (obj.Type != "" || obj.Message != ""):
			e.Type, e.Message = obj.Type, obj.Message
		case len(env.Errors) > 0:
			e.Message = strings.Join(env.Errors, "; ")
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(strings.ToValidUTF8(string(body), ""))
		if len(e.Message) > 300 {
			e.Message = e.Message[:300]
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}
