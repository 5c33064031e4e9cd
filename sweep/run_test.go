package sweep_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/sweep"
)

// progressLog records the Progress hooks Run called.
type progressLog struct {
	following, waiting bool
	pages, total       int
	published          sweep.Published
}

func (p *progressLog) hooks() sweep.Progress {
	return sweep.Progress{
		Following:  func(*sweep.Tracker) { p.following = true },
		Listed:     func(sweep.ListProgress) { p.pages++ },
		Publishing: func(n int) { p.total = n },
		Published:  func(n sweep.Published) { p.published = n },
		Waiting:    func() { p.waiting = true },
	}
}

// TestRunWithoutWorkers runs sweeps that need no service: a dry run, one
// whose events are stored for later, and one whose listing fails.
func TestRunWithoutWorkers(t *testing.T) {
	fake, api := startFake(t)
	fake.AddChat(unassigned("OLD1", 72*time.Hour))
	fake.AddChat(unassigned("OLD2", 50*time.Hour))
	fake.AddChat(unassigned("YOUNG", time.Hour))
	params := sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: 48 * time.Hour}

	tests := []struct {
		name          string
		dryRun        bool
		failList      bool
		wantErr       bool
		wantListed    bool
		wantChats     []string
		wantPublished sweep.Published
	}{
		{name: "dry run lists and publishes nothing", dryRun: true, wantListed: true, wantChats: []string{"OLD1", "OLD2"}},
		{name: "no service: the events are stored for later", wantListed: true, wantChats: []string{"OLD1", "OLD2"},
			wantPublished: sweep.Published{Stored: 2}},
		{name: "a failed listing publishes nothing", failList: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.failList {
				fake.FailNext("list_archives", 1, livechattest.Validation("refused"))
			}
			pub := &memPublisher{}
			var prog progressLog
			res, err := sweep.Run(context.Background(), sweep.Deps{Lister: api, Publisher: pub, Logger: zaptest.NewLogger(t),
				Progress: prog.hooks()}, sweep.RunParams{Params: params, DryRun: tt.dryRun, Window: 4})
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantListed, res.Listed)
			var ids []string
			for _, c := range res.Chats {
				ids = append(ids, c.ID)
			}
			assert.Equal(t, tt.wantChats, ids, "oldest first")
			assert.Equal(t, tt.wantPublished, res.Published)
			assert.Len(t, pub.evs, tt.wantPublished.Stored)
			assert.Nil(t, res.Decisions, "nothing follows the decisions without a service")
			assert.False(t, prog.following)
			assert.False(t, prog.waiting)
			if !tt.failList {
				assert.Equal(t, 1, prog.pages)
			}
		})
	}
}

// TestRunWaitsForTheWorkers runs a sweep against running workers: it
// returns once every chat is decided, with the decisions counted.
func TestRunWaitsForTheWorkers(t *testing.T) {
	fake := livechattest.New()
	url, stop := fake.Start()
	defer stop()
	for _, id := range []string{"C1", "C2", "C3"} {
		fake.AddChat(unassigned(id, 72*time.Hour))
	}
	nats := bustest.Start(t)
	cfg := workerConfig(t, url, nats.URL())
	b := startWorkers(t, cfg).Bus()
	api, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(url))
	require.NoError(t, err)

	var prog progressLog
	res, err := sweep.Run(context.Background(), sweep.Deps{Lister: api, Publisher: b, Decisions: b.JS, Logger: zaptest.NewLogger(t),
		Progress: prog.hooks()}, sweep.RunParams{
		Params: sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: 48 * time.Hour},
		Window: 1, Idle: 30 * time.Second, Lookback: time.Minute,
	})
	require.NoError(t, err)
	assert.True(t, res.Listed)
	assert.Len(t, res.Chats, 3)
	assert.Equal(t, sweep.Published{Stored: 3}, res.Published)
	require.NotNil(t, res.Decisions)
	assert.Equal(t, sweep.Counts{Expected: 3, Unpinned: 3}, *res.Decisions)
	assert.Equal(t, map[string]int{"C1": 1, "C2": 1, "C3": 1}, unpins(fake))
	assert.True(t, prog.following)
	assert.True(t, prog.waiting)
	assert.Equal(t, 3, prog.total)
	assert.Equal(t, sweep.Published{Stored: 3}, prog.published)
}

// TestRunGivesUpWithoutWorkers: streams exist but nobody works; Run
// returns ErrNoProgress after Idle, with what it published.
func TestRunGivesUpWithoutWorkers(t *testing.T) {
	fake, api := startFake(t)
	fake.AddChat(unassigned("C1", 72*time.Hour))
	nats := bustest.Start(t)
	workers := startWorkers(t, workerConfig(t, "http://127.0.0.1:1", nats.URL()))
	require.NoError(t, workers.Stop(context.Background()))
	b, err := busOpen(t, nats.URL())
	require.NoError(t, err)

	res, err := sweep.Run(context.Background(), sweep.Deps{Lister: api, Publisher: b, Decisions: b.JS},
		sweep.RunParams{Params: sweep.Params{Kind: sweep.KindLiveChatUnassigned}, Window: 5, Idle: 300 * time.Millisecond})
	require.ErrorIs(t, err, sweep.ErrNoProgress)
	assert.True(t, res.Listed)
	assert.Equal(t, sweep.Published{Stored: 1}, res.Published)
	require.NotNil(t, res.Decisions)
	assert.Equal(t, sweep.Counts{Expected: 1, Pending: 1}, *res.Decisions)
}
