package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrokerBenchSmoke runs the benchmark small, with and without a
// consumer: every message must be stored and acknowledged, and the figures
// printed.
func TestBrokerBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server twice")
	}
	var out bytes.Buffer
	o := options{duration: time.Second, rate: 400, size: 1900, partitions: 4, dupWindow: time.Minute, consumers: []int{0, 2}, ack: "double"}
	err := run(context.Background(), o, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	assert.Contains(t, out.String(), "duplicate window 1m0s")
	figures := `\| 400 \| 0 \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ ms \| %s \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$`
	// Without consumers nothing is read; with two at 400/s they keep pace,
	// so they have read everything within the 30s the run waits.
	assert.Regexp(t, regexp.MustCompile(`(?m)^\| 0 `+fmt.Sprintf(figures, `- \| -`)), out.String())
	assert.Regexp(t, regexp.MustCompile(`(?m)^\| 2 `+fmt.Sprintf(figures, `\d+ \| [0-9.]+ ms`)), out.String())
}

func TestOptionsAreChecked(t *testing.T) {
	good := options{duration: time.Second, rate: 1, size: 1, partitions: 2, dupWindow: time.Minute, consumers: []int{0, 2}, ack: "single"}
	require.NoError(t, good.check())
	for name, tc := range map[string]struct {
		change func(*options)
		want   string
	}{
		"no duration":             {func(o *options) { o.duration = 0 }, "-duration must be positive"},
		"no rate":                 {func(o *options) { o.rate = 0 }, "-rate must be positive"},
		"no size":                 {func(o *options) { o.size = -1 }, "-size must be positive"},
		"no partitions":           {func(o *options) { o.partitions = 0 }, "-partitions must be positive"},
		"no duplicate window":     {func(o *options) { o.dupWindow = 0 }, "-duplicate-window must be positive"},
		"unknown ack":             {func(o *options) { o.ack = "triple" }, `-ack "triple": want double or single`},
		"more consumers than any": {func(o *options) { o.consumers = []int{3} }, "-consumers 3: at most one consumer per partition (-partitions 2)"},
	} {
		t.Run(name, func(t *testing.T) {
			o := good
			tc.change(&o)
			assert.EqualError(t, o.check(), tc.want)
		})
	}
}

func TestParseCounts(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want []int
		err  string
	}{
		"one":      {in: "16", want: []int{16}},
		"several":  {in: "0, 1,16", want: []int{0, 1, 16}},
		"negative": {in: "0,-1", err: `"-1" is not a count of consumers (0 or more)`},
		"word":     {in: "all", err: `"all" is not a count of consumers (0 or more)`},
		"empty":    {in: "", err: `"" is not a count of consumers (0 or more)`},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := parseCounts(tc.in)
			if tc.err != "" {
				assert.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
