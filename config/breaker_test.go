package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBreakerAndDLQDefaults(t *testing.T) {
	c := Default()
	assert.Equal(t, Breaker{Window: 30 * time.Second, MinCalls: 5, FailureRatio: 0.5, ConsecutiveFailures: 5,
		ProbeInterval: 5 * time.Second, ProbeMax: time.Minute}, c.Breaker)
	assert.True(t, c.DLQ.AutoRetryOn())
	assert.Equal(t, 1000, c.DLQ.AutoRetryMax)

	off, err := Parse([]byte("dlq: {auto_retry: false, auto_retry_max: 5}\nbreaker: {probe_interval: 1s, probe_max: 2s}\n"), func(string) string { return "" })
	require.NoError(t, err)
	assert.False(t, off.DLQ.AutoRetryOn(), "auto_retry: false is kept, not defaulted")
	assert.Equal(t, 5, off.DLQ.AutoRetryMax)
	assert.Equal(t, time.Second, off.Breaker.ProbeInterval)
}

func TestValidateBreakerAndDLQ(t *testing.T) {
	for _, tt := range []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"ratio over 1", func(c *Config) { c.Breaker.FailureRatio = 1.5 }, `breaker.failure_ratio: must be over 0 and at most 1, got 1.5`},
		{"ratio negative", func(c *Config) { c.Breaker.FailureRatio = -0.1 }, `breaker.failure_ratio: must be over 0 and at most 1, got -0.1`},
		{"min calls negative", func(c *Config) { c.Breaker.MinCalls = -1 }, `breaker.min_calls: must be between 1 and 1000000, got -1`},
		{"consecutive negative", func(c *Config) { c.Breaker.ConsecutiveFailures = -1 }, `breaker.consecutive_failures: must be between 1 and 1000000, got -1`},
		{"window negative", func(c *Config) { c.Breaker.Window = -time.Second }, `breaker.window: must be a positive duration, got -1s`},
		{"probe max below interval", func(c *Config) { c.Breaker.ProbeInterval, c.Breaker.ProbeMax = time.Minute, time.Second },
			`breaker.probe_max: must be at least breaker.probe_interval (1m0s), got 1s`},
		{"auto retry max negative", func(c *Config) { c.DLQ.AutoRetryMax = -1 }, `dlq.auto_retry_max: must be between 1 and 1000000, got -1`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(c)
			err := c.Validate()
			require.Error(t, err)
			var got []string
			for _, fe := range problems(t, err) {
				got = append(got, fe.Error())
			}
			assert.Equal(t, []string{tt.want}, got)
		})
	}
}

func TestWarnsWhenAttemptsRunOutBeforeTheBreakerOpens(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		maxAttempts, breakAt int
		role                 Role
		want                 bool
	}{
		{"defaults: 5 below 8", 8, 5, RoleWorker, false},
		{"equal", 5, 5, RoleWorker, true},
		{"fewer attempts", 3, 5, RoleAll, true},
		{"a receiver calls no API", 3, 5, RoleReceiver, false},
		{"lowered", 3, 2, RoleWorker, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Workers.MaxAttempts, c.Breaker.ConsecutiveFailures = tc.maxAttempts, tc.breakAt
			found := false
			for _, w := range c.WarningsFor(tc.role) {
				if strings.HasPrefix(w, "breaker.consecutive_failures") {
					found = true
					assert.Contains(t, w, "workers.max_attempts")
				}
			}
			assert.Equal(t, tc.want, found)
		})
	}
}
