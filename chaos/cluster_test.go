package chaos_test

import (
	"testing"
	"time"
)

// TestClusterNodeStop: chatwarden as two replicas with different roles (a
// receiver, a worker; service.Start) against a 3-node NATS cluster with
// nats.replicas 3. The node leading the events stream is stopped mid-run and
// started again a few seconds later, while webhooks keep coming; the LiveChat
// API does not fail. Every webhook answered 200 is in the stream, the rules
// acted on every chat as required, in order, and nothing was dead-lettered
// but the events of the chats unknown to the API.
func TestClusterNodeStop(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: not in -short mode")
	}
	s := newScenario(t, plan{
		name:     "cluster node stop",
		webhooks: 1500, chats: 150, ghostEvery: 50,
		rate:      100,
		receivers: 1, workers: 1,
		natsStopAt: 0.3, natsDownFor: 5 * time.Second,
		ackWait: 10 * time.Second, failoverAfter: 15 * time.Second,
		drainTimeout: 2 * time.Minute,
	})
	s.run()
	s.verify()
}
