package bustest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus/bustest"
)

// TestClusterSurvivesANodeRestart: a replicated stream on a 3-node cluster
// keeps accepting messages while one node is down, and the node catches up
// when it comes back with its store.
func TestClusterSurvivesANodeRestart(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	require.NotNil(t, c.Leader())
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3, Storage: jetstream.FileStorage})
	require.NoError(t, err)

	publish := func(from, to int) {
		for i := from; i < to; i++ {
			require.Eventually(t, func() bool {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				_, err := js.Publish(pctx, "t.x", []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint(i)))
				return err == nil
			}, 20*time.Second, 50*time.Millisecond, "publish %d", i)
		}
	}
	publish(0, 10)
	// Stop the node the client is connected to: it has to fail over too.
	var victim *bustest.Node
	for _, nd := range c.Nodes() {
		if nd.URL() == nc.ConnectedUrl() {
			victim = nd
		}
	}
	require.NotNil(t, victim, "connected to %s", nc.ConnectedUrl())
	victim.Stop()
	assert.False(t, victim.Running())
	publish(10, 20)
	victim.Restart()
	publish(20, 30)

	require.Eventually(t, func() bool {
		return victim.Server().JetStreamIsStreamCurrent("$G", "T")
	}, 20*time.Second, 50*time.Millisecond, "the restarted node catches up")
	st, err := js.Stream(ctx, "T")
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(30), info.State.Msgs)
	assert.Len(t, info.Cluster.Replicas, 2)
}
