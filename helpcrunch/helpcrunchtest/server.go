// Package helpcrunchtest is an in-memory fake of the part of the HelpCrunch
// REST API v1 that chatwarden uses, for tests and demos. It does not import
// "testing".
//
// The fake serves, under /v1: PUT chats/status, PUT chats/assignee, PUT
// chats/department, PUT chats/snooze, GET chats/{id}, GET chats and POST
// chats/search. It stores chats with their status, assignee, department and
// snooze time, answers errors in the documented {"errors":[{"code","message"}]}
// shape, records every call, and has switches for failure modes: FailNext
// (429, 5xx, validation, not found, slow answers, raw bodies), WithRateLimit,
// WithLatency and WithAPIKey.
//
// Use it with the real client:
//
//	srv := helpcrunchtest.New()
//	srv.AddChat(helpcrunch.Chat{ID: 542335, Status: helpcrunch.StatusOpened})
//	url, stop := srv.Start()
//	defer stop()
//	c, _ := helpcrunch.New("key", helpcrunch.WithBaseURL(url), helpcrunch.WithRateLimit(0))
//
// A Server is safe for concurrent use.
package helpcrunchtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/internal/fakeapi"
)

// Endpoints the fake serves, as recorded in Call.Endpoint and accepted by
// FailNext and CallsTo. Unknown paths are recorded as "<METHOD> <path>".
const (
	EndpointStatus      = "PUT /v1/chats/status"
	EndpointAssignee    = "PUT /v1/chats/assignee"
	EndpointDepartment  = "PUT /v1/chats/department"
	EndpointSnooze      = "PUT /v1/chats/snooze"
	EndpointGetChat     = "GET /v1/chats/{id}"
	EndpointListChats   = "GET /v1/chats"
	EndpointSearchChats = "POST /v1/chats/search"
)

// StatusAborted is recorded for a call whose client went away (or whose
// server was stopped) while it was held by Hang or WithLatency.
const StatusAborted = fakeapi.StatusAborted

// maxBody caps request bodies.
const maxBody = fakeapi.MaxBody

// Call is one request the fake received.
type Call struct {
	// Endpoint is one of the Endpoint* constants, or "<METHOD> <path>".
	Endpoint string
	Method   string
	Path     string
	Query    url.Values
	Body     json.RawMessage
	// Header holds Authorization, Content-Type, Accept and User-Agent, when sent.
	Header http.Header
	// Status is the HTTP status answered; 0 while in flight, StatusAborted
	// when the client went away first.
	Status int
	Time   time.Time
}

var recordedHeaders = [...]string{"Authorization", "Content-Type", "Accept", "User-Agent"}

var _ http.Handler = (*Server)(nil)

// Option configures a Server.
type Option func(*Server)

// WithAPIKey makes the fake require `Authorization: Bearer key`; anything
// else gets 401 (invalid_request + unauthorized). Without it any non-empty
// Bearer token is accepted.
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithRateLimit makes the fake answer 429 too_many_requests to a call that
// would be the (n+1)th within any window of length per (a sliding window).
// Default: no limit. HelpCrunch's own default is 120 a minute.
func WithRateLimit(n int, per time.Duration) Option {
	return func(s *Server) {
		if n > 0 && per > 0 {
			s.limitN, s.limitPer = n, per
		}
	}
}

// WithLatency delays every answer by d (respecting the request's context).
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithClock sets the clock used for closedAt, Call.Time and the rate limit.
// Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// Server is the fake API. It implements http.Handler; Start runs it on an
// httptest server.
type Server struct {
	apiKey   string
	limitN   int
	limitPer time.Duration
	latency  time.Duration
	now      func() time.Time
	log      *fakeapi.Log[Call, Failure]
	// Recorder gives Start, FailNext, Calls, CallsTo and ResetCalls.
	fakeapi.Recorder[Call, Failure]

	mu          sync.Mutex
	chats       map[int64]*helpcrunch.Chat
	agents      map[int64]helpcrunch.Agent
	departments map[int64]helpcrunch.Department
	recent      []time.Time // accepted calls inside the rate-limit window
	seq         int64
}

var callShape = fakeapi.Shape[Call]{
	Endpoint: func(c *Call) string { return c.Endpoint },
	Status:   func(c *Call) *int { return &c.Status },
	Clone:    Call.clone,
}

// New returns an empty fake.
func New(opts ...Option) *Server {
	s := &Server{
		now:         time.Now,
		log:         fakeapi.NewLog[Call, Failure](callShape),
		chats:       make(map[int64]*helpcrunch.Chat),
		agents:      make(map[int64]helpcrunch.Agent),
		departments: make(map[int64]helpcrunch.Department),
	}
	s.Recorder = s.log.Recorder(s)
	return fakeapi.Apply(s, opts)
}

func (c Call) clone() Call {
	c.Header = c.Header.Clone()
	c.Query = cloneValues(c.Query)
	return c
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Reset forgets chats, agents, departments, calls and armed failures.
// Options stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chats = make(map[int64]*helpcrunch.Chat)
	s.agents = make(map[int64]helpcrunch.Agent)
	s.departments = make(map[int64]helpcrunch.Department)
	s.recent = nil
	s.log.Reset()
}

type reply struct {
	status     int
	body       []byte
	retryAfter time.Duration
}

// route names the endpoint of a request and the chat id of GET /v1/chats/{id}.
func route(method, path string) (endpoint, id string) {
	p := strings.TrimSuffix(path, "/")
	switch {
	case method == http.MethodPut && p == "/v1/chats/status":
		return EndpointStatus, ""
	case method == http.MethodPut && p == "/v1/chats/assignee":
		return EndpointAssignee, ""
	case method == http.MethodPut && p == "/v1/chats/department":
		return EndpointDepartment, ""
	case method == http.MethodPut && p == "/v1/chats/snooze":
		return EndpointSnooze, ""
	case method == http.MethodPost && p == "/v1/chats/search":
		return EndpointSearchChats, ""
	case method == http.MethodGet && p == "/v1/chats":
		return EndpointListChats, ""
	case method == http.MethodGet && strings.HasPrefix(p, "/v1/chats/") && !strings.Contains(p[len("/v1/chats/"):], "/"):
		return EndpointGetChat, p[len("/v1/chats/"):]
	}
	return method + " " + path, ""
}

// ServeHTTP records the call and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint, id := route(r.Method, r.URL.Path)
	body, readErr := fakeapi.ReadBody(r)
	t, f, armed := s.log.Record(Call{Endpoint: endpoint, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Body: body, Header: fakeapi.Headers(r, recordedHeaders[:]...), Time: s.now()})
	rep, ok := s.answer(r, endpoint, id, body, readErr, f, armed)
	if !ok {
		s.log.Abort(t)
	}
	s.log.Answer(w, t, rep.status, nil, rep.body, rep.retryAfter)
}

// allow applies the sliding-window rate limit.
func (s *Server) allow() bool {
	if s.limitN <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	keep := s.recent[:0]
	for _, t := range s.recent {
		if now.Sub(t) < s.limitPer {
			keep = append(keep, t)
		}
	}
	s.recent = keep
	if len(s.recent) >= s.limitN {
		return false
	}
	s.recent = append(s.recent, now)
	return true
}

func (s *Server) answer(r *http.Request, endpoint, id string, body []byte, readErr error, f Failure, armed bool) (reply, bool) {
	if armed && !s.log.Wait(r.Context(), f.Hang) {
		return reply{}, false
	}
	if !s.log.Wait(r.Context(), s.latency) {
		return reply{}, false
	}
	if armed && f.isError() {
		return failureReply(f), true
	}
	if rep, bad := s.checkAuth(r); bad {
		return rep, true
	}
	if !s.allow() {
		return errReply(http.StatusTooManyRequests, helpcrunch.CodeTooManyRequests, "Too many requests"), true
	}
	if readErr != nil || len(body) > maxBody {
		return errReply(http.StatusBadRequest, "body", "Cannot read the request body"), true
	}
	switch endpoint {
	case EndpointStatus:
		return s.setChatStatus(body), true
	case EndpointAssignee:
		return s.setAssignee(body), true
	case EndpointDepartment:
		return s.setDepartment(body), true
	case EndpointSnooze:
		return s.snooze(body), true
	case EndpointGetChat:
		return s.getChat(id), true
	case EndpointListChats:
		return s.listChats(r.URL.Query()), true
	case EndpointSearchChats:
		return s.searchChats(body), true
	}
	return reply{status: http.StatusNotFound, body: errorsBody(
		helpcrunch.ErrorDetail{Code: helpcrunch.CodeEntityNotFound, Message: "No route " + r.Method + " " + r.URL.Path})}, true
}

func (s *Server) checkAuth(r *http.Request) (reply, bool) {
	got := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(got, "Bearer ")
	if !ok || token == "" || (s.apiKey != "" && token != s.apiKey) {
		return reply{status: http.StatusUnauthorized, body: errorsBody(
			helpcrunch.ErrorDetail{Code: helpcrunch.CodeInvalidRequest, Message: "Invalid request"},
			helpcrunch.ErrorDetail{Code: helpcrunch.CodeUnauthorized, Message: "Unauthorized"})}, true
	}
	return reply{}, false
}

func failureReply(f Failure) reply {
	if f.RawBody != "" {
		status := f.Status
		if status == 0 {
			status = http.StatusBadGateway
		}
		return reply{status: status, body: []byte(f.RawBody), retryAfter: f.RetryAfter}
	}
	status := f.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	rep := reply{status: status, body: errorsBody(f.Errors...), retryAfter: f.RetryAfter}
	if len(f.Errors) == 0 {
		rep.body = nil
	}
	return rep
}

// errReply is the usual error shape: the generic invalid_request entry
// followed by the specific one, as the docs show.
func errReply(status int, code, msg string) reply {
	return reply{status: status, body: errorsBody(
		helpcrunch.ErrorDetail{Code: helpcrunch.CodeInvalidRequest, Message: "Invalid request"},
		helpcrunch.ErrorDetail{Code: code, Message: msg})}
}

func errorsBody(details ...helpcrunch.ErrorDetail) []byte {
	b, _ := json.Marshal(map[string]any{"errors": details})
	return b
}

func okReply(v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		return errReply(http.StatusInternalServerError, "internal", "helpcrunchtest: encoding answer: "+err.Error())
	}
	return reply{status: http.StatusOK, body: b}
}
