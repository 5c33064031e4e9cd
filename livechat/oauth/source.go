// Package oauth keeps LiveChat OAuth 2.1 access tokens valid for
// long-running processes
// (https://platform.text.com/docs/authorization/oauth-authorization).
//
// Given an app's client id and secret and a refresh token, a Source hands
// out access tokens and renews them (POST {accounts}/v2/token with
// grant_type=refresh_token) before they expire (8 hours by default) and when
// the API rejects one with an `authentication` error. The newest access and
// refresh token are kept in a Store: with KVStore, a JetStream key-value
// bucket, every process and replica of a deployment shares them and a restart
// resumes with the newest refresh token instead of the configured one.
// KVStore encrypts the values with a keyring (WithKeyring; chatwarden's
// secrets.keys), so the bucket holds no token in clear.
//
// LiveChat keeps at most 25 access tokens and 25 refresh tokens per client
// and user account and revokes the oldest beyond that, so a Source never
// mints tokens in a loop:
//   - one process at a time renews: the renewer takes a lock inside the
//     stored state with a compare-and-set on the entry's revision; others
//     keep using the current token while it is valid, or wait for the new one;
//   - every process reuses the stored access token instead of minting its own;
//   - a token renewed less than MinRenewInterval ago that the API rejects
//     again is not renewed again (ErrRejected) until that interval passed.
//
// Transport plugs a Source into any HTTP client (the Agent Chat, the
// Configuration and the v2 API clients): it sets `Authorization: Bearer` and
// renews once and repeats the request after an `authentication` error.
package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/internal/httpcall"
)

// Defaults.
const (
	// DefaultAccountsURL is the LiveChat accounts server (token endpoint
	// /v2/token).
	DefaultAccountsURL = "https://accounts.livechat.com"
	// DefaultRenewBefore is how long before its expiry a token is renewed.
	DefaultRenewBefore = 10 * time.Minute
	// DefaultLockTTL bounds how long one renewal may hold the lock; a
	// process that died while renewing blocks others at most this long.
	DefaultLockTTL = 30 * time.Second
	// MinRenewInterval is the shortest interval between two renewals forced
	// by rejected tokens.
	MinRenewInterval = time.Minute
	// DefaultTimeout is the timeout of the default HTTP client.
	DefaultTimeout = 20 * time.Second
)

const maxTokenBody = 64 << 10

// maxConflicts bounds the compare-and-set attempts of one Token call.
const maxConflicts = 50

// Config is an OAuth app: its client id and secret, and the accounts server.
type Config struct {
	ClientID     string
	ClientSecret string
	// AccountsURL is the accounts server; default DefaultAccountsURL.
	AccountsURL string
}

// Token is an access token and what came with it.
type Token struct {
	AccessToken    string    `json:"access_token"`
	RefreshToken   string    `json:"refresh_token"`
	ExpiresAt      time.Time `json:"expires_at"`
	AccountID      string    `json:"account_id,omitempty"`
	OrganizationID string    `json:"organization_id,omitempty"`
	Scope          string    `json:"scope,omitempty"`
}

// Source hands out valid access tokens of one authorization. Create it with
// NewSource; it is safe for concurrent use.
type Source struct {
	cfg         Config
	tokenURL    string
	key         string
	seedToken   string
	seed        string
	store       Store
	hc          *http.Client
	logger      *zap.Logger
	now         func() time.Time
	renewBefore time.Duration
	lockTTL     time.Duration
	poll        time.Duration
	owner       string

	mu       sync.Mutex // one renewal at a time inside the process
	cached   Token
	rejected string // the access token the API refused
}

// Option configures a Source.
type Option func(*Source) error

// WithStore sets where the state is kept; default NewMemoryStore() (this
// process only).
func WithStore(st Store) Option {
	return func(s *Source) error {
		if st == nil {
			return errors.New("oauth: nil store")
		}
		s.store = st
		return nil
	}
}

// WithName names the authorization inside the store (e.g. the LiveChat
// organization id); default "default". Sources with the same client id and
// name share their state.
func WithName(name string) Option {
	return func(s *Source) error {
		if strings.TrimSpace(name) == "" {
			return errors.New("oauth: empty name")
		}
		s.key = storeKey(s.cfg.ClientID, name)
		return nil
	}
}

// WithHTTPClient sets the client for the token endpoint; default
// &http.Client{Timeout: DefaultTimeout}. Whatever the client, a redirect
// to another host is refused (see httpcall.SameOriginRedirects).
func WithHTTPClient(hc *http.Client) Option {
	return func(s *Source) error {
		if hc == nil {
			return errors.New("oauth: nil HTTP client")
		}
		s.hc = hc
		return nil
	}
}

// WithLogger sets the logger; default zap.NewNop(). Tokens are never logged.
func WithLogger(l *zap.Logger) Option {
	return func(s *Source) error {
		if l != nil {
			s.logger = l
		}
		return nil
	}
}

// WithClock sets the clock; default time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Source) error {
		if now != nil {
			s.now = now
		}
		return nil
	}
}

// WithRenewBefore sets how long before expiry a token is renewed; default
// DefaultRenewBefore.
func WithRenewBefore(d time.Duration) Option {
	return func(s *Source) error {
		if d < 0 {
			return errors.New("oauth: negative renew-before")
		}
		s.renewBefore = d
		return nil
	}
}

// WithLockTTL sets how long a renewal may hold the lock; default
// DefaultLockTTL.
func WithLockTTL(d time.Duration) Option {
	return func(s *Source) error {
		if d <= 0 {
			return errors.New("oauth: lock TTL must be positive")
		}
		s.lockTTL = d
		return nil
	}
}

// NewSource returns a source renewing with refreshToken (the one from the
// configuration; a newer one in the store wins unless the configured one
// changed since). It fails with ErrMissingConfig when cfg or refreshToken is
// incomplete.
func NewSource(cfg Config, refreshToken string, opts ...Option) (*Source, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" || refreshToken == "" {
		return nil, ErrMissingConfig
	}
	if cfg.AccountsURL == "" {
		cfg.AccountsURL = DefaultAccountsURL
	}
	u, err := url.Parse(cfg.AccountsURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("oauth: accounts URL must be an http(s) URL with a host")
	}
	sum := sha256.Sum256([]byte(refreshToken))
	s := &Source{
		cfg:         cfg,
		tokenURL:    u.JoinPath("v2", "token").String(),
		key:         storeKey(cfg.ClientID, "default"),
		seedToken:   refreshToken,
		seed:        hex.EncodeToString(sum[:8]),
		store:       NewMemoryStore(),
		hc:          &http.Client{Timeout: DefaultTimeout},
		logger:      zap.NewNop(),
		now:         time.Now,
		renewBefore: DefaultRenewBefore,
		lockTTL:     DefaultLockTTL,
		poll:        100 * time.Millisecond,
		owner:       randomID(),
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	// The client secret and refresh token go to the accounts server only.
	s.hc = httpcall.SameOriginRedirects(s.hc)
	s.logger = s.logger.With(zap.String("platform", "livechat"), zap.String("oauth_key", s.key))
	return s, nil
}

// storeKey is a key-value key for a client id and name (hashed: keys allow
// few characters and need not reveal the organization).
func storeKey(clientID, name string) string {
	sum := sha256.Sum256([]byte(clientID + "\x00" + name))
	return "livechat." + hex.EncodeToString(sum[:16])
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Key is the source's key in the store.
func (s *Source) Key() string { return s.key }

// fresh reports whether t is usable without renewal at now.
func (s *Source) fresh(t Token, now time.Time) bool {
	return t.AccessToken != "" && t.AccessToken != s.rejected && now.Add(s.renewBefore).Before(t.ExpiresAt)
}

// usable reports whether t has not expired (it may be due for renewal).
func (s *Source) usable(t Token, now time.Time) bool {
	return t.AccessToken != "" && t.AccessToken != s.rejected && now.Before(t.ExpiresAt)
}

// Invalidate tells the source that the API rejected accessToken
// (`authentication`): the next Token renews it, unless another process
// already did.
func (s *Source) Invalidate(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected = accessToken
}

// Token returns a valid access token, renewing it when it expires within
// the renew-before window or was rejected. See the package documentation
// for how renewals are shared and bounded.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh(s.cached, s.now()) {
		return s.cached.AccessToken, nil
	}
	// Waiting for another renewer is bounded by its lock's TTL (and ctx);
	// conflicting writes are bounded here.
	for conflicts := 0; ; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if conflicts >= maxConflicts {
			return "", fmt.Errorf("oauth: gave up renewing the access token after %d concurrent updates of the stored state", maxConflicts)
		}
		st, rev, err := s.store.Load(ctx, s.key)
		if err != nil {
			return "", err
		}
		now := s.now()
		if st.Seed != s.seed || st.RefreshToken == "" {
			// No state yet, or the operator configured a new refresh token.
			st = State{Seed: s.seed, Token: Token{RefreshToken: s.seedToken}}
		}
		if s.fresh(st.Token, now) {
			s.cached = st.Token
			return st.AccessToken, nil
		}
		if st.locked(s.owner, now) {
			if s.usable(st.Token, now) {
				// Someone renews; the current token is still good meanwhile.
				s.cached = st.Token
				return st.AccessToken, nil
			}
			if err := s.sleep(ctx); err != nil {
				return "", err
			}
			continue
		}
		if st.AccessToken != "" && st.AccessToken == s.rejected && now.Sub(st.UpdatedAt) < MinRenewInterval {
			return "", fmt.Errorf("%w (renewed %s ago); not renewing again before %s to stay within LiveChat's token limit",
				ErrRejected, now.Sub(st.UpdatedAt).Round(time.Second), MinRenewInterval)
		}
		// Take the lock.
		locked := st
		locked.RefreshingBy, locked.RefreshingUntil = s.owner, now.Add(s.lockTTL)
		lrev, err := s.store.Save(ctx, s.key, locked, rev)
		if errors.Is(err, ErrConflict) {
			conflicts++
			continue
		}
		if err != nil {
			return "", err
		}
		tok, err := s.renew(ctx, st.RefreshToken)
		if err != nil {
			// Release the lock so another process may try.
			st.RefreshingBy, st.RefreshingUntil = "", time.Time{}
			if _, serr := s.store.Save(context.WithoutCancel(ctx), s.key, st, lrev); serr != nil && !errors.Is(serr, ErrConflict) {
				s.logger.Warn("releasing the OAuth renewal lock failed; it expires by itself", zap.Error(serr))
			}
			return "", err
		}
		next := State{Token: tok, Seed: s.seed, UpdatedAt: s.now(), Refreshes: st.Refreshes + 1}
		if next.RefreshToken == "" {
			next.RefreshToken = st.RefreshToken
		}
		if _, err := s.store.Save(context.WithoutCancel(ctx), s.key, next, lrev); err != nil {
			// The token is valid; only sharing it failed. Other processes
			// renew with the refresh token they have.
			s.logger.Error("storing the renewed OAuth token failed; other processes will renew on their own", zap.Error(err))
		}
		s.logger.Info("renewed the LiveChat OAuth access token",
			zap.Time("expires_at", tok.ExpiresAt), zap.Int("renewals", next.Refreshes))
		s.cached, s.rejected = tok, ""
		return tok.AccessToken, nil
	}
}

func (s *Source) sleep(ctx context.Context) error {
	t := time.NewTimer(s.poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// renew exchanges refreshToken for new tokens.
func (s *Source) renew(ctx context.Context, refreshToken string) (Token, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"client_id":     {s.cfg.ClientID},
		"client_secret": {s.cfg.ClientSecret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("oauth: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	start := s.now()
	resp, err := s.hc.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("oauth: renewing the LiveChat access token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return Token{}, fmt.Errorf("oauth: reading the token answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, tokenError(resp, body)
	}
	var out struct {
		AccessToken    string          `json:"access_token"`
		RefreshToken   string          `json:"refresh_token"`
		ExpiresIn      json.Number     `json:"expires_in"`
		AccountID      string          `json:"account_id"`
		OrganizationID string          `json:"organization_id"`
		Scope          json.RawMessage `json:"scope"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" {
		return Token{}, &TokenError{StatusCode: resp.StatusCode, Code: "invalid_response", Description: "the answer has no access_token"}
	}
	secs, err := out.ExpiresIn.Int64()
	if err != nil || secs <= 0 {
		secs = 28800 // the documented default lifetime
	}
	tok := Token{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken, AccountID: out.AccountID,
		OrganizationID: out.OrganizationID, ExpiresAt: start.Add(time.Duration(secs) * time.Second)}
	var scope string
	if json.Unmarshal(out.Scope, &scope) == nil {
		tok.Scope = scope
	}
	return tok, nil
}

// tokenError decodes {"error":"code","error_description":"..."} (OAuth) or
// {"error":{"type","message"}} (LiveChat's envelope).
func tokenError(resp *http.Response, body []byte) error {
	te := &TokenError{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	var oauthErr struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
	}
	if json.Unmarshal(body, &oauthErr) == nil && len(oauthErr.Error) > 0 {
		var code string
		var env struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(oauthErr.Error, &code) == nil:
			te.Code, te.Description = code, oauthErr.Description
		case json.Unmarshal(oauthErr.Error, &env) == nil:
			te.Code, te.Description = env.Type, env.Message
		}
		return te
	}
	te.Description = strings.TrimSpace(strings.ToValidUTF8(string(body), ""))
	if len(te.Description) > 200 {
		te.Description = te.Description[:200]
	}
	return te
}

func retryAfter(v string) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs > 0 && secs < 3600 {
		return time.Duration(secs) * time.Second
	}
	return 0
}
