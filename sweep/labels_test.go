package sweep_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/sweep"
)

// TestSweepActionsHaveTheirOwnMetricLabel: the sweep's actions are in
// package event's list of known actions, so their metrics are not "other".
func TestSweepActionsHaveTheirOwnMetricLabel(t *testing.T) {
	for _, a := range []string{sweep.ActionUnassigned, sweep.ActionTick} {
		assert.Equal(t, a, event.ActionLabel(event.LiveChat, a))
	}
}
