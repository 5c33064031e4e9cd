package chaos_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatwarden/chatwarden/livechat"
)

// flakyAPI stands in front of the fake LiveChat API (any http.Handler).
//
// It injects random failures: a share of calls is answered 429
// too_many_requests (Retry-After: 1), a share 500 internal, and a share hangs
// until the client gives up (its request timeout) and then has its
// connection dropped. Failed calls never reach the fake, so its call log
// holds exactly the calls that were performed.
//
// It also watches that one chat is acted on by one event at a time: a call
// about a chat that arrives while another call about the same chat is being
// served means two events of that chat were handled at once (the engine
// makes an event's calls one after the other).
type flakyAPI struct {
	next              http.Handler
	p429, p500, pHang float64
	hangMax           time.Duration // a hang ends after this even if the client waits
	start             time.Time
	stop              chan struct{}
	stopOnce          sync.Once

	mu        sync.Mutex
	rng       *rand.Rand
	inflight  map[string]int
	overlaps  int
	overlapEx []string
	recent    []labeledCall
	failing   map[string]time.Duration // replica label prefix -> how long its calls hang before their 500

	calls, n429, n500, hung, failed atomic.Int64
}

// FailReplica makes the calls of the replicas whose label starts with
// prefix hang for hold and then fail with 500 (never reaching the fake),
// until Restore: as an overloaded replica's calls time out.
func (f *flakyAPI) FailReplica(prefix string, hold time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing == nil {
		f.failing = map[string]time.Duration{}
	}
	f.failing[prefix] = hold
}

// Restore ends FailReplica for prefix.
func (f *flakyAPI) Restore(prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.failing, prefix)
}

// failingFor is how long a call of replica label hangs before it fails
// (false: it does not fail on purpose).
func (f *flakyAPI) failingFor(label string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for prefix, hold := range f.failing {
		if strings.HasPrefix(label, prefix) {
			return hold, true
		}
	}
	return 0, false
}

func newFlakyAPI(next http.Handler, rng *rand.Rand, p429, p500, pHang float64, hangMax time.Duration, start time.Time) *flakyAPI {
	return &flakyAPI{next: next, rng: rng, p429: p429, p500: p500, pHang: pHang, hangMax: hangMax, start: start,
		stop: make(chan struct{}), inflight: map[string]int{}}
}

type labeledCall struct {
	replica string
	at      time.Time
}

// RecentCalls counts the calls of each replica in the last d.
func (f *flakyAPI) RecentCalls(d time.Duration) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, c := range f.recent {
		if time.Since(c.at) < d {
			out[c.replica]++
		}
	}
	return out
}

// Close releases hanging calls.
func (f *flakyAPI) Close() { f.stopOnce.Do(func() { close(f.stop) }) }

// Overlaps returns how many calls arrived while another call about the same
// chat was being served, with the first few as examples.
func (f *flakyAPI) Overlaps() (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overlaps, append([]string(nil), f.overlapEx...)
}

// replicaOf is the replica named in a recorded call's User-Agent ("?" when
// none is).
func replicaOf(h http.Header) string {
	_, r, ok := strings.Cut(h.Get("User-Agent"), replicaAgent)
	if !ok {
		return "?"
	}
	return r
}

// replicaAgent marks, in the User-Agent the fake records, which replica made
// a call: each replica's API URL ends in a path segment naming it, which is
// moved from the path to the User-Agent here.
const replicaAgent = " chaos-replica/"

func (f *flakyAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	label := ""
	if seg, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); ok && strings.HasPrefix(seg, "w") {
		label = seg
		r.URL.Path = "/" + rest
		r.Header.Set("User-Agent", r.Header.Get("User-Agent")+replicaAgent+seg)
		f.mu.Lock()
		f.recent = append(f.recent, labeledCall{seg, time.Now()})
		if len(f.recent) > 4096 {
			f.recent = append(f.recent[:0], f.recent[2048:]...)
		}
		f.mu.Unlock()
	}
	f.calls.Add(1)
	if hold, ok := f.failingFor(label); ok {
		f.failed.Add(1)
		t := time.NewTimer(hold)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		case <-f.stop:
		}
		writeAPIError(w, http.StatusInternalServerError, livechat.TypeInternal, "Internal server error (the replica's calls fail on purpose)")
		return
	}
	f.mu.Lock()
	x := f.rng.Float64()
	f.mu.Unlock()
	switch {
	case x < f.p429:
		f.n429.Add(1)
		w.Header().Set("Retry-After", "1")
		writeAPIError(w, http.StatusTooManyRequests, livechat.TypeTooManyRequests, "Too many requests")
	case x < f.p429+f.p500:
		f.n500.Add(1)
		writeAPIError(w, http.StatusInternalServerError, livechat.TypeInternal, "Internal server error")
	case x < f.p429+f.p500+f.pHang:
		f.hung.Add(1)
		t := time.NewTimer(f.hangMax)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		case <-f.stop:
		}
		panic(http.ErrAbortHandler) // drop the connection without an answer
	default:
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		chat := chatOf(body)
		if chat != "" {
			f.mu.Lock()
			if f.inflight[chat] > 0 {
				f.overlaps++
				if len(f.overlapEx) < 10 {
					f.overlapEx = append(f.overlapEx, fmt.Sprintf("chat %s at +%.1fs: %s", chat, time.Since(f.start).Seconds(), r.URL.Path))
				}
			}
			f.inflight[chat]++
			f.mu.Unlock()
			defer func() {
				f.mu.Lock()
				f.inflight[chat]--
				f.mu.Unlock()
			}()
		}
		f.next.ServeHTTP(w, r)
	}
}

// chatOf is the chat a call is about (chat_id, or id for
// update_chat_properties).
func chatOf(body []byte) string {
	var b struct {
		ChatID string `json:"chat_id"`
		ID     string `json:"id"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	if b.ChatID != "" {
		return b.ChatID
	}
	return b.ID
}

func writeAPIError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": typ, "message": msg}})
}
