package service

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/internal/apiclient"
	"github.com/chatwarden/chatwarden/internal/breaker"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/oauth"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/tracing"
)

// Clients are the platform API clients of a worker process; they implement
// rules.Clients. Build them with NewClients.
//
//   - LiveChat: one client per organization in livechat.organizations, plus
//     the default one (livechat.pat, livechat.token or
//     livechat.oauth.refresh_token) for organizations not listed. An event of
//     an organization with neither gets an error matching
//     rules.ErrNoCredentials, so it is dead-lettered with the cause
//     "no credentials".
//   - HelpCrunch: one client for helpcrunch.api_key, paced to
//     helpcrunch.max_rate (default the documented 120 requests a minute);
//     Rocket.Chat: one client for rocketchat.url, user_id and auth_token,
//     paced to rocketchat.max_rate when set. Their events carry no tenant.
//   - Every LiveChat client paces itself (livechat.AdaptiveLimiter) from
//     livechat.initial_rate up to livechat.max_rate, or its organization's.
type Clients struct {
	liveChatDefault *livechat.Client
	liveChatByOrg   map[string]*livechat.Client
	helpCrunch      *helpcrunch.Client
	rocketChat      *rocketchat.Client
	rocketChatHost  string // the breaker's org label of Rocket.Chat
}

var _ rules.Clients = (*Clients)(nil)

// ClientsOption configures NewClients.
type ClientsOption func(*clientsOptions)

type clientsOptions struct {
	instrument func(platform string, c *http.Client) *http.Client
	store      oauth.Store
	breakers   *breaker.Set
}

// WithBreakers puts each client's calls behind the circuit breaker of its
// platform and credentials in set (see BreakerOrg). Default: none.
func WithBreakers(set *breaker.Set) ClientsOption {
	return func(o *clientsOptions) { o.breakers = set }
}

// DefaultOrg names the default credentials' breaker (LiveChat's default
// credentials, the HelpCrunch account).
const DefaultOrg = "default"

// BreakerOrg is the organization label of the breaker that calls for an
// event of platform and tenant go through: the LiveChat organization when
// livechat.organizations has it, else DefaultOrg; the Rocket.Chat server's
// host; DefaultOrg for HelpCrunch.
func (cs *Clients) BreakerOrg(platform, tenant string) string {
	switch platform {
	case event.LiveChat:
		if _, ok := cs.liveChatByOrg[tenant]; ok {
			return tenant
		}
	case event.RocketChat:
		return cs.rocketChatHost
	}
	return DefaultOrg
}

// behind returns hc behind the breaker of platform and org, or hc itself
// without breakers.
func (o *clientsOptions) behind(platform, org string, hc *http.Client) *http.Client {
	if o.breakers == nil {
		return hc
	}
	return o.breakers.Client(platform, org, hc)
}

// InstrumentClients wraps the HTTP client of each platform (e.g. with
// metrics.Metrics.InstrumentClient). Default: unchanged.
func InstrumentClients(f func(platform string, c *http.Client) *http.Client) ClientsOption {
	return func(o *clientsOptions) { o.instrument = f }
}

// WithOAuthStore sets where OAuth tokens are kept (default: the JetStream
// bucket oauth.Bucket when NewClients gets a JetStream context, else memory).
func WithOAuthStore(st oauth.Store) ClientsOption { return func(o *clientsOptions) { o.store = st } }

// NewClients builds the platform clients of cfg. hc is the HTTP client they
// share; nil gives each platform an HTTP client of its own
// (PlatformHTTPClient with workers.concurrency) with the platform's
// request timeout. js, when not nil, keeps
// OAuth tokens in the key-value bucket oauth.Bucket (created with
// nats.replicas), shared by every process and encrypted with secrets.keys
// (see OpenOAuthStore); it is only touched when OAuth credentials are
// configured. Without js they are kept in memory: fine for
// one process, but a refresh token rotated there is lost at exit.
func NewClients(ctx context.Context, cfg *config.Config, js jetstream.JetStream, hc *http.Client, logger *zap.Logger, opts ...ClientsOption) (*Clients, error) {
	o := clientsOptions{instrument: func(_ string, c *http.Client) *http.Client { return c }}
	for _, opt := range opts {
		opt(&o)
	}
	httpFor := func(timeout time.Duration) *http.Client {
		if hc != nil {
			return hc
		}
		return PlatformHTTPClient(cfg.PlatformTimeout(timeout), cfg.Workers.Concurrency)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if o.store == nil && usesOAuth(cfg.LiveChat) {
		if js == nil {
			o.store = oauth.NewMemoryStore()
			logger.Warn("LiveChat OAuth tokens are kept in memory only: a refresh token renewed here is not shared with other processes")
		} else {
			st, err := OpenOAuthStore(ctx, cfg, js, logger)
			if err != nil {
				return nil, err
			}
			o.store = st
		}
	}
	cs := &Clients{}
	var err error
	lhc := o.instrument(event.LiveChat, httpFor(cfg.LiveChat.RequestTimeout))
	cs.liveChatDefault, cs.liveChatByOrg, err = buildLiveChat(cfg.LiveChat, func(org string) *http.Client {
		if org == "" {
			org = DefaultOrg
		}
		return o.behind(event.LiveChat, org, lhc)
	}, o.store, logger)
	if err != nil {
		return nil, err
	}
	if key := cfg.HelpCrunch.APIKey; key != "" {
		cs.helpCrunch, err = helpcrunch.New(key, helpcrunch.WithBaseURL(cfg.HelpCrunch.APIURL),
			helpcrunch.WithHTTPClient(o.behind(event.HelpCrunch, DefaultOrg, o.instrument(event.HelpCrunch, httpFor(cfg.HelpCrunch.RequestTimeout)))), helpcrunch.WithLogger(logger),
			helpcrunch.WithUserAgent("chatwarden"), helpcrunch.WithRateLimit(perMinute(cfg.HelpCrunch.MaxRate)))
		if err != nil {
			return nil, fmt.Errorf("building the HelpCrunch client: %w", err)
		}
	}
	if rc := cfg.RocketChat; rc.URL != "" && rc.UserID != "" && rc.AuthToken != "" {
		if u, perr := url.Parse(rc.URL); perr == nil {
			cs.rocketChatHost = u.Host
		}
		cs.rocketChat, err = rocketchat.New(rc.URL, rocketchat.Auth{UserID: rc.UserID, Token: rc.AuthToken},
			// The breaker inside the pacing: only calls made count.
			rocketchat.WithHTTPClient(paced(o.behind(event.RocketChat, cs.rocketChatHost, o.instrument(event.RocketChat, httpFor(cfg.RocketChat.RequestTimeout))),
				rc.MaxRate, "rocketchat.max_rate")), rocketchat.WithLogger(logger),
			rocketchat.WithUserAgent("chatwarden"))
		if err != nil {
			return nil, fmt.Errorf("building the Rocket.Chat client: %w", err)
		}
	}
	return cs, nil
}

// ClearTokensWarning is logged by OpenOAuthStore without secrets.keys.
const ClearTokensWarning = oauth.Bucket + " holds OAuth refresh tokens in clear: anyone who can read the NATS bucket " +
	"can act as the app on every organization it serves; set secrets.keys"

// OpenOAuthStore opens the key-value bucket oauth.Bucket (created with
// nats.replicas), sealing tokens with the keys of secrets.keys (see
// oauth.KVStore): the first key encrypts, every key decrypts, and values in
// clear from older versions are read and encrypted on their next write.
// Without keys, tokens are kept in clear and it logs ClearTokensWarning once
// per call; callers open the store once per process, and only when OAuth is
// configured.
func OpenOAuthStore(ctx context.Context, cfg *config.Config, js jetstream.JetStream, logger *zap.Logger) (*oauth.KVStore, error) {
	keys, err := cfg.Secrets.Keyring()
	if err != nil {
		return nil, err
	}
	if keys == nil && logger != nil {
		logger.Warn(ClearTokensWarning, zap.String("bucket", oauth.Bucket))
	}
	return oauth.OpenKVStore(ctx, js, cfg.NATS.Replicas, oauth.WithKeyring(keys))
}

func usesOAuth(l config.LiveChat) bool {
	if l.OAuth.RefreshToken != "" {
		return true
	}
	for _, c := range l.Organizations {
		if c.RefreshToken != "" {
			return true
		}
	}
	return false
}

// NewLiveChatClients builds the LiveChat clients of cfg only (HelpCrunch and
// Rocket.Chat report no credentials), with OAuth tokens in memory. Prefer
// NewClients, which shares OAuth tokens through JetStream.
func NewLiveChatClients(cfg config.LiveChat, hc *http.Client, logger *zap.Logger) (rules.Clients, error) {
	return newLiveChatClients(cfg, hc, logger)
}

func newLiveChatClients(cfg config.LiveChat, hc *http.Client, logger *zap.Logger) (*Clients, error) {
	if hc == nil {
		hc = PlatformHTTPClient(cfg.RequestTimeout, apiclient.DefaultConcurrency)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cs := &Clients{}
	var err error
	cs.liveChatDefault, cs.liveChatByOrg, err = buildLiveChat(cfg, func(string) *http.Client { return hc }, oauth.NewMemoryStore(), logger)
	return cs, err
}

// PlatformHTTPClient is the HTTP client of one platform's clients: the
// timeout of the whole call, and a tuned transport of its own
// (apiclient.NewTransport) that keeps an idle connection for each of
// concurrency workers, opens no more than that, keeps them alive and speaks
// HTTP/2 where the API offers it; each call is a span of the event's trace
// when tracing is on.
func PlatformHTTPClient(timeout time.Duration, concurrency int) *http.Client {
	hc := apiclient.NewHTTPClient(timeout, concurrency)
	hc.Transport = tracing.Transport(hc.Transport)
	return hc
}

// buildLiveChat builds the default client and one per organization, each
// with the HTTP client hc gives for its organization ("" for the default).
func buildLiveChat(cfg config.LiveChat, hc func(org string) *http.Client, store oauth.Store, logger *zap.Logger) (*livechat.Client, map[string]*livechat.Client, error) {
	byOrg := map[string]*livechat.Client{}
	var def *livechat.Client
	var err error
	if cred := cfg.DefaultCredentials(); !cred.IsZero() { // no breaker for credentials that are not there
		def, err = NewLiveChatClient(cfg, cred, "", hc(""), store, logger)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("building the LiveChat client (livechat.pat, livechat.token or livechat.oauth): %w", err)
	}
	for org, cred := range cfg.Organizations {
		if cred.IsZero() {
			continue
		}
		c, err := NewLiveChatClient(cfg, cred, org, hc(org), store, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("building the LiveChat client of livechat.organizations.%s: %w", org, err)
		}
		if c != nil {
			byOrg[org] = c
		}
	}
	return def, byOrg, nil
}

// NewLiveChatClient builds a LiveChat client acting with cred: a PAT, a
// bearer token, or an OAuth refresh token of the app in cfg.OAuth (access
// tokens then come from an oauth.Source keeping its state in store under
// the organization's name, "default" for ""). It returns nil, nil when cred
// is empty. The client talks to cfg.APIURL; its HTTP client is hc (wrapped
// with the OAuth transport when needed).
func NewLiveChatClient(cfg config.LiveChat, cred config.Credentials, organization string, hc *http.Client,
	store oauth.Store, logger *zap.Logger) (*livechat.Client, error) {
	var auth livechat.Auth
	switch {
	case cred.PAT.Token != "":
		auth = livechat.PAT(cred.PAT.AccountID, cred.PAT.Token)
	case cred.Token != "":
		auth = livechat.Bearer(cred.Token)
	case cred.RefreshToken != "":
		src, err := NewOAuthSource(cfg, cred.RefreshToken, organization, store, hc, logger)
		if err != nil {
			return nil, err
		}
		hc = oauth.Client(src, hc)
		// The transport replaces this placeholder with the current access
		// token on every request.
		auth = livechat.Bearer("oauth")
	default:
		return nil, nil
	}
	return livechat.New(auth, livechat.WithBaseURL(cfg.APIURL), livechat.WithHTTPClient(hc),
		livechat.WithLogger(logger), livechat.WithUserAgent("chatwarden"),
		livechat.WithRateLimiter(livechat.NewAdaptiveLimiter(liveChatRates(cfg, cred))))
}

// liveChatRates is the pacing of a LiveChat client acting with cred: the
// organization's own max_rate and initial_rate where set, else livechat's.
func liveChatRates(cfg config.LiveChat, cred config.Credentials) livechat.AdaptiveConfig {
	rates := livechat.AdaptiveConfig{MaxRate: cfg.MaxRate, InitialRate: cfg.InitialRate}
	if cred.MaxRate > 0 {
		rates.MaxRate = cred.MaxRate
	}
	if cred.InitialRate > 0 {
		rates.InitialRate = cred.InitialRate
	}
	return rates
}

// perMinute turns a rate a second into whole requests a minute, at least
// one; 0 stays 0 (no limiter).
func perMinute(perSecond float64) int {
	if perSecond <= 0 {
		return 0
	}
	return max(1, int(math.Round(perSecond*60)))
}

// paced returns hc with its requests spaced to at most perSecond (burst
// one); perSecond 0 returns hc itself. A request whose turn lies beyond its
// context's deadline fails at once, naming key, instead of waiting in vain.
func paced(hc *http.Client, perSecond float64, key string) *http.Client {
	if perSecond <= 0 {
		return hc
	}
	c := *hc
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = pacedTransport{base: base, limiter: rate.NewLimiter(rate.Limit(perSecond), 1), key: key}
	return &c
}

type pacedTransport struct {
	base    http.RoundTripper
	limiter *rate.Limiter
	key     string
}

func (t pacedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.limiter.Wait(r.Context()); err != nil {
		return nil, fmt.Errorf("waiting for a request slot under %s (%g a second): %w", t.key, float64(t.limiter.Limit()), err)
	}
	return t.base.RoundTrip(r)
}

// NewOAuthSource is the access-token source of refreshToken, an OAuth
// refresh token of the app in cfg.OAuth, keeping its state in store (nil:
// memory) under the organization's name ("default" for ""). Every process
// building a source for the same app and organization over the same store
// shares one token. The token endpoint is called with hc's timeout.
func NewOAuthSource(cfg config.LiveChat, refreshToken, organization string, store oauth.Store, hc *http.Client,
	logger *zap.Logger) (*oauth.Source, error) {
	name := organization
	if name == "" {
		name = "default"
	}
	if store == nil {
		store = oauth.NewMemoryStore()
	}
	timeout := oauth.DefaultTimeout
	if hc != nil && hc.Timeout > 0 {
		timeout = hc.Timeout
	}
	return oauth.NewSource(oauth.Config{ClientID: cfg.OAuth.ClientID, ClientSecret: cfg.OAuth.ClientSecret,
		AccountsURL: cfg.OAuth.AccountsURL}, refreshToken,
		oauth.WithStore(store), oauth.WithName(name), oauth.WithHTTPClient(&http.Client{Timeout: timeout}),
		oauth.WithLogger(logger))
}

// Client implements rules.Clients: LiveChat's organization's own client,
// else the default one; the HelpCrunch and Rocket.Chat clients.
func (cs *Clients) Client(platform, tenant string) (any, error) {
	switch platform {
	case event.LiveChat:
		if c, ok := cs.liveChatByOrg[tenant]; ok {
			return c, nil
		}
		if cs.liveChatDefault != nil {
			return cs.liveChatDefault, nil
		}
		return nil, fmt.Errorf("LiveChat organization %q: %w", tenant, rules.NoCredentials("LiveChat",
			"set livechat.pat, livechat.token or livechat.oauth.refresh_token, or this organization in livechat.organizations"))
	case event.HelpCrunch:
		if cs.helpCrunch == nil {
			return nil, rules.NoCredentials("HelpCrunch", "set helpcrunch.api_key")
		}
		return cs.helpCrunch, nil
	case event.RocketChat:
		if cs.rocketChat == nil {
			return nil, rules.NoCredentials("Rocket.Chat", "set rocketchat.url, rocketchat.user_id and rocketchat.auth_token")
		}
		return cs.rocketChat, nil
	}
	return nil, rules.NoCredentials(platform, "no client for this platform")
}

// LiveChatDefault is the client of the default credentials (nil when there
// are none), for commands that act on the app rather than on an
// organization's chats (webhook registration).
func (cs *Clients) LiveChatDefault() *livechat.Client { return cs.liveChatDefault }
