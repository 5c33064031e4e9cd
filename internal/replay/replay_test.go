package replay_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/replay"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/platform"
	_ "github.com/chatwarden/chatwarden/platform/all"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/samples"
)

const unpinRule = `rules:
  - name: unpin-abandoned-unassigned
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
`

// TestRun stores four events (an unpinnable chat, an assigned one, an
// action no rule listens to, a chat whose unpin the API refuses) and
// replays them: in dry run, for one chat, then all of them; each time every
// event counts in exactly one bucket.
func TestRun(t *testing.T) {
	fake := livechattest.New()
	url, stop := fake.Start()
	defer stop()
	old := time.Now().Add(-72 * time.Hour)
	for _, id := range []string{"A", "D"} {
		fake.AddChat(livechattest.UnassignedChat(id, old))
	}
	assigned := livechattest.UnassignedChat("B", old)
	assigned.Thread.Properties["routing"]["unassigned"] = false
	fake.AddChat(assigned)
	client, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(url))
	require.NoError(t, err)

	nats := bustest.Start(t)
	ctx := context.Background()
	b, err := bus.Open(ctx, config.NATS{URL: nats.URL(), Name: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 16, DuplicateWindow: time.Minute, Retention: time.Hour, Replicas: 1}))
	since := time.Now().Add(-time.Second)
	for _, w := range []struct{ action, chat string }{
		{"chat_deactivated", "A"}, {"chat_deactivated", "B"}, {"incoming_chat", "C"}, {"chat_deactivated", "D"},
	} {
		ev, _, err := livechat.ParseWebhook(samples.LiveChat(w.action, "s", w.chat, "T"+w.chat), time.Now())
		require.NoError(t, err)
		_, err = b.Publish(ctx, ev)
		require.NoError(t, err)
	}
	kv, err := bus.ProvisionDoneBucket(ctx, b.JS, 1, zaptest.NewLogger(t))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(unpinRule), 0o600))
	set, err := rules.LoadFile(path, platform.Actions(), rules.DefaultRegistry())
	require.NoError(t, err)
	deps := replay.Deps{JS: b.JS, Partitions: b.Partitions(), Rules: set, Clients: rules.ClientMap{event.LiveChat: client},
		Done: rules.KVDoneStore{KV: kv}, Logger: zaptest.NewLogger(t)}

	tests := []struct {
		name        string
		params      replay.Params
		arm         func()
		wantEvents  int
		wantBuckets map[string]int
		wantUnpins  int // successful update_chat_properties calls during the run
	}{
		{"dry run calls nothing", replay.Params{DryRun: true}, nil, 4,
			map[string]int{audit.DryRun: 2, audit.Skipped: 1, replay.NoRule: 1}, 0},
		{"one chat", replay.Params{Chat: "A"}, nil, 1, map[string]int{audit.Acted: 1}, 1},
		{"all: A is unpinned already, D's unpin is refused", replay.Params{},
			func() { fake.FailNext("update_chat_properties", 1, livechattest.Validation("refused")) }, 4,
			map[string]int{audit.Skipped: 2, replay.NoRule: 1, audit.Failed: 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.arm != nil {
				tt.arm()
			}
			fake.ResetCalls()
			tt.params.Since = since
			var progress []int
			d := deps
			d.Progress = func(n int) { progress = append(progress, n) }
			res, err := replay.Run(ctx, d, tt.params)
			require.NoError(t, err)
			assert.Equal(t, tt.wantEvents, res.Events)
			assert.Equal(t, tt.wantBuckets, res.Buckets)
			assert.Equal(t, 1, res.Rules)
			assert.Equal(t, tt.wantBuckets[audit.Failed], res.Failed)
			assert.Len(t, res.Errors, min(1, res.Failed))
			unpins := 0
			for _, c := range fake.CallsTo("update_chat_properties") {
				if c.Status == 200 {
					unpins++
				}
			}
			assert.Equal(t, tt.wantUnpins, unpins)
			assert.Empty(t, progress, "fewer than replay.ProgressEvery events")
		})
	}
}
