package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/chatwarden/chatwarden/internal/httpcall"
)

// Transport is an http.RoundTripper that authenticates every request with
// the Source's access token (`Authorization: Bearer`, replacing any header
// the caller set) and sends `X-Region: fra` for EU tokens when the caller
// set no region. When the API answers 401 with the error type
// `authentication`, it invalidates the token, renews it and repeats the
// request once (requests with a body need GetBody, which
// http.NewRequestWithContext sets for in-memory bodies).
//
// When no token can be had, the request is not sent and the caller gets an
// answer in LiveChat's error envelope instead, so API clients classify it
// as they classify the API's own errors: `authentication` (HTTP 401) when
// the refresh token or the app's credentials are refused, the stored state
// cannot be decrypted (ErrUnreadable) or the accounts server redirects to
// another host (httpcall.ErrCrossHostRedirect) (permanent), and
// `service_unavailable` (HTTP 503) when the accounts server or the token
// store failed in a way that may pass (retryable).
type Transport struct {
	Source *Source
	// Base sends the requests; default http.DefaultTransport.
	Base http.RoundTripper
}

var _ http.RoundTripper = (*Transport)(nil)

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tok, err := t.Source.Token(ctx)
	if err != nil {
		closeBody(req)
		return failure(req, err)
	}
	resp, err := t.base().RoundTrip(authorize(req, req.Body, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if !isAuthentication(body) || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, nil
	}
	t.Source.Invalidate(tok)
	fresh, err := t.Source.Token(ctx)
	if err != nil {
		return failure(req, err)
	}
	if fresh == tok {
		return resp, nil
	}
	var again io.ReadCloser
	if req.GetBody != nil {
		if again, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.base().RoundTrip(authorize(req, again, fresh))
}

// authorize is a copy of req with body and the token's headers.
func authorize(req *http.Request, body io.ReadCloser, token string) *http.Request {
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+token)
	if strings.HasPrefix(token, "fra:") && r.Header.Get("X-Region") == "" {
		r.Header.Set("X-Region", "fra")
	}
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// isAuthentication reports whether body is LiveChat's error envelope with
// type authentication.
func isAuthentication(body []byte) bool {
	var env struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	return json.Unmarshal(body, &env) == nil && env.Error.Type == "authentication"
}

// failure answers a request that could not be authorized, in LiveChat's
// error envelope (see Transport). A cancelled context stays an error.
func failure(req *http.Request, err error) (*http.Response, error) {
	if ctxErr := req.Context().Err(); ctxErr != nil {
		return nil, err
	}
	status, typ := http.StatusServiceUnavailable, "service_unavailable"
	var te *TokenError
	if errors.Is(err, ErrRejected) || errors.Is(err, ErrUnreadable) || errors.Is(err, httpcall.ErrCrossHostRedirect) ||
		(errors.As(err, &te) && !te.Retryable()) {
		status, typ = http.StatusUnauthorized, "authentication"
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"type": typ, "message": err.Error()}})
	h := http.Header{"Content-Type": {"application/json"}}
	if errors.As(err, &te) && te.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Seconds())))
	}
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// Client returns an HTTP client that authenticates with src through
// Transport over base's transport (base nil: a client with DefaultTimeout).
// It refuses redirects to another host (see
// httpcall.SameOriginRedirects): Transport would send the access token
// along.
func Client(src *Source, base *http.Client) *http.Client {
	if base == nil {
		base = &http.Client{Timeout: DefaultTimeout}
	}
	c := httpcall.SameOriginRedirects(base)
	c.Transport = &Transport{Source: src, Base: base.Transport}
	return c
}
