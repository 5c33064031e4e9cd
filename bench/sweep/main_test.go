package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSweepBenchSmoke runs the benchmark small: it fails by itself when a
// chat is not unpinned exactly once, when a second run finds chats, or when
// the interrupted run could not be interrupted.
func TestSweepBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline twice")
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-chats", "150", "-rate", "300", "-workers", "8", "-timeout", "2m"}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`(?m)^clean\s+first\s+150\s.*\s150\s+1/1\s`), out.String())
	assert.Regexp(t, regexp.MustCompile(`(?m)^clean\s+again\s+0\s`), out.String())
	assert.Regexp(t, regexp.MustCompile(`(?m)^interrupted\s+both\s.*\s150\s+1/1\s`), out.String())
}
