package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/internal/replay"
)

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
		counts[replay.Bucket(o, false)]++
	}
	var b strings.Builder
	writeReplayCounts(&b, counts)
	assert.Equal(t, "  skipped    7\n  no_rule    2\n  total      9\n", b.String())
}
