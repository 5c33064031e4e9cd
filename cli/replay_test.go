package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/audit"
)

func TestEventBucket(t *testing.T) {
	tests := []struct {
		name     string
		outcomes []string
		failed   bool
		want     string
	}{
		{"no rule matched", nil, false, noRule},
		{"one skip", []string{audit.Skipped}, false, audit.Skipped},
		{"two rules skipped count once", []string{audit.Skipped, audit.Skipped}, false, audit.Skipped},
		{"acted beats skipped", []string{audit.Skipped, audit.Acted}, false, audit.Acted},
		{"dry run beats scheduled", []string{audit.Scheduled, audit.DryRun}, false, audit.DryRun},
		{"failed record", []string{audit.Acted, audit.Failed}, false, audit.Failed},
		{"handling failed without a record", nil, true, audit.Failed},
		{"unknown outcome kept", []string{"deferred"}, false, "deferred"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, eventBucket(tt.outcomes, tt.failed))
		})
	}
}

func TestWriteReplayCountsAddsUp(t *testing.T) {
	// Nine events: seven skipped, two that matched no rule (the two the
	// summary used to leave out).
	var events [][]string
	for range 7 {
		events = append(events, []string{audit.Skipped, audit.Skipped})
	}
	events = append(events, nil, nil)
	counts := map[string]int{}
	for _, o := range events {
		counts[eventBucket(o, false)]++
	}
	var b strings.Builder
	writeReplayCounts(&b, counts)
	assert.Equal(t, "  skipped    7\n  no_rule    2\n  total      9\n", b.String())
}
