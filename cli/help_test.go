package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The root help is the first thing a newcomer reads: it names every
// platform chatwarden serves, not only the first one.
func TestRootHelpNamesEveryPlatform(t *testing.T) {
	stdout, stderr, code := runCLI(t, "--help")
	require.Equal(t, 0, code, stderr)
	for _, platform := range []string{"LiveChat", "HelpCrunch", "Rocket.Chat"} {
		assert.Contains(t, stdout, platform)
	}
	assert.Contains(t, stdout, "chatwarden demo")
}
