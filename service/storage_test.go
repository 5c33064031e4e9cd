package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/console"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/testfs"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/service"
)

// TestFullDiskHealsByItself fills the real filesystem under nats.data_dir (a
// 20 MiB tmpfs): webhooks must be answered 503 storage_full at once, with
// /readyz and the console saying so and one warning per state change; once
// the filler is removed, storing must resume by itself within seconds, and
// every webhook answered 200, before and after, must be stored and applied.
func TestFullDiskHealsByItself(t *testing.T) {
	tests := []struct {
		name string
		// fillAtStart leaves little room before the service starts:
		// JetStream then caps its store at 75% of it and answers
		// "insufficient resources" at the cap. Otherwise the disk fills while
		// the service runs: the store's writes fail with ENOSPC, and the
		// server answers nothing.
		fillAtStart bool
	}{
		{"disk fills while running (no space left on device)", false},
		{"little room at start (JetStream's cap)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testfs.Tmpfs(t, 20<<20)
			fake, url := startFake(t)
			cfg := testConfig(t, url, "")
			cfg.NATS.DataDir = filepath.Join(dir, "data")
			cfg.HTTP.PublishTimeout = config.DefaultPublishTimeout // a 503 that waited for it would show
			var filler string
			if tt.fillAtStart {
				filler = testfs.Fill(t, dir, 1<<20)
			}
			core, logs := observer.New(zapcore.InfoLevel)
			logger := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			svc, err := service.Start(ctx, cfg, both, service.WithLogger(logger))
			require.NoError(t, err)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = svc.Stop(ctx)
			})

			var accepted []string
			next := 0
			postNext := func(t require.TestingT) (*http.Response, time.Duration) {
				id := fmt.Sprintf("C%05d", next)
				next++
				fake.AddChat(livechattest.UnassignedChat(id, time.Now().Add(-time.Hour)))
				start := time.Now()
				resp := post(t, svc, deactivated(id))
				if resp.StatusCode == http.StatusOK {
					accepted = append(accepted, id)
				}
				return resp, time.Since(start)
			}

			if !tt.fillAtStart {
				for range 20 {
					resp, _ := postNext(t)
					require.Equal(t, http.StatusOK, resp.StatusCode, "before the disk fills")
				}
				filler = testfs.Fill(t, dir, 64<<10)
			}
			// Until the store refuses: a few dozen webhooks on a full disk, a
			// thousand or so up to the cap.
			refused := false
			for range 5000 {
				if resp, _ := postNext(t); resp.StatusCode == http.StatusServiceUnavailable {
					refused = true
					break
				}
			}
			require.True(t, refused, "the store never refused; %d webhooks accepted", len(accepted))

			for i := range 5 {
				resp, took := postNext(t)
				assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "webhook %d while full", i)
				assert.Equal(t, "5", resp.Header.Get("Retry-After"))
				assert.Less(t, took, time.Second, "answered at once, not after http.publish_timeout (5s)")
			}
			assert.GreaterOrEqual(t, testutil.ToFloat64(svc.Metrics().WebhooksRejected.WithLabelValues(event.LiveChat, bus.ReasonStorageFull)), 5.0)
			code, body := getJSON(t, "http://"+svc.Addr()+"/readyz", "")
			assert.Equal(t, http.StatusServiceUnavailable, code)
			assert.Equal(t, bus.ReasonStorageFull, body["reason"], "readyz names the cause: %v", body)
			var ov console.Overview
			getInto(t, "http://"+svc.AdminAddr()+"/admin/api/overview", testAdminToken, &ov)
			require.NotNil(t, ov.Store)
			assert.Equal(t, bus.ReasonStorageFull, ov.Store.Reason, "the console shows it")
			assert.NotEmpty(t, ov.Store.Cause)

			require.NoError(t, os.Remove(filler))
			removed := time.Now()
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				resp, _ := postNext(c)
				assert.Equal(c, http.StatusOK, resp.StatusCode)
			}, 20*time.Second, 100*time.Millisecond, "storing resumes by itself once there is room")
			t.Logf("storing again %s after the filler was removed; %d webhooks accepted", time.Since(removed).Round(time.Millisecond), len(accepted))
			for i := range 20 {
				resp, _ := postNext(t)
				assert.Equal(t, http.StatusOK, resp.StatusCode, "webhook %d after recovery", i)
			}
			code, _ = getJSON(t, "http://"+svc.Addr()+"/readyz", "")
			assert.Equal(t, http.StatusOK, code)

			refusals := logs.FilterMessageSnippet("the broker cannot store events").FilterField(zap.String("reason", bus.ReasonStorageFull))
			assert.Equal(t, 1, refusals.Len(), "one warning when it began, not one per webhook")
			for _, e := range refusals.All() {
				assert.Equal(t, zapcore.WarnLevel, e.Level)
			}
			assert.Zero(t, logs.FilterMessage("webhook rejected").Len(), "no line per refused webhook")
			assert.Equal(t, 1, logs.FilterMessage("the broker stores events again").Len())

			// Nothing accepted is lost or damaged: every one is stored, readable, and applied.
			stored := storedChats(t, svc.Bus().JS)
			for _, id := range accepted {
				assert.Equal(t, 1, stored[id], "accepted chat %s stored once", id)
			}
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				for _, id := range accepted {
					ch, ok := fake.Chat(id)
					if assert.True(c, ok) {
						assert.False(c, ch.Pinned(), "chat %s unpinned", id)
					}
				}
			}, time.Minute, 100*time.Millisecond, "generous for CI: hundreds of events through workers that were held up")
			waitIdle(t, svc.Bus().JS)
			assert.Empty(t, deadLetters(t, svc.Bus().JS))
		})
	}
}

// storedChats reads the whole events stream and counts the stored events of
// each chat; a message that does not decode fails the test.
func storedChats(t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Nil(t, info.State.Lost, "the stream lost messages")
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{event.SubjectPrefix + ".>"}})
	require.NoError(t, err)
	chats := map[string]int{}
	if info.State.Msgs == 0 {
		return chats
	}
	for {
		msg, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err)
		md, err := msg.Metadata()
		require.NoError(t, err)
		ev, err := event.Unmarshal(msg.Data())
		require.NoError(t, err, "stored event %d decodes", md.Sequence.Stream)
		chats[ev.ChatID]++
		if md.NumPending == 0 {
			return chats
		}
	}
}

// getJSON GETs url (with token as bearer when set) and decodes a JSON object
// body, if any.
func getJSON(t require.TestingT, url, token string) (int, map[string]string) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	var body map[string]string
	return getInto(t, url, token, &body), body
}

func getInto(t require.TestingT, url, token string, v any) int {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") == "application/json" || resp.Header.Get("Content-Type") == "application/json; charset=UTF-8" {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp.StatusCode
}
