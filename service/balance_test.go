package service_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

// releasing is what a worker replica logs when it hands a partition over.
const releasing = "releasing a partition to balance the worker replicas"

// TestBalanceEveryPacesTheHandOver: workers.balance_every is the period at
// which a replica owning more than its share hands a partition over.
// Replica A has handled an event of each of the 16 partitions when B
// starts; A must then release 8, one per period. At the configured 200ms
// that takes a few seconds; the 30s bound is generous for CI (2 cores,
// -race) and still below the 52s that 8 periods of the 10s default take at
// the least (seven whole periods of 7.5s, the shortest jittered one), so
// only the configured period meets it.
func TestBalanceEveryPacesTheHandOver(t *testing.T) {
	srv := bustest.Start(t)
	_, url := startFake(t)
	cfg := testConfig(t, url, srv.URL())
	partitions := cfg.NATS.Partitions
	cfg.Workers.BalanceEvery = 200 * time.Millisecond // below the validated 1s, to keep the test short
	core, logs := observer.New(zapcore.InfoLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := service.Start(ctx, cfg, both, service.WithLogger(zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})

	// One chat of each partition: a replica learns it holds a partition
	// from a delivery, so events keep coming while the partitions move.
	var chats []string
	covered := map[int]bool{}
	for i := 0; len(covered) < partitions; i++ {
		chat := fmt.Sprintf("BAL%d", i)
		if p := event.Partition(event.LiveChat, chat, partitions); !covered[p] {
			covered[p] = true
			chats = append(chats, chat)
		}
	}
	rounds := 0
	round := func(t require.TestingT) { // a new thread each round: not a duplicate
		rounds++
		for _, chat := range chats {
			body := samples.LiveChat("chat_deactivated", secret, chat, fmt.Sprintf("T-%s-%d", chat, rounds))
			require.Equal(t, http.StatusOK, post(t, a, body).StatusCode)
		}
	}
	round(t)
	waitIdle(t, a.Bus().JS)
	require.Zero(t, logs.FilterMessage(releasing).Len(), "alone, A keeps every partition")

	cfgB := testConfig(t, url, srv.URL())
	cfgB.Workers.BalanceEvery = 200 * time.Millisecond
	start(t, cfgB, service.Roles{Work: true})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		round(ct)
		assert.GreaterOrEqual(ct, logs.FilterMessage(releasing).Len(), partitions/2, "A released its extra partitions")
	}, 30*time.Second, 300*time.Millisecond)
}
