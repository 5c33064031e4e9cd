package chaos_test

import (
	"testing"
	"time"
)

// TestChaos: webhooks at a steady rate to two receivers; two worker
// processes, the busier of which is killed with SIGKILL and restarted (the
// long form: one every few seconds); a LiveChat API failing at random (429,
// 500, hanging past the client timeout); the NATS node leading the events
// stream restarted once. Then: nothing accepted is lost, every required
// action was applied, in order per chat, one event of a chat at a time,
// non-idempotent ones once, and the only dead letters are the expected ones,
// each with a reason.
//
// The short form runs in the normal suite (about a minute and a half); the
// long form, as issue 5 specifies it, with -chaos.long or
// CHATWARDEN_CHAOS=long and -timeout 90m (see the package documentation).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: not in -short mode")
	}
	p := plan{
		name:     "chaos, short form",
		webhooks: 3000, chats: 300, ghostEvery: 50,
		rate:      100,
		dupShare:  0.02,
		receivers: 2, workers: 2, procWorkers: true,
		// 429 on 1% rather than the 10%, to finish in CI time: see
		// the long form below.
		api429: 0.01, api500: 0.05, apiHang: 0.01,
		killAt:     []float64{0.3},
		natsStopAt: 0.55, natsDownFor: 2 * time.Second,
		// chatwarden's defaults: a dead replica's events come back after
		// 10s, its partitions go to another after 15s.
		ackWait: 10 * time.Second, failoverAfter: 15 * time.Second,
		drainTimeout: 3 * time.Minute,
	}
	if longForm() {
		// Issue 5's long form. 429 on 10% of calls is above the share the
		// LiveChat client's adaptive limiter takes for a rate limit (2%),
		// so it keeps cutting its rate: the workers drain some 7 events/s
		// and the run takes most of an hour.
		p.name = "chaos, long form"
		p.webhooks, p.chats = 20000, 2000
		p.api429 = 0.10
		p.killAt, p.killEvery = nil, 5*time.Second
		p.natsStopAt = 0.5
		p.drainTimeout = 75 * time.Minute
	}
	s := newScenario(t, p)
	s.run()
	s.verify()
}
