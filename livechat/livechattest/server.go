// Package livechattest is an in-memory fake of the LiveChat Agent Chat Web
// API v3.6, for tests and for the `chatwarden demo` command. It does not
// import "testing".
//
// The fake serves `POST /v3.6/agent/action/<action>` for get_chat,
// update_chat_properties, delete_chat_properties, deactivate_chat,
// transfer_chat, tag_thread, untag_thread, send_event, set_routing_status,
// list_chats and list_archives, answers other actions 404 not_found, records
// every call, and has switches for failure modes: FailNext (429, 5xx,
// validation, wrong region, slow answers), WithRateLimit, WithLatency,
// WithRegion and WithAuth.
//
// Use it with the real client:
//
//	srv := livechattest.New()
//	srv.AddChat(livechattest.UnassignedChat("PJ0MRSHTDG", time.Now()))
//	url, stop := srv.Start()
//	defer stop()
//	c, _ := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(url))
//
// A Server is safe for concurrent use.
package livechattest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/chatwarden/chatwarden/internal/fakeapi"
	"github.com/chatwarden/chatwarden/livechat"
)

// ActionPrefix is the path prefix of every action the fake serves.
const ActionPrefix = "/v" + livechat.APIVersion + "/agent/action/"

// StatusAborted is recorded for a call whose client went away (or whose
// server was stopped) while it was held by Hang or WithLatency. Nothing is
// answered then.
const StatusAborted = fakeapi.StatusAborted

// maxBody caps request bodies; larger ones get entity_too_large.
const maxBody = fakeapi.MaxBody

// Call is one request the fake received.
type Call struct {
	// Action is the last path segment ("update_chat_properties"), or the
	// whole path when it is not under ActionPrefix.
	Action string
	// Body is the request body as received.
	Body json.RawMessage
	// Header holds Authorization, X-Region, User-Agent and Content-Type, when
	// sent.
	Header http.Header
	// Status is the HTTP status answered; 0 while the call is in flight,
	// StatusAborted when the client went away first.
	Status int
	// Time is when the call arrived.
	Time time.Time
}

var callShape = fakeapi.Shape[Call]{
	Endpoint: func(c *Call) string { return c.Action },
	Status:   func(c *Call) *int { return &c.Status },
	Clone: func(c Call) Call {
		c.Header = c.Header.Clone()
		return c
	},
}

var _ http.Handler = (*Server)(nil)

var recordedHeaders = [...]string{"Authorization", "X-Region", "User-Agent", "Content-Type"}

// Option configures a Server.
type Option func(*Server)

// WithAuth makes the fake require the personal access token of accountID
// (Authorization: Basic base64(accountID:token)); other credentials get 401
// authentication. Without WithAuth or WithBearer any non-empty
// Authorization header is accepted. WithAuth and WithBearer may be combined:
// either is then accepted.
func WithAuth(accountID, token string) Option {
	return func(s *Server) { s.authHeaders = append(s.authHeaders, livechatAuthHeader(accountID, token)) }
}

// WithBearer makes the fake require Authorization: Bearer token (see
// WithAuth).
func WithBearer(token string) Option {
	return func(s *Server) { s.authHeaders = append(s.authHeaders, "Bearer "+token) }
}

// WithRegion makes the fake live in region ("dal" or "fra"): a request whose
// X-Region differs (no X-Region counts as "dal") gets 421
// misdirected_request with data.region = region. Default: any region is
// accepted.
func WithRegion(region string) Option { return func(s *Server) { s.region = region } }

// WithRateLimit makes the fake answer 429 too_many_requests (Retry-After: 1)
// to calls beyond perSecond, with a burst of max(1, perSecond). Default: no
// limit.
func WithRateLimit(perSecond float64) Option {
	return func(s *Server) {
		if perSecond <= 0 {
			s.limiter = nil
			return
		}
		s.limiter = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))
	}
}

// WithLatency delays every answer by d (respecting the request's context).
// Default: none.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithResponseHeader adds a header to every answer, e.g. WithResponseHeader(
// "Legacy", "2026-12-31") to imitate a legacy API version.
func WithResponseHeader(key, value string) Option {
	return func(s *Server) { s.extraHeader.Add(key, value) }
}

// WithClock sets the clock used for created_at of threads and events and for
// Call.Time. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// Server is the fake API. It implements http.Handler; Start runs it on an
// httptest server. When it serves a call held by Hang or WithLatency whose
// client went away, it aborts the connection by panicking with
// http.ErrAbortHandler (which net/http handles silently).
type Server struct {
	// Immutable after New.
	authHeaders []string
	region      string
	limiter     *rate.Limiter
	latency     time.Duration
	extraHeader http.Header
	now         func() time.Time
	log         *fakeapi.Log[Call, Failure]
	// Recorder gives Start, FailNext, Calls, CallsTo and ResetCalls.
	fakeapi.Recorder[Call, Failure]

	mu      sync.Mutex
	chats   map[string]*chatRec
	index   []*rowRef // every thread, ordered by rowKey
	routing map[string]string
	seq     uint64 // insertion order of threads, and event ids
}

// New returns an empty fake.
func New(opts ...Option) *Server {
	s := &Server{
		extraHeader: make(http.Header),
		now:         time.Now,
		log:         fakeapi.NewLog[Call, Failure](callShape),
		chats:       make(map[string]*chatRec),
		routing:     make(map[string]string),
	}
	s.Recorder = s.log.Recorder(s)
	return fakeapi.Apply(s, opts)
}

// Reset forgets chats, calls, armed failures and routing statuses. Options
// stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chats = make(map[string]*chatRec)
	s.index = nil
	s.routing = make(map[string]string)
	s.log.Reset()
}

// RoutingStatus returns the status last set for agentID with
// set_routing_status ("" is the requester).
func (s *Server) RoutingStatus(agentID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.routing[agentID]
	return st, ok
}

// reply is an answer being built.
type reply struct {
	status     int
	body       []byte
	retryAfter time.Duration
}

// ServeHTTP records the call and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := r.URL.Path
	if rest, ok := strings.CutPrefix(r.URL.Path, ActionPrefix); ok {
		action = rest
	}
	body, readErr := fakeapi.ReadBody(r)
	t, f, armed := s.log.Record(Call{Action: action, Body: body, Header: fakeapi.Headers(r, recordedHeaders[:]...), Time: s.now()})
	rep, ok := s.answer(r, action, body, readErr, f, armed)
	if !ok {
		s.log.Abort(t) // drops the connection instead of answering an empty 200
	}
	s.log.Answer(w, t, rep.status, s.extraHeader, rep.body, rep.retryAfter)
}

// answer decides the reply; ok is false when the call was aborted.
func (s *Server) answer(r *http.Request, action string, body []byte, readErr error, f Failure, armed bool) (reply, bool) {
	if armed && !s.log.Wait(r.Context(), f.Hang) {
		return reply{}, false
	}
	if !s.log.Wait(r.Context(), s.latency) {
		return reply{}, false
	}
	if armed && f.isError() {
		return failureReply(f), true
	}
	if r.Method != http.MethodPost {
		return errReply(http.StatusMethodNotAllowed, livechat.TypeValidation, "Only POST is supported", nil), true
	}
	if !strings.HasPrefix(r.URL.Path, ActionPrefix) {
		return errReply(0, livechat.TypeNotFound, "Unknown path "+r.URL.Path, nil), true
	}
	if rep, bad := s.checkAuth(r); bad {
		return rep, true
	}
	if s.region != "" {
		got := r.Header.Get("X-Region")
		if got == "" {
			got = "dal"
		}
		if got != s.region {
			return errReply(0, livechat.TypeMisdirectedRequest, "Wrong region", map[string]string{"region": s.region}), true
		}
	}
	if s.limiter != nil && !s.limiter.Allow() {
		rep := errReply(0, livechat.TypeTooManyRequests, "Too many requests", nil)
		rep.retryAfter = time.Second
		return rep, true
	}
	if readErr != nil {
		return errReply(0, livechat.TypeValidation, "Cannot read request body", nil), true
	}
	if len(body) > maxBody {
		return errReply(0, livechat.TypeEntityTooLarge, "Request too large", nil), true
	}
	h, known := actions[action]
	if !known {
		return errReply(0, livechat.TypeNotFound, "Unknown action "+action, nil), true
	}
	var raw args
	if len(strings.TrimSpace(string(body))) == 0 {
		raw, body = args{}, nil
	} else if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return errReply(0, livechat.TypeValidation, "Wrong format of request: body must be a JSON object", nil), true
	}
	return h(s, body, raw), true
}

func (s *Server) checkAuth(r *http.Request) (reply, bool) {
	got := r.Header.Get("Authorization")
	if got == "" {
		return errReply(0, livechat.TypeAuthentication, "Missing Authorization header", nil), true
	}
	if len(s.authHeaders) == 0 {
		return reply{}, false
	}
	for _, want := range s.authHeaders {
		if got == want {
			return reply{}, false
		}
	}
	return errReply(0, livechat.TypeAuthentication, "Invalid access token", nil), true
}

func failureReply(f Failure) reply {
	if f.RawBody != "" {
		status := f.Status
		if status == 0 {
			status = http.StatusBadGateway
		}
		return reply{status: status, body: []byte(f.RawBody), retryAfter: f.RetryAfter}
	}
	rep := errReply(f.Status, f.Type, f.Message, f.Data)
	rep.retryAfter = f.RetryAfter
	return rep
}

// errReply builds the documented error envelope. status 0 derives it from
// errType.
func errReply(status int, errType, msg string, data any) reply {
	if status == 0 {
		status = StatusFor(errType)
	}
	e := struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{errType, msg, data}
	b, err := json.Marshal(map[string]any{"error": e})
	if err != nil {
		b = []byte(`{"error":{"type":"internal","message":"livechattest: cannot encode failure data"}}`)
		status = http.StatusInternalServerError
	}
	return reply{status: status, body: b}
}

// okReply is a 200 with v encoded (nil: no body, as the void actions).
func okReply(v any) reply {
	if v == nil {
		return reply{status: http.StatusOK}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return errReply(0, livechat.TypeInternal, "livechattest: encoding answer: "+err.Error(), nil)
	}
	return reply{status: http.StatusOK, body: b}
}

func validation(msg string) reply { return errReply(0, livechat.TypeValidation, msg, nil) }

func notFound(msg string) reply { return errReply(0, livechat.TypeNotFound, msg, nil) }

func chatInactive() reply {
	return errReply(0, livechat.TypeChatInactive, "Chat is inactive", nil)
}
