package platform_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

func TestSingle(t *testing.T) {
	type client struct{ name string }
	c := &client{"one"}
	cs := platform.Single(c, "Acme Chat", "set platforms.acme.token")
	for _, tenant := range []string{"", "org-1", "org-2"} {
		got, err := cs.Client(tenant)
		require.NoError(t, err)
		assert.Same(t, c, got, "one client for every tenant")
		assert.Equal(t, platform.DefaultOrg, cs.BreakerOrg(tenant))
	}

	_, err := platform.Single(nil, "Acme Chat", "set platforms.acme.token").Client("org-1")
	require.Error(t, err)
	assert.True(t, errors.Is(err, rules.ErrNoCredentials), "%v", err)
	assert.ErrorContains(t, err, "Acme Chat")
	assert.ErrorContains(t, err, "set platforms.acme.token")
}
