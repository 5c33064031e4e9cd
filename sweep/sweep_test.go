package sweep_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/service"
	"github.com/chatwarden/chatwarden/sweep"
)

// workerConfig is a configuration for `work` against the fake at apiURL and
// the NATS server at natsURL, with a rule file of no rules (so the built-in
// sweep rule acts: only the built-in examples run in dry run).
func workerConfig(t *testing.T, apiURL, natsURL string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.NATS.URL = natsURL
	cfg.NATS.DataDir = t.TempDir()
	cfg.NATS.Listen = config.ListenOff
	cfg.LiveChat.APIURL = apiURL
	cfg.LiveChat.PAT = config.PAT{AccountID: "acc", Token: "tok"}
	cfg.LiveChat.RequestTimeout = 5 * time.Second
	cfg.Workers.Concurrency = 16
	cfg.Workers.AckWait = 5 * time.Second
	cfg.Workers.BackoffBase = 20 * time.Millisecond
	cfg.Workers.BackoffMax = 200 * time.Millisecond
	cfg.RulesFile = filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(cfg.RulesFile, []byte("rules: []\n"), 0o600))
	require.NoError(t, cfg.Validate())
	cfg.Workers.FailoverAfter = 2 * time.Second // below the validated minimum: a replica's partitions move on quickly
	return cfg
}

func startWorkers(t *testing.T, cfg *config.Config) *service.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := service.Start(ctx, cfg, service.Roles{Work: true}, service.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
	return svc
}

// unpins counts the successful unpins of each chat.
func unpins(fake *livechattest.Server) map[string]int {
	n := map[string]int{}
	for _, c := range fake.CallsTo("update_chat_properties") {
		var body struct {
			ID         string              `json:"id"`
			Properties livechat.Properties `json:"properties"`
		}
		if c.Status == 200 && json.Unmarshal(c.Body, &body) == nil {
			if v, ok := body.Properties.Bool("routing", "pinned"); ok && !v {
				n[body.ID]++
			}
		}
	}
	return n
}

func tooManyShare(fake *livechattest.Server) (tooMany, total int) {
	for _, c := range fake.Calls() {
		total++
		if c.Status == 429 {
			tooMany++
		}
	}
	return tooMany, total
}

// TestSweepUnpinsEveryChatExactlyOnce is the small version of the sweep
// benchmark (bench/sweep): 300 Unassigned chats, the fake limited to 300
// requests a second. A first sweep is interrupted once half the chats are
// unpinned, a second one finishes, a third finds nothing; every chat is
// unpinned exactly once and too_many_requests stay under 2% of the calls.
func TestSweepUnpinsEveryChatExactlyOnce(t *testing.T) {
	const chats = 300
	fake := livechattest.New(livechattest.WithRateLimit(300))
	url, stop := fake.Start()
	defer stop()
	for i := range chats {
		fake.AddChat(unassigned(fmt.Sprintf("C%04d", i), 49*time.Hour+time.Duration(i)*time.Second))
	}
	nats := bustest.Start(t)
	cfg := workerConfig(t, url, nats.URL())
	workers := startWorkers(t, cfg)
	b := workers.Bus()
	api, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(url))
	require.NoError(t, err)
	params := sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: 48 * time.Hour}
	since := time.Now().Add(-cfg.NATS.DuplicateWindow)

	run := func(ctx context.Context) (found int, pub sweep.Published, counts sweep.Counts, err error) {
		tracker, err := sweep.NewTracker(context.Background(), b.JS, event.LiveChat, sweep.ActionUnassigned, since, sweep.WithIdle(30*time.Second))
		require.NoError(t, err)
		defer tracker.Stop()
		sw := newSweeper(t, api, b)
		found1, err := sw.Find(ctx, params, nil)
		require.NoError(t, err)
		pub, err = sw.Publish(ctx, found1, params, sweep.PublishOptions{Window: tracker, Size: 32})
		if err == nil {
			err = tracker.WaitAll(ctx)
		}
		return len(found1), pub, tracker.Counts(), err
	}

	// Interrupted once half the chats are unpinned, as Ctrl-C would.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		for ctx.Err() == nil && len(unpins(fake)) < chats/2 {
			time.Sleep(5 * time.Millisecond)
		}
	}()
	found, pub, _, err := run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, chats, found)
	assert.Less(t, pub.Total(), chats, "interrupted before handing every chat over")

	// Run again: the rest, each chat once.
	found, pub, counts, err := run(context.Background())
	require.NoError(t, err)
	assert.Positive(t, found)
	assert.Less(t, found, chats, "chats already unpinned are not listed again")
	assert.Equal(t, found, pub.Total())
	assert.Equal(t, found, counts.Expected)
	assert.Zero(t, counts.Pending)
	assert.Zero(t, counts.Failed)
	assert.Equal(t, found, counts.Unpinned+counts.Skipped)

	n := unpins(fake)
	assert.Len(t, n, chats, "every chat unpinned")
	for id, times := range n {
		assert.Equal(t, 1, times, "chat %s unpinned once", id)
	}
	for _, c := range fake.Chats() {
		assert.False(t, c.Pinned(), "chat %s", c.ID)
	}

	// A third run finds nothing.
	found, _, _, err = run(context.Background())
	require.NoError(t, err)
	assert.Zero(t, found)

	tooMany, total := tooManyShare(fake)
	t.Logf("%d calls, %d too_many_requests", total, tooMany)
	assert.Less(t, float64(tooMany)/float64(total), 0.02, "too_many_requests under 2%% of the calls")
}

// TestTrackerCountsEveryOutcome sweeps three chats whose fates differ and
// checks the tracker's counts against the fake's records, then publishes the
// same events again: they are duplicates, and a tracker following from the
// past knows their decisions already.
func TestTrackerCountsEveryOutcome(t *testing.T) {
	fake := livechattest.New()
	url, stop := fake.Start()
	defer stop()
	for _, id := range []string{"OK", "TAKEN", "BROKEN"} {
		fake.AddChat(unassigned(id, 72*time.Hour))
	}
	nats := bustest.Start(t)
	cfg := workerConfig(t, url, nats.URL())
	workers := startWorkers(t, cfg)
	b := workers.Bus()
	api, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(url))
	require.NoError(t, err)
	params := sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: 48 * time.Hour}
	since := time.Now().Add(-time.Minute)

	sw := newSweeper(t, api, b)
	chats, err := sw.Find(context.Background(), params, nil)
	require.NoError(t, err)
	require.Len(t, chats, 3)
	// After the listing: an agent takes one chat, and the API refuses to
	// unpin another.
	taken, _ := fake.Chat("TAKEN")
	taken.Thread.Properties["routing"]["unassigned"] = false
	fake.AddChat(taken)
	fake.FailNext("update_chat_properties", 1, livechattest.Validation("properties.routing.pinned: refused"))

	tracker, err := sweep.NewTracker(context.Background(), b.JS, event.LiveChat, sweep.ActionUnassigned, since, sweep.WithIdle(30*time.Second))
	require.NoError(t, err)
	defer tracker.Stop()
	// BROKEN is first in line for the failure: publish it alone first.
	order := map[string]int{"BROKEN": 0, "OK": 1, "TAKEN": 2}
	sorted := make([]sweep.Chat, 3)
	for _, c := range chats {
		sorted[order[c.ID]] = c
	}
	pub, err := sw.Publish(context.Background(), sorted, params, sweep.PublishOptions{Window: tracker, Size: 1})
	require.NoError(t, err)
	assert.Equal(t, sweep.Published{Stored: 3}, pub)
	require.NoError(t, tracker.WaitAll(context.Background()))
	want := sweep.Counts{Expected: 3, Unpinned: 1, Skipped: 1, Failed: 1}
	assert.Equal(t, want, tracker.Counts())
	assert.Equal(t, map[string]int{"OK": 1}, unpins(fake))
	for id, status := range map[string]sweep.Status{"OK": sweep.Unpinned, "TAKEN": sweep.Skipped, "BROKEN": sweep.Failed} {
		assert.Equal(t, status, tracker.Status(sweep.EventID("", sorted[order[id]])), id)
	}

	again, err := sweep.NewTracker(context.Background(), b.JS, event.LiveChat, sweep.ActionUnassigned, since, sweep.WithIdle(30*time.Second))
	require.NoError(t, err)
	defer again.Stop()
	pub, err = sw.Publish(context.Background(), sorted, params, sweep.PublishOptions{Window: again, Size: 1})
	require.NoError(t, err)
	assert.Equal(t, sweep.Published{Duplicates: 3}, pub, "within the duplicate window: not stored again")
	require.NoError(t, again.WaitAll(context.Background()))
	assert.Equal(t, want, again.Counts())
}

func TestTrackerGivesUpWithoutWorkers(t *testing.T) {
	fake, api := startFake(t)
	fake.AddChat(unassigned("C1", 72*time.Hour))
	nats := bustest.Start(t)
	cfg := workerConfig(t, "http://127.0.0.1:1", nats.URL())
	workers := startWorkers(t, cfg)
	require.NoError(t, workers.Stop(context.Background())) // streams exist, nobody works
	b, err := busOpen(t, nats.URL())
	require.NoError(t, err)

	tracker, err := sweep.NewTracker(context.Background(), b.JS, event.LiveChat, sweep.ActionUnassigned, time.Now(), sweep.WithIdle(300*time.Millisecond))
	require.NoError(t, err)
	defer tracker.Stop()
	sw := newSweeper(t, api, b)
	chats, err := sw.Find(context.Background(), sweep.Params{Kind: sweep.KindLiveChatUnassigned}, nil)
	require.NoError(t, err)
	_, err = sw.Publish(context.Background(), chats, sweep.Params{Kind: sweep.KindLiveChatUnassigned}, sweep.PublishOptions{Window: tracker, Size: 5})
	require.NoError(t, err)
	err = tracker.WaitAll(context.Background())
	require.ErrorIs(t, err, sweep.ErrNoProgress)
	assert.Equal(t, sweep.Counts{Expected: 1, Pending: 1}, tracker.Counts())
}
