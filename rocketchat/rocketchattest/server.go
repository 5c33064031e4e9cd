// Package rocketchattest is an in-memory fake of the part of the Rocket.Chat
// Omnichannel REST API that chatwarden uses, for tests and demos. It does not
// import "testing".
//
// The fake serves, under /api/v1: POST livechat/room.closeByUser, POST
// livechat/room.forward, POST livechat/inquiries.returnAsInquiry, POST
// livechat/room.saveInfo, GET rooms.info, GET livechat/inquiries.list and GET
// livechat/rooms. It stores rooms (open/closed, servedBy, department, tags)
// and their inquiries, answers errors in Rocket.Chat's shapes
// ({"success":false,"error":...,"errorType":...}; 401 {"status":"error",
// "message":...}), records every call, and has switches for failure modes:
// FailNext (429, 5xx, validation, success:false, slow answers, raw bodies),
// WithRateLimit (per-route X-RateLimit-* headers and 429s, as Rocket.Chat's
// REST limiter), WithLatency, WithAuth and WithCommentRequired.
//
//	srv := rocketchattest.New(rocketchattest.WithAuth("bot-id", "tok"))
//	srv.AddRoom(rocketchat.Room{ID: "8ceKgWvo5qT5TrCRN", Open: true})
//	url, stop := srv.Start()
//	defer stop()
//	c, _ := rocketchat.New(url, rocketchat.Auth{UserID: "bot-id", Token: "tok"})
//
// A Server is safe for concurrent use.
package rocketchattest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatwarden/chatwarden/internal/fakeapi"
	"github.com/chatwarden/chatwarden/rocketchat"
)

// StatusAborted is recorded for a call whose client went away (or whose
// server was stopped) while it was held by Hang or WithLatency.
const StatusAborted = fakeapi.StatusAborted

const maxBody = fakeapi.MaxBody

// Call is one request the fake received.
type Call struct {
	// Endpoint is the path under /api/v1/ (one of the rocketchat.Path*
	// constants), or the whole path for other paths.
	Endpoint string
	Method   string
	Query    url.Values
	Body     json.RawMessage
	// Header holds X-Auth-Token, X-User-Id, Content-Type and User-Agent, when
	// sent.
	Header http.Header
	// Status is the HTTP status answered; 0 while in flight.
	Status int
	Time   time.Time
}

var recordedHeaders = [...]string{"X-Auth-Token", "X-User-Id", "Content-Type", "User-Agent"}

var _ http.Handler = (*Server)(nil)

// Option configures a Server.
type Option func(*Server)

// WithAuth makes the fake require X-User-Id userID and X-Auth-Token token;
// other credentials get 401. Without it, any non-empty pair is accepted.
func WithAuth(userID, token string) Option {
	return func(s *Server) { s.userID, s.token = userID, token }
}

// WithRateLimit makes every route allow n calls per fixed window (per route,
// as Rocket.Chat's REST limiter; its default is 10 per 60 s). Every answer
// then carries X-RateLimit-Limit, X-RateLimit-Remaining (after this call) and
// X-RateLimit-Reset (epoch milliseconds); a call beyond n gets 429
// error-too-many-requests.
func WithRateLimit(n int, window time.Duration) Option {
	return func(s *Server) {
		if n > 0 && window > 0 {
			s.limitN, s.limitWindow = n, window
		}
	}
}

// WithLatency delays every answer by d.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithCommentRequired makes closing without a comment fail with
// error-comment-is-required, as the workspace setting "Request comment when
// closing conversation" does.
func WithCommentRequired() Option { return func(s *Server) { s.commentRequired = true } }

// WithClock sets the clock (closedAt, rate-limit windows, Call.Time).
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// Server is the fake API; it implements http.Handler.
type Server struct {
	userID, token   string
	limitN          int
	limitWindow     time.Duration
	latency         time.Duration
	commentRequired bool
	now             func() time.Time
	log             *fakeapi.Log[Call, Failure]
	// Recorder gives Start, FailNext, Calls, CallsTo and ResetCalls.
	fakeapi.Recorder[Call, Failure]

	mu        sync.Mutex
	rooms     map[string]*roomRec
	windows   map[string]*window
	seq       int
	inquiryNo int
}

type window struct {
	start time.Time
	count int
}

var callShape = fakeapi.Shape[Call]{
	Endpoint: func(c *Call) string { return c.Endpoint },
	Status:   func(c *Call) *int { return &c.Status },
	Clone:    Call.clone,
}

// New returns an empty fake.
func New(opts ...Option) *Server {
	s := &Server{
		now:     time.Now,
		log:     fakeapi.NewLog[Call, Failure](callShape),
		rooms:   make(map[string]*roomRec),
		windows: make(map[string]*window),
	}
	s.Recorder = s.log.Recorder(s)
	return fakeapi.Apply(s, opts)
}

func (c Call) clone() Call {
	c.Header = c.Header.Clone()
	if c.Query != nil {
		q := make(url.Values, len(c.Query))
		for k, v := range c.Query {
			q[k] = append([]string(nil), v...)
		}
		c.Query = q
	}
	return c
}

// Reset forgets rooms, calls, failures and rate-limit windows.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms = make(map[string]*roomRec)
	s.windows = make(map[string]*window)
	s.log.Reset()
}

type reply struct {
	status int
	body   []byte
	header http.Header
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint := r.URL.Path
	if rest, ok := strings.CutPrefix(r.URL.Path, rocketchat.APIPrefix); ok {
		endpoint = rest
	}
	body, readErr := fakeapi.ReadBody(r)
	t, f, armed := s.log.Record(Call{Endpoint: endpoint, Method: r.Method, Query: r.URL.Query(), Body: body,
		Header: fakeapi.Headers(r, recordedHeaders[:]...), Time: s.now()})
	rep, ok := s.answer(r, endpoint, body, readErr, f, armed)
	if !ok {
		s.log.Abort(t)
	}
	s.log.Answer(w, t, rep.status, rep.header, rep.body, 0)
}

type handler func(s *Server, r *http.Request, body []byte) reply

var routes = map[string]handler{
	http.MethodPost + " " + rocketchat.PathCloseRoom:     (*Server).closeRoom,
	http.MethodPost + " " + rocketchat.PathForwardRoom:   (*Server).forwardRoom,
	http.MethodPost + " " + rocketchat.PathReturnToQueue: (*Server).returnAsInquiry,
	http.MethodPost + " " + rocketchat.PathSaveRoomInfo:  (*Server).saveInfo,
	http.MethodGet + " " + rocketchat.PathRoomsInfo:      (*Server).roomsInfo,
	http.MethodGet + " " + rocketchat.PathInquiriesList:  (*Server).inquiriesList,
	http.MethodGet + " " + rocketchat.PathRooms:          (*Server).listRooms,
}

func (s *Server) answer(r *http.Request, endpoint string, body []byte, readErr error, f Failure, armed bool) (reply, bool) {
	if armed && !s.log.Wait(r.Context(), f.Hang) {
		return reply{}, false
	}
	if !s.log.Wait(r.Context(), s.latency) {
		return reply{}, false
	}
	if armed && f.isError() {
		return s.failureReply(f), true
	}
	h, known := routes[r.Method+" "+endpoint]
	if !known {
		return reply{status: http.StatusNotFound, body: mustJSON(map[string]any{"success": false, "error": "Not found"})}, true
	}
	if rep, bad := s.checkAuth(r); bad {
		return rep, true
	}
	limitHeader, limited := s.rateLimit(r.Method + " " + endpoint)
	if limited {
		rep := failure(http.StatusTooManyRequests, fmt.Sprintf(
			"Error, too many requests. Please slow down. You must wait %d seconds before trying this endpoint again. [%s]",
			int(math.Ceil(s.limitWindow.Seconds())), rocketchat.TypeTooManyRequests), "")
		rep.header = limitHeader
		return rep, true
	}
	if readErr != nil || len(body) > maxBody {
		rep := invalidParams("cannot read the request body")
		rep.header = limitHeader
		return rep, true
	}
	rep := h(s, r, body)
	rep.header = limitHeader
	return rep, true
}

func (s *Server) checkAuth(r *http.Request) (reply, bool) {
	uid, tok := r.Header.Get("X-User-Id"), r.Header.Get("X-Auth-Token")
	if uid == "" || tok == "" || (s.userID != "" && (uid != s.userID || tok != s.token)) {
		return reply{status: http.StatusUnauthorized, body: mustJSON(map[string]string{
			"status": "error", "message": "You must be logged in to do this."})}, true
	}
	return reply{}, false
}

// rateLimit counts the call in its route's fixed window. It returns the
// X-RateLimit-* headers and whether the call is over the limit.
func (s *Server) rateLimit(route string) (http.Header, bool) {
	if s.limitN <= 0 {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	w := s.windows[route]
	if w == nil || now.Sub(w.start) >= s.limitWindow {
		w = &window{start: now}
		s.windows[route] = w
	}
	w.count++
	h := make(http.Header)
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.limitN))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, s.limitN-w.count)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(w.start.Add(s.limitWindow).UnixMilli(), 10))
	return h, w.count > s.limitN
}

func (s *Server) failureReply(f Failure) reply {
	var rep reply
	switch {
	case f.RawBody != "":
		status := f.Status
		if status == 0 {
			status = http.StatusBadGateway
		}
		rep = reply{status: status, body: []byte(f.RawBody)}
	default:
		status := f.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		rep = failure(status, f.Error, f.ErrorType)
	}
	if f.RetryAfter > 0 {
		rep.header = make(http.Header)
		rep.header.Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
		if f.Status == http.StatusTooManyRequests {
			rep.header.Set("X-RateLimit-Remaining", "0")
			rep.header.Set("X-RateLimit-Reset", strconv.FormatInt(s.now().Add(f.RetryAfter).UnixMilli(), 10))
		}
	}
	return rep
}

// failure is Rocket.Chat's API.v1.failure body.
func failure(status int, errText, errType string) reply {
	m := map[string]any{"success": false, "error": errText}
	if errType != "" {
		m["errorType"] = errType
	}
	return reply{status: status, body: mustJSON(m)}
}

func invalidParams(msg string) reply {
	return failure(http.StatusBadRequest, msg+" [invalid-params]", rocketchat.TypeInvalidParams)
}

func success(fields map[string]any) reply {
	m := map[string]any{"success": true}
	for k, v := range fields {
		m[k] = v
	}
	return reply{status: http.StatusOK, body: mustJSON(m)}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"success": false, "error": "rocketchattest: " + err.Error()})
	}
	return b
}
