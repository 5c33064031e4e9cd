package service_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/samples"
)

// TestServeRefusesStaleHelpCrunchDeliveries: serve applies helpcrunch.max_age
// (default 5m) to HelpCrunch deliveries.
func TestServeRefusesStaleHelpCrunchDeliveries(t *testing.T) {
	svc := platformService(t, helpcrunchtest.New(helpcrunchtest.WithAPIKey("hc-api-key")), nil, nil)
	old := time.Now().Add(-config.DefaultHelpCrunchMaxAge - time.Minute)
	stale := samples.HelpCrunchAt("chat.rated", "7001", "evt-old", old, old)
	assert.Equal(t, http.StatusUnauthorized, postHelpCrunch(t, svc, stale, helpcrunch.Sign(stale, hcKey)))
	fresh := samples.HelpCrunch("chat.rated", "7001", "evt-new")
	assert.Equal(t, http.StatusOK, postHelpCrunch(t, svc, fresh, helpcrunch.Sign(fresh, hcKey)))
}

// The receiver's allowed clock skew and the one config adds to
// helpcrunch.max_age when it checks nats.duplicate_window must agree (config
// imports no platform package).
func TestHelpCrunchClockSkewAgrees(t *testing.T) {
	assert.Equal(t, helpcrunch.MaxClockSkew, config.HelpCrunchClockSkew)
}
