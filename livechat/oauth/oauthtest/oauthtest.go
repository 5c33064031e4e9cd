// Package oauthtest is a fake LiveChat accounts server (the OAuth token
// endpoint POST /v2/token with grant_type=refresh_token) for tests. It does
// not import "testing".
//
// Like LiveChat it keeps at most MaxTokens access tokens per client and
// revokes the oldest beyond that, rotates refresh tokens (a used refresh
// token stops working unless WithoutRotation), and answers errors as
// {"error": code, "error_description": text}. Protect wraps an API fake so
// that it answers 401 `authentication` to tokens the server did not issue,
// revoked or expired.
//
//	acc := oauthtest.New("client", "secret", "refresh-0")
//	url, stop := acc.Start()
//	defer stop()
package oauthtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// MaxTokens is how many access tokens LiveChat keeps per client and user.
const MaxTokens = 25

// Server is the fake accounts server. It is safe for concurrent use.
type Server struct {
	clientID, secret string
	prefix           string
	lifetime         time.Duration
	rotate           bool
	now              func() time.Time

	mu       sync.Mutex
	refresh  map[string]bool
	access   []issued // oldest first
	mints    int
	failures []failure
	requests int
}

type issued struct {
	token   string
	expires time.Time
}

type failure struct {
	status int
	code   string
}

// Option configures a Server.
type Option func(*Server)

// WithLifetime sets expires_in of issued tokens; default 8 hours.
func WithLifetime(d time.Duration) Option { return func(s *Server) { s.lifetime = d } }

// WithRegion makes access tokens start with region + ":" ("fra"); default "dal".
func WithRegion(region string) Option { return func(s *Server) { s.prefix = region + ":" } }

// WithoutRotation keeps refresh tokens valid after use (and answers none).
func WithoutRotation() Option { return func(s *Server) { s.rotate = false } }

// WithClock sets the clock of expiries; default time.Now.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New returns a server for one app (clientID, secret) that accepts
// refreshToken.
func New(clientID, secret, refreshToken string, opts ...Option) *Server {
	s := &Server{clientID: clientID, secret: secret, prefix: "dal:", lifetime: 8 * time.Hour, rotate: true,
		now: time.Now, refresh: map[string]bool{refreshToken: true}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Start serves the fake on an httptest server and returns its URL (the
// accounts URL) and a stop function.
func (s *Server) Start() (url string, stop func()) {
	ts := httptest.NewServer(s)
	return ts.URL, ts.Close
}

// FailNext makes the next n token requests fail with status and the OAuth
// error code (e.g. 503 "temporarily_unavailable", 400 "invalid_grant").
func (s *Server) FailNext(n, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, code})
	}
}

// Mints is how many access tokens the server issued.
func (s *Server) Mints() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mints
}

// Requests is how many token requests the server received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Valid reports whether token is an unexpired access token the server
// issued and has not revoked.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.access {
		if t.token == token {
			return s.now().Before(t.expires)
		}
	}
	return false
}

// Revoke makes an access token invalid (as when it expired early or was
// revoked in the Developer Console).
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range s.access {
		if t.token == token {
			s.access = append(s.access[:i:i], s.access[i+1:]...)
			return
		}
	}
}

// Latest is the newest access token issued, "" before the first.
func (s *Server) Latest() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.access) == 0 {
		return ""
	}
	return s.access[len(s.access)-1].token
}

// ServeHTTP implements http.Handler: POST /v2/token only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/token" {
		writeErr(w, http.StatusNotFound, "not_found", "no route "+r.Method+" "+r.URL.Path)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeErr(w, http.StatusBadRequest, "invalid_request", "cannot parse the form")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		writeErr(w, f.status, f.code, "injected failure")
		return
	}
	switch {
	case r.PostForm.Get("grant_type") != "refresh_token":
		writeErr(w, http.StatusBadRequest, "unsupported_grant_type", "only refresh_token is supported here")
	case r.PostForm.Get("client_id") != s.clientID || r.PostForm.Get("client_secret") != s.secret:
		writeErr(w, http.StatusUnauthorized, "invalid_client", "wrong client_id or client_secret")
	case !s.refresh[r.PostForm.Get("refresh_token")]:
		writeErr(w, http.StatusBadRequest, "invalid_grant", "refresh token is invalid or was already used")
	default:
		s.mints++
		access := fmt.Sprintf("%saccess-%d", s.prefix, s.mints)
		s.access = append(s.access, issued{access, s.now().Add(s.lifetime)})
		if len(s.access) > MaxTokens {
			s.access = s.access[len(s.access)-MaxTokens:]
		}
		out := map[string]any{"access_token": access, "account_id": "acc-oauth", "expires_in": int(s.lifetime.Seconds()),
			"organization_id": "org-oauth", "scope": "chats--all:rw,webhooks.configuration:rw", "token_type": "Bearer"}
		if s.rotate {
			delete(s.refresh, r.PostForm.Get("refresh_token"))
			next := fmt.Sprintf("refresh-%d", s.mints)
			s.refresh[next] = true
			out["refresh_token"] = next
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": msg})
}

// Protect wraps an API handler: requests whose bearer token the server does
// not hold as valid get 401 with LiveChat's `authentication` envelope.
func (s *Server) Protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.Valid(tok) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"type":"authentication","message":"Invalid access token"}}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}
