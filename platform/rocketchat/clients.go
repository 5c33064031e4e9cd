package rocketchat

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/time/rate"

	"github.com/chatwarden/chatwarden/platform"
	rc "github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rules"
)

// Clients is Rocket.Chat's one client, for rocketchat.url, user_id and
// auth_token, paced to rocketchat.max_rate when set. Its events carry no
// tenant; its circuit breaker is labelled with the server's host.
type Clients struct {
	c    *rc.Client
	host string
}

// Client implements platform.Clients.
func (cs Clients) Client(string) (any, error) {
	if cs.c == nil {
		return nil, rules.NoCredentials("Rocket.Chat", "set rocketchat.url, rocketchat.user_id and rocketchat.auth_token")
	}
	return cs.c, nil
}

// BreakerOrg implements platform.Clients: the server's host.
func (cs Clients) BreakerOrg(string) string { return cs.host }

// NewClients builds the client of env.Config.RocketChat
// (platform.Platform.NewClients); none unless url, user_id and auth_token
// are all set.
func NewClients(_ context.Context, env platform.ClientEnv) (platform.Clients, error) {
	cfg := env.Config.RocketChat
	var cs Clients
	if cfg.URL == "" || cfg.UserID == "" || cfg.AuthToken == "" {
		return cs, nil
	}
	if u, err := url.Parse(cfg.URL); err == nil {
		cs.host = u.Host
	}
	var err error
	cs.c, err = rc.New(cfg.URL, rc.Auth{UserID: cfg.UserID, Token: cfg.AuthToken},
		// The breaker inside the pacing: only calls made count.
		rc.WithHTTPClient(paced(env.HTTP(cfg.RequestTimeout)(cs.host), cfg.MaxRate, "rocketchat.max_rate")),
		rc.WithLogger(env.Logger), rc.WithUserAgent("chatwarden"))
	if err != nil {
		return nil, fmt.Errorf("building the Rocket.Chat client: %w", err)
	}
	return cs, nil
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
