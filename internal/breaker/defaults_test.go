package breaker

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/config"
)

// TestSettingsDefaultsAreTheConfigurations: a breaker built with zero
// Settings (tests, programs embedding it) behaves as the default breaker
// section does; the defaults live in one place, package config.
func TestSettingsDefaultsAreTheConfigurations(t *testing.T) {
	cfg := config.Default().Breaker
	assert.Equal(t, Settings{Window: cfg.Window, MinCalls: cfg.MinCalls, FailureRatio: cfg.FailureRatio,
		Consecutive: cfg.ConsecutiveFailures, ProbeInterval: cfg.ProbeInterval, ProbeMax: cfg.ProbeMax},
		Settings{}.withDefaults())
}
