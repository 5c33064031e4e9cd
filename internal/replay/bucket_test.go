package replay

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/audit"
)

// Moved here from cli/replay_test.go with the code; the cases are the same.
func TestEventBucket(t *testing.T) {
	tests := []struct {
		name     string
		outcomes []string
		failed   bool
		want     string
	}{
		{"no rule matched", nil, false, NoRule},
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
			assert.Equal(t, tt.want, Bucket(tt.outcomes, tt.failed))
		})
	}
}
