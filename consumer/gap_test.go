package consumer

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGapGuard(t *testing.T) {
	cases := []struct {
		name string
		seqs []uint64
		lost []uint64 // after each delivery
	}{
		{"in order", []uint64{1, 2, 3}, []uint64{0, 0, 0}},
		{"the first delivery seen is never a gap", []uint64{57, 58}, []uint64{0, 0}},
		{"a jump reports the deliveries skipped", []uint64{1, 4, 5, 9}, []uint64{0, 2, 0, 3}},
		{"a recreated consumer starts over without a gap", []uint64{40, 1, 2}, []uint64{0, 0, 0}},
		{"a repeated sequence is not a gap", []uint64{3, 3, 4}, []uint64{0, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var g gapGuard
			for i, seq := range tc.seqs {
				assert.Equal(t, tc.lost[i], g.observe(seq), "delivery %d (seq %d)", i, seq)
			}
		})
	}
}
