package rules_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/metrics"
	. "github.com/chatwarden/chatwarden/rules"
)

func TestReloadCountsOutcomes(t *testing.T) {
	const good = "rules:\n  - {name: one, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}\n"
	tests := []struct {
		name       string
		file       *string // nil: no file at the path
		wantOK     float64
		wantFailed float64
	}{
		{"valid file", ptr(good), 1, 0},
		{"expression that does not compile", ptr("rules:\n  - {name: b, on: livechat.chat_deactivated, if: nope, then: [{livechat.unpin: {}}]}\n"), 0, 1},
		{"YAML syntax error", ptr("rules: [\n"), 0, 1},
		{"missing file", nil, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rules.yaml")
			if tt.file != nil {
				require.NoError(t, os.WriteFile(path, []byte(*tt.file), 0o600))
			}
			m := metrics.New()
			h := newHarnessWithSet(t, mustLoad(t, good), WithMetrics(m))
			err := h.engine.Reload(path)
			assert.Equal(t, tt.wantFailed > 0, err != nil, "error: %v", err)
			assert.Equal(t, tt.wantOK, testutil.ToFloat64(m.RuleReloads.WithLabelValues(metrics.ReloadOK)), "ok")
			assert.Equal(t, tt.wantFailed, testutil.ToFloat64(m.RuleReloads.WithLabelValues(metrics.ReloadFailed)), "failed")
		})
	}
}

// A reload asked for by SIGHUP (the Watch signal) is counted the same way.
func TestWatchCountsFailedReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - {name: one, on: livechat.chat_deactivated, then: [{livechat.unpin: {}}]}\n"), 0o600))
	m := metrics.New()
	h := newHarnessWithSet(t, mustLoad(t, "rules: []\n"), WithMetrics(m))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan struct{}, 1)
	require.NoError(t, h.engine.Watch(ctx, path, sig))
	sig <- struct{}{}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, 1.0, testutil.ToFloat64(m.RuleReloads.WithLabelValues(metrics.ReloadOK)))
	}, 5*time.Second, 10*time.Millisecond)

	require.NoError(t, os.WriteFile(path, []byte("rules: [\n"), 0o600))
	sig <- struct{}{}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, testutil.ToFloat64(m.RuleReloads.WithLabelValues(metrics.ReloadFailed)), 1.0)
	}, 5*time.Second, 10*time.Millisecond, "the refused file counts as failed")
	assert.Equal(t, 1, h.engine.Rules().Len(), "the previous rules stay")
}

func mustLoad(t *testing.T, yaml string) *RuleSet {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	set, err := LoadFile(path, DefaultActions(), NewRegistry())
	require.NoError(t, err)
	return set
}
