package all_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/platform"
	_ "github.com/chatwarden/chatwarden/platform/all"
	"github.com/chatwarden/chatwarden/rules"
)

// Importing platform/all registers the three platforms, and their actions
// are exactly the ones rules has always offered: names, descriptions,
// idempotency and parameters.
func TestAllRegistersTheShippedPlatforms(t *testing.T) {
	var names, titles []string
	for _, p := range platform.All() {
		names, titles = append(names, p.Name), append(titles, p.Title)
	}
	assert.Equal(t, []string{"helpcrunch", "livechat", "rocketchat"}, names)
	assert.Equal(t, []string{"HelpCrunch", "LiveChat", "Rocket.Chat"}, titles)

	got, want := platform.Actions(), rules.DefaultActions()
	assert.Equal(t, want.Names(), got.Names())
	for name, w := range want {
		g := got[name]
		assert.Equal(t, w.Description, g.Description, name)
		assert.Equal(t, w.Idempotent, g.Idempotent, name)
		assert.Equal(t, w.Params, g.Params, name)
	}
}
