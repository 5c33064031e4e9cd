package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadScriptSmoke runs the load script briefly against both targets and
// checks that every request was answered 200 by each.
func TestLoadScriptSmoke(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-duration", "2s", "-requests", "300", "-concurrency", "4"}, &out))
	t.Log("\n" + out.String())
	for _, target := range []string{"chatwarden", "reference"} {
		m := regexp.MustCompile(`(?m)^` + target + `\s+(\d+)\s+(\d+)\s+(\d+)\s`).FindStringSubmatch(out.String())
		require.NotNil(t, m, "a result line for %s", target)
		n, _ := strconv.Atoi(m[1])
		assert.Equal(t, 300, n, "%s answered every request", target)
		assert.Equal(t, "0", m[2], "%s: transport errors", target)
		assert.Equal(t, "0", m[3], "%s: answers other than 200", target)
	}
}
