package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary serve as the benchmark's child process.
func TestMain(m *testing.M) {
	serveIfChild()
	os.Exit(m.Run())
}

// TestE2ESmoke runs the benchmark small: it fails by itself when an
// accepted webhook's action never reaches the API stand-in, and the
// report must count every webhook offered as accepted and applied.
func TestE2ESmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chatwarden serve in a child process")
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-rate", "50", "-duration", "2s", "-warmup", "0s", "-conns", "4"}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`(?m)^offered\s+100$`), out.String())
	assert.Regexp(t, regexp.MustCompile(`(?m)^accepted\s+100 \(other answers 0, errors 0\)$`), out.String())
	assert.Regexp(t, regexp.MustCompile(`(?m)^applied\s+100 of the accepted`), out.String())
	assert.Regexp(t, regexp.MustCompile(`(?m)^applied/s \d+ \(100 applied of the measured phase`), out.String())
	assert.Regexp(t, regexp.MustCompile(`webhook due -> action at the API:\s+p50 \S+\s+p90 \S+\s+p99 \S+\s+max \S+\s+\(100 measured\)`), out.String())
	assert.Regexp(t, regexp.MustCompile(`chatwarden_webhook_to_action_seconds .*\(100 observed\)`), out.String())
}

func TestParseHistogram(t *testing.T) {
	const text = `# TYPE chatwarden_webhook_to_action_seconds histogram
chatwarden_webhook_to_action_seconds_bucket{platform="livechat",le="0.005"} 2
chatwarden_webhook_to_action_seconds_bucket{platform="livechat",le="0.01"} 8
chatwarden_webhook_to_action_seconds_bucket{platform="livechat",le="+Inf"} 10
chatwarden_webhook_to_action_seconds_bucket{platform="helpcrunch",le="0.005"} 0
chatwarden_webhook_to_action_seconds_bucket{platform="helpcrunch",le="0.01"} 0
chatwarden_webhook_to_action_seconds_bucket{platform="helpcrunch",le="+Inf"} 10
chatwarden_webhook_to_action_seconds_count{platform="livechat"} 10
`
	for _, tc := range []struct {
		name string
		q    float64
		want string
	}{
		{"low quantile in the first bucket", 0.1, (5 * time.Millisecond).String()},
		{"median above every finite bucket", 0.5, "+Inf"},
		{"a quantile within the second bucket", 0.4, (10 * time.Millisecond).String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseHistogram(text, "chatwarden_webhook_to_action_seconds")
			require.NoError(t, err)
			assert.EqualValues(t, 20, h.count, "summed over platforms")
			assert.Equal(t, tc.want, h.quantile(tc.q))
		})
	}
	_, err := parseHistogram("other_metric 1\n", "chatwarden_webhook_to_action_seconds")
	assert.ErrorContains(t, err, "not exported")
}
