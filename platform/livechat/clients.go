package livechat

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	lc "github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/oauth"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

// Clients are LiveChat's clients: one per organization in
// livechat.organizations, plus the default one (livechat.pat,
// livechat.token or livechat.oauth.refresh_token) for organizations not
// listed. An event of an organization with neither gets an error matching
// rules.ErrNoCredentials, so it is dead-lettered with the cause "no
// credentials". Every client paces itself (livechat.AdaptiveLimiter) from
// livechat.initial_rate up to livechat.max_rate, or its organization's.
type Clients struct {
	// Default is the client of the default credentials (nil when there are
	// none), for commands that act on the app rather than on an
	// organization's chats (webhook registration).
	Default *lc.Client
	byOrg   map[string]*lc.Client
}

var _ platform.Clients = (*Clients)(nil)

// Client implements platform.Clients: the organization's own client, else
// the default one.
func (cs *Clients) Client(tenant string) (any, error) {
	if c, ok := cs.byOrg[tenant]; ok {
		return c, nil
	}
	if cs.Default != nil {
		return cs.Default, nil
	}
	return nil, fmt.Errorf("LiveChat organization %q: %w", tenant, rules.NoCredentials("LiveChat",
		"set livechat.pat, livechat.token or livechat.oauth.refresh_token, or this organization in livechat.organizations"))
}

// BreakerOrg implements platform.Clients: the organization when
// livechat.organizations has it, else platform.DefaultOrg.
func (cs *Clients) BreakerOrg(tenant string) string {
	if _, ok := cs.byOrg[tenant]; ok {
		return tenant
	}
	return platform.DefaultOrg
}

// NewClients builds the clients of env.Config.LiveChat
// (platform.Platform.NewClients). OAuth tokens, when OAuth credentials are
// configured, are kept in the key-value bucket oauth.Bucket of
// env.JetStream (see OpenOAuthStore), shared by every process; without
// JetStream in memory, which loses a rotated refresh token at exit.
func NewClients(ctx context.Context, env platform.ClientEnv) (platform.Clients, error) {
	cfg := env.Config.LiveChat
	var store oauth.Store
	if usesOAuth(cfg) {
		if env.JetStream == nil {
			store = oauth.NewMemoryStore()
			env.Logger.Warn("LiveChat OAuth tokens are kept in memory only: a refresh token renewed here is not shared with other processes")
		} else {
			st, err := OpenOAuthStore(ctx, env.Config, env.JetStream, env.Logger)
			if err != nil {
				return nil, err
			}
			store = st
		}
	}
	return BuildClients(cfg, env.HTTP(cfg.RequestTimeout), store, env.Logger)
}

// BuildClients builds the default client and one per organization of cfg,
// each with the HTTP client hc gives for its organization ("" for the
// default one), keeping OAuth tokens in store (nil: memory).
func BuildClients(cfg config.LiveChat, hc func(org string) *http.Client, store oauth.Store, logger *zap.Logger) (*Clients, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if store == nil {
		store = oauth.NewMemoryStore()
	}
	cs := &Clients{byOrg: map[string]*lc.Client{}}
	var err error
	if cred := cfg.DefaultCredentials(); !cred.IsZero() { // no breaker for credentials that are not there
		cs.Default, err = NewClient(cfg, cred, "", hc(""), store, logger)
	}
	if err != nil {
		return nil, fmt.Errorf("building the LiveChat client (livechat.pat, livechat.token or livechat.oauth): %w", err)
	}
	for org, cred := range cfg.Organizations {
		if cred.IsZero() {
			continue
		}
		c, err := NewClient(cfg, cred, org, hc(org), store, logger)
		if err != nil {
			return nil, fmt.Errorf("building the LiveChat client of livechat.organizations.%s: %w", org, err)
		}
		if c != nil {
			cs.byOrg[org] = c
		}
	}
	return cs, nil
}

// NewClient builds a LiveChat client acting with cred: a PAT, a bearer
// token, or an OAuth refresh token of the app in cfg.OAuth (access tokens
// then come from an oauth.Source keeping its state in store under the
// organization's name, "default" for ""). It returns nil, nil when cred is
// empty. The client talks to cfg.APIURL; its HTTP client is hc (wrapped
// with the OAuth transport when needed).
func NewClient(cfg config.LiveChat, cred config.Credentials, organization string, hc *http.Client,
	store oauth.Store, logger *zap.Logger) (*lc.Client, error) {
	var auth lc.Auth
	switch {
	case cred.PAT.Token != "":
		auth = lc.PAT(cred.PAT.AccountID, cred.PAT.Token)
	case cred.Token != "":
		auth = lc.Bearer(cred.Token)
	case cred.RefreshToken != "":
		src, err := NewOAuthSource(cfg, cred.RefreshToken, organization, store, hc, logger)
		if err != nil {
			return nil, err
		}
		hc = oauth.Client(src, hc)
		// The transport replaces this placeholder with the current access
		// token on every request.
		auth = lc.Bearer("oauth")
	default:
		return nil, nil
	}
	return lc.New(auth, lc.WithBaseURL(cfg.APIURL), lc.WithHTTPClient(hc),
		lc.WithLogger(logger), lc.WithUserAgent("chatwarden"),
		lc.WithRateLimiter(lc.NewAdaptiveLimiter(rates(cfg, cred))))
}

// rates is the pacing of a LiveChat client acting with cred: the
// organization's own max_rate and initial_rate where set, else livechat's.
func rates(cfg config.LiveChat, cred config.Credentials) lc.AdaptiveConfig {
	r := lc.AdaptiveConfig{MaxRate: cfg.MaxRate, InitialRate: cfg.InitialRate}
	if cred.MaxRate > 0 {
		r.MaxRate = cred.MaxRate
	}
	if cred.InitialRate > 0 {
		r.InitialRate = cred.InitialRate
	}
	return r
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
