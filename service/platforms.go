package service

// The platforms the service receives from and acts on: each registers
// itself with package platform when imported (its actions, clients,
// receiver, ...). This is the one place that lists them; see
// docs/platforms.md.
import (
	"fmt"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/platform"
	_ "github.com/chatwarden/chatwarden/platform/all"
)

// Receivers builds the webhook receiver of every registered platform that
// has one (platform.Platform.NewReceiver), by platform name: the routes
// /webhooks/<name>.
func Receivers(cfg *config.Config) (map[string]platform.Receiver, error) {
	out := map[string]platform.Receiver{}
	for _, p := range platform.All() {
		if p.NewReceiver == nil {
			continue
		}
		r, err := p.NewReceiver(cfg)
		if err != nil {
			return nil, fmt.Errorf("the %s webhook receiver: %w", p.Title, err)
		}
		out[p.Name] = r
	}
	return out, nil
}
