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
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/internal/apiclient"
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
	apiclient.Core
	auth     Auth
	warnOnce sync.Once
}

// Option configures a Client.
type Option = apiclient.Option[*Client]

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
var WithBaseURL, WithHTTPClient, WithLogger, WithUserAgent = apiclient.WithBaseURL[*Client], apiclient.WithHTTPClient[*Client], apiclient.WithLogger[*Client], apiclient.WithUserAgent[*Client]

// New returns a client; it fails with livechat.ErrMissingAuth without a
// token.
func New(auth Auth, opts ...Option) (*Client, error) {
	if auth.IsZero() {
		return nil, livechat.ErrMissingAuth
	}
	c := &Client{auth: auth}
	err := apiclient.Setup(c, apiclient.Config{
		Platform: "livechat", BaseURL: DefaultBaseURL, UserAgent: DefaultUserAgent, Timeout: DefaultTimeout,
		ErrInvalidOption: livechat.ErrInvalidOption,
		Authorize: func(req *http.Request) {
			req.Header.Set("Authorization", c.auth.header())
			req.Header.Set("X-API-Version", APIVersion)
		},
		Success:     func(status int) bool { return status == http.StatusOK },
		DecodeError: apiError,
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("livechat v2: new client: %w", err)
	}
	return c, nil
}

// get sends GET {base}/{path}?query and decodes a 200 answer into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	req, err := c.NewRequest(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req, out)
	if resp != nil {
		if d := resp.Header.Get("Deprecation"); d != "" {
			c.warnOnce.Do(func() {
				c.Logger().Warn("LiveChat REST API v2 is deprecated and will be decommissioned; move to the Agent Chat Web API v3.6",
					zap.String("deprecation", d), zap.String("sunset", resp.Header.Get("Sunset")),
					zap.String("api_version", APIVersion))
			})
		}
	}
	return err
}

// apiError turns a non-200 answer into a *livechat.APIError: the v2 error
// bodies ({"error": "..."} or {"errors": ["..."]}) carry no type, so
// classification goes by status.
func apiError(er *apiclient.ErrorResponse) error {
	body := er.Body
	e := &livechat.APIError{StatusCode: er.StatusCode, Action: er.Endpoint,
		RetryAfter: er.RetryAfter}
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
		e.Message = http.StatusText(er.StatusCode)
	}
	return e
}
