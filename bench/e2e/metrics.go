package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// histogram is a cumulative Prometheus histogram read from /metrics.
type histogram struct {
	bounds []float64
	counts []float64
	count  int64
}

func (h histogram) quantile(q float64) string {
	if h.count == 0 {
		return "-"
	}
	target := q * float64(h.count)
	for i, c := range h.counts {
		if c >= target {
			if i < len(h.bounds) {
				return time.Duration(h.bounds[i] * float64(time.Second)).String()
			}
		}
	}
	return "+Inf"
}

func (s *serve) scrapeLatency() (histogram, error) {
	req, err := http.NewRequest(http.MethodGet, s.adminURL+"/metrics", nil)
	if err != nil {
		return histogram{}, err
	}
	req.Header.Set("Authorization", "Bearer "+adminTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return histogram{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return histogram{}, fmt.Errorf("/metrics answered %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return histogram{}, err
	}
	return parseHistogram(string(body), "chatwarden_webhook_to_action_seconds")
}

// parseHistogram reads the buckets of name (summed over label sets other
// than le) from Prometheus text exposition.
func parseHistogram(text, name string) (histogram, error) {
	byBound := map[float64]float64{}
	var h histogram
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"_bucket{") {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.Index(line[i+4:], `"`)
		if i < 0 || j < 0 {
			continue
		}
		le := line[i+4 : i+4+j]
		v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
		if err != nil {
			return h, fmt.Errorf("bucket line %q: %w", line, err)
		}
		if le == "+Inf" {
			h.count += int64(v)
			continue
		}
		b, err := strconv.ParseFloat(le, 64)
		if err != nil {
			return h, fmt.Errorf("bucket bound %q: %w", le, err)
		}
		byBound[b] += v
	}
	if len(byBound) == 0 {
		return h, fmt.Errorf("%s not exported", name)
	}
	for b := range byBound {
		h.bounds = append(h.bounds, b)
	}
	slices.Sort(h.bounds)
	for _, b := range h.bounds {
		h.counts = append(h.counts, byBound[b])
	}
	return h, nil
}
