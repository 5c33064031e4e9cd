package helpcrunch

import (
	"context"
	"fmt"
	"math"

	hc "github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/platform"
)

// NewClients builds HelpCrunch's one client (platform.Platform.NewClients)
// for helpcrunch.api_key, paced to helpcrunch.max_rate (default the
// documented 120 requests a minute); none without the key. Its events carry
// no tenant.
func NewClients(_ context.Context, env platform.ClientEnv) (platform.Clients, error) {
	cfg := env.Config.HelpCrunch
	if cfg.APIKey == "" {
		return platform.Single(nil, "HelpCrunch", "set helpcrunch.api_key"), nil
	}
	c, err := hc.New(cfg.APIKey, hc.WithBaseURL(cfg.APIURL),
		hc.WithHTTPClient(env.HTTP(cfg.RequestTimeout)(platform.DefaultOrg)), hc.WithLogger(env.Logger),
		hc.WithUserAgent("chatwarden"), hc.WithRateLimit(perMinute(cfg.MaxRate)))
	if err != nil {
		return nil, fmt.Errorf("building the HelpCrunch client: %w", err)
	}
	return platform.Single(c, "HelpCrunch", "set helpcrunch.api_key"), nil
}

// perMinute turns a rate a second into whole requests a minute, at least
// one; 0 stays 0 (no limiter).
func perMinute(perSecond float64) int {
	if perSecond <= 0 {
		return 0
	}
	return max(1, int(math.Round(perSecond*60)))
}
