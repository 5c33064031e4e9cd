package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sink stands in for the LiveChat API: every call answers {} at once;
// tag_thread calls are noted by chat id with their arrival time.
type sink struct {
	mu      sync.Mutex
	arrived map[string]time.Time
	calls   atomic.Int64
	notify  chan struct{}
}

func newSink() *sink { return &sink{arrived: map[string]time.Time{}, notify: make(chan struct{}, 1)} }

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.calls.Add(1)
	if strings.HasSuffix(r.URL.Path, "/tag_thread") {
		var req struct {
			ChatID string `json:"chat_id"`
		}
		if json.Unmarshal(body, &req) == nil && req.ChatID != "" {
			s.mu.Lock()
			if _, seen := s.arrived[req.ChatID]; !seen {
				s.arrived[req.ChatID] = now
			}
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

func (s *sink) at(chat string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.arrived[chat]
	return t, ok
}

// waitFor waits until every chat of chats had its action, or until no new
// action came for drain; it returns how many had.
func (s *sink) waitFor(ctx context.Context, chats []string, drain time.Duration) int {
	count := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, c := range chats {
			if _, ok := s.arrived[c]; ok {
				n++
			}
		}
		return n
	}
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	for {
		n := count()
		if n == len(chats) {
			return n
		}
		select {
		case <-ctx.Done():
			return n
		case <-deadline.C:
			return n
		case <-s.notify:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// last is when the latest action of chats arrived (false: none did).
func (s *sink) last(chats []string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last time.Time
	for _, c := range chats {
		if t, ok := s.arrived[c]; ok && t.After(last) {
			last = t
		}
	}
	return last, !last.IsZero()
}
