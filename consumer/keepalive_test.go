package consumer

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
)

func TestJobConfirm(t *testing.T) {
	const limit = 3 * time.Second
	cases := []struct {
		name       string
		sent, done time.Duration // after the time the job was last surely this replica's
		want       time.Duration
	}{
		{name: "a keepalive confirmed in time extends it", sent: time.Second, done: 2 * time.Second, want: time.Second},
		{name: "confirmed just at the limit", sent: 2 * time.Second, done: limit, want: 2 * time.Second},
		{name: "confirmed after the limit does not count (sent into a broken connection)", sent: 2 * time.Second, done: limit + time.Millisecond, want: 0},
		{name: "an older keepalive does not move it back", sent: -time.Second, done: time.Second, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := &job{}
			j.alive.Store(t0.UnixNano())
			j.confirm(t0.Add(tc.sent), t0.Add(tc.done), limit)
			assert.Equal(t, t0.Add(tc.want).UnixNano(), j.alive.Load())
		})
	}
}

func TestRunnerLost(t *testing.T) {
	r := &Runner{ackWait: 4 * time.Second} // ownership limit 3s
	p := &partition{r: r, own: newOwnership[*job](r.ackWait, t0, 0)}
	md := &jetstream.MsgMetadata{}
	cases := []struct {
		name     string
		job      *job
		alive    time.Duration // ago
		pinMoved bool
		want     string // substring; "" = may act
	}{
		{name: "kept alive recently, pin unchanged", job: &job{part: p, md: md}, alive: time.Second},
		{name: "no keepalive confirmed for longer than three quarters of the ack wait", job: &job{part: p, md: md}, alive: time.Minute, want: "no keepalive of it confirmed"},
		{name: "pinned to another replica since it was received", job: &job{part: p, md: md}, alive: time.Second, pinMoved: true, want: "pinned the partition to another replica"},
		{name: "without metadata it is terminated without acting", job: &job{part: p}, alive: time.Minute},
		{name: "undecodable it is dead-lettered without acting", job: &job{part: p, md: md, err: errors.New("bad")}, alive: time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.own.pinGen = 0
			tc.job.alive.Store(time.Now().Add(-tc.alive).UnixNano())
			if tc.pinMoved {
				p.own.pinGen++
			}
			got := r.lost(tc.job)
			if tc.want == "" {
				assert.Empty(t, got)
			} else {
				assert.Contains(t, got, tc.want)
			}
		})
	}
}
