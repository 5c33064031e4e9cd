package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFloorAppliesEveryWebhookOnce drives the floor as the benchmark does:
// distinct webhooks and a repeated one in, one tag_thread call per distinct
// chat out (the message id collapses the repeat), and /count agreeing; with
// -audit, one audit record stored per distinct chat, none without.
func TestFloorAppliesEveryWebhookOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server")
	}
	for _, tc := range []struct {
		name  string
		audit bool
	}{
		{"call", false},
		{"call with audit records", true},
	} {
		t.Run(tc.name, func(t *testing.T) { testFloor(t, tc.audit) })
	}
}

func testFloor(t *testing.T, audit bool) {
	var mu sync.Mutex
	calls := map[string]int{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ChatID string `json:"chat_id"`
			Tag    string `json:"tag"`
		}
		if r.URL.Path != "/v3.6/agent/action/tag_thread" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Tag != "bench" {
			http.Error(w, "unexpected call", http.StatusBadRequest)
			return
		}
		mu.Lock()
		calls[req.ChatID]++
		mu.Unlock()
		_, _ = io.WriteString(w, "{}")
	}))
	defer api.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, options{addr: addr, api: api.URL, handler: "call", ack: "double", workers: 4, audit: audit})
	}()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	base := "http://" + addr
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(base + "/readyz")
		if assert.NoError(c, err) {
			resp.Body.Close()
			assert.Equal(c, http.StatusOK, resp.StatusCode)
		}
	}, 30*time.Second, 50*time.Millisecond, "the floor starts an embedded broker first")

	post := func(body string) int {
		resp, err := http.Post(base+"/webhooks/livechat", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	const n = 40
	for i := range n {
		body := fmt.Sprintf(`{"action":"incoming_chat","payload":{"chat":{"id":"C%02d","thread":{"id":"T%02d"}}}}`, i, i)
		require.Equal(t, http.StatusOK, post(body))
	}
	require.Equal(t, http.StatusOK, post(`{"payload":{"chat":{"id":"C00","thread":{"id":"T00"}}}}`), "a repeat is accepted")
	assert.Equal(t, http.StatusBadRequest, post(`{"payload":{}}`), "no chat id: refused, nothing stored")

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(base + "/count")
		if !assert.NoError(c, err) {
			return
		}
		defer resp.Body.Close()
		var handled, last int64
		_, err = fmt.Fscan(resp.Body, &handled, &last)
		assert.NoError(c, err)
		assert.EqualValues(c, n, handled)
	}, 30*time.Second, 50*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, calls, n)
	for id, k := range calls {
		assert.Equal(t, 1, k, "chat %s called once: the repeat was collapsed by its message id", id)
	}
	resp, err := http.Get(base + "/audited")
	require.NoError(t, err)
	defer resp.Body.Close()
	var audited int
	_, err = fmt.Fscan(resp.Body, &audited)
	require.NoError(t, err)
	if audit {
		assert.Equal(t, n, audited, "a record per handled event, stored before its ack")
	} else {
		assert.Zero(t, audited, "no records without -audit")
	}
}
