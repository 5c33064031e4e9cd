package consumer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSuperseded(t *testing.T) {
	r := &Runner{ackWait: time.Second, applied: map[string]lastApplied{}}
	r.noteApplied("A", 10)
	r.noteApplied("A", 7) // an older one applied again: the newest stays
	r.noteApplied("B", 3)
	cases := []struct {
		name string
		key  string
		seq  uint64
		want bool
	}{
		{name: "older than the last applied", key: "A", seq: 9, want: true},
		{name: "the last applied itself (its redelivery may run again)", key: "A", seq: 10, want: false},
		{name: "newer", key: "A", seq: 11, want: false},
		{name: "another chat", key: "B", seq: 2, want: true},
		{name: "a chat never applied here", key: "C", seq: 1, want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, r.superseded(tc.key, tc.seq))
		})
	}
	r.applied["B"] = lastApplied{streamSeq: 3, at: time.Now().Add(-appliedKeep*r.ackWait - time.Millisecond)}
	r.forgetApplied(time.Now())
	assert.False(t, r.superseded("B", 2), "forgotten after appliedKeep ack waits")
	assert.True(t, r.superseded("A", 9), "kept while recent")
}
