package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatwarden/chatwarden/samples"
)

// generator offers webhooks at a fixed rate, each due at its own time.
type generator struct {
	url    string
	client *http.Client
	sink   *sink
}

type result struct {
	offered, rejected, errors int
	accepted                  map[string]time.Time // chat -> when its webhook was due
	answers                   []time.Duration      // due -> 200, accepted ones
}

func (r *result) acceptedChats() []string {
	chats := make([]string, 0, len(r.accepted))
	for c := range r.accepted {
		chats = append(chats, c)
	}
	return chats
}

// latencies are due -> action for every accepted webhook whose action
// arrived, sorted.
func (r *result) latencies(s *sink) []time.Duration {
	var out []time.Duration
	for chat, due := range r.accepted {
		if at, ok := s.at(chat); ok {
			out = append(out, at.Sub(due))
		}
	}
	slices.Sort(out)
	return out
}

// offer offers webhooks at rate for d on conns connections; rate 0 offers
// them as fast as the connections are answered (saturation), each due when
// it is sent, until d has passed.
func (g *generator) offer(ctx context.Context, prefix string, rate int, d time.Duration, conns int) *result {
	total := math.MaxInt
	var interval time.Duration
	if rate > 0 {
		total = int(d.Seconds() * float64(rate))
		interval = time.Second / time.Duration(rate)
	}
	res := &result{accepted: map[string]time.Time{}}
	var mu sync.Mutex
	var next atomic.Int64
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total || ctx.Err() != nil || rate == 0 && time.Now().After(end) {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				if rate == 0 {
					due = time.Now()
				}
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				chat := fmt.Sprintf("E2E%s%07d", prefix, i)
				body := samples.LiveChat("incoming_chat", secret, chat, "T"+chat)
				resp, err := g.client.Post(g.url, "application/json", bytes.NewReader(body))
				took := time.Since(due)
				mu.Lock()
				res.offered++
				switch {
				case err != nil:
					res.errors++
				case resp.StatusCode == http.StatusOK:
					res.accepted[chat] = due
					res.answers = append(res.answers, took)
				default:
					res.rejected++
				}
				mu.Unlock()
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	return res
}

func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return sorted[i].Round(10 * time.Microsecond).String()
}
