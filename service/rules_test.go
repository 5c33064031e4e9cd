package service_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

const delayedUnpin = `
rules:
  - name: unpin-later
    on: [livechat.incoming_chat]
    if: chat.unassigned && chat.pinned
    after: 3s
    enrich: chat
    then:
      - livechat.unpin: {}
`

// TestDelayedRecheckSurvivesRestart stops the whole service (embedded NATS
// included) while a re-check is pending, starts it again on the same data
// directory, and checks the re-check runs then, acting only if the
// condition still holds.
func TestDelayedRecheckSurvivesRestart(t *testing.T) {
	tests := []struct {
		name      string
		meanwhile func(fake *livechattest.Server)
		wantUnpin int
		wantLast  string
	}{
		{"condition still holds: acts", func(*livechattest.Server) {}, 1, audit.Acted},
		{"an agent took the chat meanwhile: does not act", func(fake *livechattest.Server) {
			c, _ := fake.Chat("C1")
			c.Thread.Properties["routing"]["unassigned"] = false
			fake.AddChat(c)
		}, 0, audit.Skipped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, url := startFake(t)
			c := livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour))
			c.Thread.ID = "T-C1"
			fake.AddChat(c)
			cfg := testConfig(t, url, "")
			cfg.RulesFile = writeRules(t, delayedUnpin)

			ctx := context.Background()
			first, err := service.Start(ctx, cfg, both, service.WithLogger(zaptest.NewLogger(t)))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, post(t, first, samples.LiveChat("incoming_chat", secret, "C1", "T-C1")).StatusCode)
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				recs := auditOf(c, first.Bus().JS, "C1")
				require.Len(c, recs, 1)
				assert.Equal(c, audit.Scheduled, recs[0].Outcome)
			}, 10*time.Second, 20*time.Millisecond)
			require.NoError(t, first.Stop(ctx))

			tt.meanwhile(fake)
			second := start(t, cfg, both)
			require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, auditOf(c, second.Bus().JS, "C1"), 2) }, 20*time.Second, 50*time.Millisecond)
			recs := auditOf(t, second.Bus().JS, "C1")
			assert.Equal(t, tt.wantLast, recs[1].Outcome)
			assert.Equal(t, "unpin-later", recs[1].Rule)
			assert.Equal(t, tt.wantUnpin, unpinCalls(fake, "C1"))
			assert.GreaterOrEqual(t, recs[1].Time.Sub(recs[0].Time), 3*time.Second-100*time.Millisecond, "not before it is due")
		})
	}
}
