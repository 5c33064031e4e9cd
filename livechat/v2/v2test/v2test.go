// Package v2test is an in-memory fake of LiveChat's legacy REST API v2
// GET /chats, for tests. It does not import "testing".
//
// It serves chats newest first in pages of 25 (from page 1) with total and
// pages, applies the filters date_from, date_to, type, visitor_id, query,
// agent, group, rate, tag[], tagged and include_pending (other filters are
// recorded, not applied), requires X-API-Version: 2 and the configured
// Authorization, answers a Deprecation header, and can fail the next calls
// (FailNext).
package v2test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DeprecationDate is the Deprecation header the fake sends.
const DeprecationDate = "2023-03-01"

// Chat is a stored chat: the JSON object served, plus the fields filters use.
type Chat struct {
	ID        string
	Type      string // chat (default) or missed_chat
	VisitorID string
	Visitor   string
	Agent     string // email
	Group     int64
	Rate      string // not_rated (default)
	Tags      []string
	Text      string // one message
	Started   time.Time
	Pending   bool // not ended
}

func (c Chat) json() map[string]any {
	started := c.Started.UTC()
	out := map[string]any{
		"type": c.Type, "id": c.ID, "visitor_name": c.Visitor, "visitor_id": c.VisitorID,
		"agents": []map[string]string{{"display_name": c.Agent, "email": c.Agent}}, "supervisors": []any{},
		"rate": c.Rate, "duration": 300, "group": []int64{c.Group},
		"started": started.Format("Mon, 01/02/06 03:04:05 pm"), "started_timestamp": started.Unix(),
		"tags": c.Tags, "prechat_survey": []any{}, "custom_variables": []any{},
		"messages": []map[string]any{{"author_name": c.Visitor, "text": c.Text, "timestamp": started.Unix(), "user_type": "visitor",
			"date": started.Format("Mon, 01/02/06 03:04:05 pm")}},
	}
	if !c.Pending {
		ended := started.Add(5 * time.Minute)
		out["ended"] = ended.Format("Mon, 01/02/06 03:04:05 pm")
		out["ended_timestamp"] = ended.Unix()
	}
	return out
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	auth string

	mu       sync.Mutex
	chats    []Chat
	queries  []url.Values
	failures []failure
}

type failure struct {
	status     int
	body       string
	retryAfter int
}

// New returns a fake requiring Basic username:token (username "" means
// Bearer token).
func New(username, token string) *Server {
	auth := "Bearer " + token
	if username != "" {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+token))
	}
	return &Server{auth: auth}
}

// Start serves the fake on an httptest server.
func (s *Server) Start() (url string, stop func()) {
	ts := httptest.NewServer(s)
	return ts.URL, ts.Close
}

// Add stores chats.
func (s *Server) Add(chats ...Chat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range chats {
		if c.Type == "" {
			c.Type = "chat"
		}
		if c.Rate == "" {
			c.Rate = "not_rated"
		}
		c.Tags = slices.Clone(c.Tags)
		s.chats = append(s.chats, c)
	}
}

// FailNext makes the next n requests fail with status and body (and a
// Retry-After in seconds when retryAfter > 0).
func (s *Server) FailNext(n, status int, body string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, body, retryAfter})
	}
}

// Queries returns the query of every request received, in order.
func (s *Server) Queries() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queries)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, r.URL.Query())
	w.Header().Set("Deprecation", DeprecationDate)
	w.Header().Set("Content-Type", "application/json")
	fail := func(status int, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(f.body))
		return
	}
	switch {
	case r.Method != http.MethodGet || r.URL.Path != "/chats":
		fail(http.StatusNotFound, "Not found")
		return
	case r.Header.Get("X-API-Version") != "2":
		fail(http.StatusBadRequest, "X-API-Version: 2 is required")
		return
	case r.Header.Get("Authorization") != s.auth:
		fail(http.StatusUnauthorized, "Authentication failed")
		return
	}
	q := r.URL.Query()
	page := 1
	if p := q.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			fail(http.StatusBadRequest, "Invalid page")
			return
		}
		page = n
	}
	var match []Chat
	for _, c := range s.chats {
		ok, err := matches(c, q)
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		if ok {
			match = append(match, c)
		}
	}
	slices.SortStableFunc(match, func(a, b Chat) int { return b.Started.Compare(a.Started) })
	pages := (len(match) + 24) / 25
	from, to := min((page-1)*25, len(match)), min(page*25, len(match))
	out := make([]map[string]any, 0, to-from)
	for _, c := range match[from:to] {
		out = append(out, c.json())
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]any{"chats": out, "total": len(match), "pages": pages})
}

func matches(c Chat, q url.Values) (bool, error) {
	day := c.Started.UTC().Format(time.DateOnly)
	if d := q.Get("date_from"); d != "" {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			//lint:ignore ST1005 the fake answers with LiveChat's own message text, capital included
			return false, fmt.Errorf("Invalid date_from")
		}
		if day < d {
			return false, nil
		}
	}
	if d := q.Get("date_to"); d != "" && day > d {
		return false, nil
	}
	if c.Pending && q.Get("include_pending") != "1" {
		return false, nil
	}
	checks := []struct{ key, have string }{
		{"type", c.Type}, {"visitor_id", c.VisitorID}, {"agent", c.Agent}, {"group", strconv.FormatInt(c.Group, 10)},
	}
	for _, ch := range checks {
		if v := q.Get(ch.key); v != "" && v != ch.have {
			return false, nil
		}
	}
	if v := q.Get("rate"); v != "" {
		if v == "rated" && c.Rate == "not_rated" || v != "rated" && v != c.Rate {
			return false, nil
		}
	}
	if v := q.Get("query"); v != "" && !strings.Contains(strings.ToLower(c.Text), strings.ToLower(v)) {
		return false, nil
	}
	for _, t := range q["tag[]"] {
		if !slices.Contains(c.Tags, t) {
			return false, nil
		}
	}
	switch q.Get("tagged") {
	case "1":
		if len(c.Tags) == 0 {
			return false, nil
		}
	case "0":
		if len(c.Tags) > 0 {
			return false, nil
		}
	}
	return true, nil
}
