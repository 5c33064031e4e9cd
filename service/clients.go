package service

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/apiclient"
	"github.com/chatwarden/chatwarden/internal/breaker"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/oauth"
	"github.com/chatwarden/chatwarden/platform"
	lcp "github.com/chatwarden/chatwarden/platform/livechat"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/tracing"
)

// Clients are the platform API clients of a worker process; they implement
// rules.Clients. Build them with NewClients: each registered platform builds
// its own (platform.Platform.NewClients) from its configuration section,
// with the HTTP clients, circuit breakers and pacing described there and in
// platform.ClientEnv. A platform without credentials for an event's
// organization answers with an error matching rules.ErrNoCredentials, so
// the event is dead-lettered with the cause "no credentials".
type Clients struct {
	byPlatform map[string]platform.Clients
}

var _ rules.Clients = (*Clients)(nil)

// ClientsOption configures NewClients.
type ClientsOption func(*clientsOptions)

type clientsOptions struct {
	instrument func(platform string, c *http.Client) *http.Client
	breakers   *breaker.Set
}

// WithBreakers puts each client's calls behind the circuit breaker of its
// platform and credentials in set (see BreakerOrg). Default: none.
func WithBreakers(set *breaker.Set) ClientsOption {
	return func(o *clientsOptions) { o.breakers = set }
}

// DefaultOrg names the default credentials' breaker (LiveChat's default
// credentials, the HelpCrunch account).
const DefaultOrg = platform.DefaultOrg

// BreakerOrg is the organization label of the breaker that calls for an
// event of platform and tenant go through, as the platform's clients say
// (LiveChat: the organization when livechat.organizations has it, else
// DefaultOrg; Rocket.Chat: the server's host; HelpCrunch: DefaultOrg).
func (cs *Clients) BreakerOrg(name, tenant string) string {
	if pc, ok := cs.byPlatform[name]; ok {
		return pc.BreakerOrg(tenant)
	}
	return DefaultOrg
}

// Client implements rules.Clients: the client of platform name for tenant,
// from the platform's own clients.
func (cs *Clients) Client(name, tenant string) (any, error) {
	if pc, ok := cs.byPlatform[name]; ok {
		return pc.Client(tenant)
	}
	return nil, rules.NoCredentials(name, "no client: the platform is not registered in this binary or builds none")
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

// NewClients builds the clients of every registered platform from cfg. hc
// is the HTTP client they share; nil gives each platform an HTTP client of
// its own (PlatformHTTPClient with workers.concurrency) with the platform's
// request timeout. js, when not nil, keeps state the processes share (the
// key-value bucket oauth.Bucket of LiveChat's OAuth tokens, created with
// nats.replicas and encrypted with secrets.keys, only touched when OAuth
// credentials are configured); without js such state is kept in memory:
// fine for one process, but a refresh token rotated there is lost at exit.
func NewClients(ctx context.Context, cfg *config.Config, js jetstream.JetStream, hc *http.Client, logger *zap.Logger, opts ...ClientsOption) (*Clients, error) {
	o := clientsOptions{instrument: func(_ string, c *http.Client) *http.Client { return c }}
	for _, opt := range opts {
		opt(&o)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cs := &Clients{byPlatform: map[string]platform.Clients{}}
	for _, p := range platform.All() {
		if p.NewClients == nil {
			continue
		}
		httpFor := func(timeout time.Duration) func(org string) *http.Client {
			base := hc
			if base == nil {
				base = PlatformHTTPClient(cfg.PlatformTimeout(timeout), cfg.Workers.Concurrency)
			}
			base = o.instrument(p.Name, base)
			return func(org string) *http.Client {
				if org == "" {
					org = DefaultOrg
				}
				return o.behind(p.Name, org, base)
			}
		}
		pc, err := p.NewClients(ctx, platform.ClientEnv{Config: cfg, HTTP: httpFor, JetStream: js, Logger: logger})
		if err != nil {
			return nil, err
		}
		cs.byPlatform[p.Name] = pc
	}
	return cs, nil
}

// ClearTokensWarning is logged by OpenOAuthStore without secrets.keys.
const ClearTokensWarning = lcp.ClearTokensWarning

// OpenOAuthStore opens LiveChat's OAuth token bucket (see
// platform/livechat.OpenOAuthStore).
func OpenOAuthStore(ctx context.Context, cfg *config.Config, js jetstream.JetStream, logger *zap.Logger) (*oauth.KVStore, error) {
	return lcp.OpenOAuthStore(ctx, cfg, js, logger)
}

// NewLiveChatClients builds the LiveChat clients of cfg only (other
// platforms report no credentials), with OAuth tokens in memory. Prefer
// NewClients, which shares OAuth tokens through JetStream.
func NewLiveChatClients(cfg config.LiveChat, hc *http.Client, logger *zap.Logger) (rules.Clients, error) {
	if hc == nil {
		hc = PlatformHTTPClient(cfg.RequestTimeout, apiclient.DefaultConcurrency)
	}
	lcs, err := lcp.BuildClients(cfg, func(string) *http.Client { return hc }, oauth.NewMemoryStore(), logger)
	if err != nil {
		return nil, err
	}
	return &Clients{byPlatform: map[string]platform.Clients{event.LiveChat: lcs}}, nil
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

// NewLiveChatClient builds a LiveChat client acting with cred (see
// platform/livechat.NewClient).
func NewLiveChatClient(cfg config.LiveChat, cred config.Credentials, organization string, hc *http.Client,
	store oauth.Store, logger *zap.Logger) (*livechat.Client, error) {
	return lcp.NewClient(cfg, cred, organization, hc, store, logger)
}

// NewOAuthSource is the access-token source of a LiveChat OAuth refresh
// token (see platform/livechat.NewOAuthSource).
func NewOAuthSource(cfg config.LiveChat, refreshToken, organization string, store oauth.Store, hc *http.Client,
	logger *zap.Logger) (*oauth.Source, error) {
	return lcp.NewOAuthSource(cfg, refreshToken, organization, store, hc, logger)
}
