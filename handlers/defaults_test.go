package handlers

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/config"
)

// TestDepsDefaultsAreTheConfigurations: a Deps built by hand (tests,
// programs embedding the receivers) behaves as the default configuration
// does; the defaults live in one place, package config.
func TestDepsDefaultsAreTheConfigurations(t *testing.T) {
	cfg := config.Default().HTTP
	d := withDefaults(Deps{})
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"http.max_body_bytes", d.MaxBodyBytes, cfg.MaxBodyBytes},
		{"http.max_inflight_bytes", d.MaxInflightBytes, cfg.MaxInflightBytes},
		{"http.max_inflight", d.MaxInflight, cfg.MaxInflight},
		{"http.publish_timeout", d.PublishTimeout, cfg.PublishTimeout},
		{"http.body_timeout", d.BodyTimeout, cfg.BodyTimeout},
		{"http.max_inflight_per_ip", d.MaxInflightPerIP, cfg.MaxInflightPerIP},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.EqualValues(t, tc.want, tc.got) })
	}
}
