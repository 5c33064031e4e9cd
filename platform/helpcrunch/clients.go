package helpcrunch

import (
	"context"
	"fmt"
	"math"

	hc "github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

// Clients is HelpCrunch's one client, for helpcrunch.api_key, paced to
// helpcrunch.max_rate (default the documented 120 requests a minute). Its
// events carry no tenant.
type Clients struct{ c *hc.Client }

// Client implements platform.Clients.
func (cs Clients) Client(string) (any, error) {
	if cs.c == nil {
		return nil, rules.NoCredentials("HelpCrunch", "set helpcrunch.api_key")
	}
	return cs.c, nil
}

// BreakerOrg implements platform.Clients: platform.DefaultOrg.
func (Clients) BreakerOrg(string) string { return platform.DefaultOrg }

// NewClients builds the client of env.Config.HelpCrunch
// (platform.Platform.NewClients); none without helpcrunch.api_key.
func NewClients(_ context.Context, env platform.ClientEnv) (platform.Clients, error) {
	cfg := env.Config.HelpCrunch
	if cfg.APIKey == "" {
		return Clients{}, nil
	}
	c, err := hc.New(cfg.APIKey, hc.WithBaseURL(cfg.APIURL),
		hc.WithHTTPClient(env.HTTP(cfg.RequestTimeout)(platform.DefaultOrg)), hc.WithLogger(env.Logger),
		hc.WithUserAgent("chatwarden"), hc.WithRateLimit(perMinute(cfg.MaxRate)))
	if err != nil {
		return nil, fmt.Errorf("building the HelpCrunch client: %w", err)
	}
	return Clients{c: c}, nil
}

// perMinute turns a rate a second into whole requests a minute, at least
// one; 0 stays 0 (no limiter).
func perMinute(perSecond float64) int {
	if perSecond <= 0 {
		return 0
	}
	return max(1, int(math.Round(perSecond*60)))
}
