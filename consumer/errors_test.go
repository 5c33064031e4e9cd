package consumer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestClassify(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name          string
		err           error
		wantPermanent bool
		wantHint      time.Duration
	}{
		{"nil", nil, false, 0},
		{"plain error is retryable", base, false, 0},
		{"permanent", Permanent("validation", base), true, 0},
		{"wrapped permanent", fmt.Errorf("rule x: %w", Permanent("not_found", base)), true, 0},
		{"permanent inside an action error", &ActionError{Rule: "r", Action: "a", Err: Permanent("validation", base)}, true, 0},
		{"retry with hint", Retry(base, 3*time.Second), false, 3 * time.Second},
		{"wrapped retry", fmt.Errorf("x: %w", Retry(base, time.Second)), false, time.Second},
		{"outermost wins: retry around permanent", Retry(Permanent("validation", base), 2*time.Second), false, 2 * time.Second},
		{"outermost wins: permanent around retry", Permanent("x", Retry(base, time.Second)), true, 0},
		{"joined: first classified wins", errors.Join(base, Permanent("v", base), Retry(base, 0)), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, h := Classify(tt.err)
			assert.Equal(t, tt.wantPermanent, p)
			assert.Equal(t, tt.wantHint, h)
		})
	}
	assert.Nil(t, Permanent("x", nil))
	assert.Nil(t, Retry(nil, time.Second))
	assert.ErrorIs(t, &ActionError{Err: Permanent("v", base)}, base)
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	tests := []struct {
		name     string
		attempt  uint64
		hint     time.Duration
		min, max time.Duration
	}{
		{"first retry", 1, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{"doubles", 3, 0, 200 * time.Millisecond, 400 * time.Millisecond},
		{"capped", 30, 0, time.Second, 2 * time.Second},
		{"hint wins when longer", 1, 5 * time.Second, 5 * time.Second, 5500 * time.Millisecond},
		{"backoff wins when longer than the hint", 5, 10 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for i := 0; i < 200; i++ {
				d := b.Delay(tt.attempt, tt.hint)
				assert.GreaterOrEqual(t, d, tt.min)
				assert.LessOrEqual(t, d, tt.max)
				seen[d] = true
			}
			assert.Greater(t, len(seen), 1, "jittered")
		})
	}
	assert.LessOrEqual(t, Backoff{}.Delay(1, 0), time.Second, "defaults apply")
}

func TestAttemptInContext(t *testing.T) {
	assert.Equal(t, uint64(0), Attempt(context.Background()))
	assert.Equal(t, uint64(3), Attempt(WithAttempt(context.Background(), 3)))
}
