package helpcrunchtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/internal/fakeapi"
)

// AddChat stores a copy of c, replacing a chat with the same id. A zero id
// is generated (1000001, ...); an empty status becomes "new"; a zero
// CreatedAt becomes now.
func (s *Server) AddChat(c helpcrunch.Chat) int64 {
	c = copyChat(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == 0 {
		s.seq++
		c.ID = 1000000 + s.seq
	}
	if c.Status == "" {
		c.Status = helpcrunch.StatusNew
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = helpcrunch.At(s.now())
	}
	s.chats[c.ID] = &c
	return c.ID
}

// AddAgent registers an agent. Once any agent is registered, assigning a chat
// to an unknown agent id fails with 404 entity_not_found, and a known agent
// is answered with its name and email.
func (s *Server) AddAgent(a helpcrunch.Agent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agents[a.ID] = a
}

// AddDepartment registers a department; see AddAgent for the effect.
func (s *Server) AddDepartment(d helpcrunch.Department) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.departments[d.ID] = d
}

// Chat returns a copy of the stored chat.
func (s *Server) Chat(id int64) (helpcrunch.Chat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chats[id]
	if !ok {
		return helpcrunch.Chat{}, false
	}
	return copyChat(*c), true
}

// Chats returns copies of every chat, ordered by id.
func (s *Server) Chats() []helpcrunch.Chat {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Sorted(maps.Keys(s.chats))
	out := make([]helpcrunch.Chat, len(ids))
	for i, id := range ids {
		out[i] = copyChat(*s.chats[id])
	}
	return out
}

func copyChat(c helpcrunch.Chat) helpcrunch.Chat {
	c.Agents = slices.Clone(c.Agents)
	c.Customer = fakeapi.ClonePtr(c.Customer)
	c.Assignee = fakeapi.ClonePtr(c.Assignee)
	c.Department = fakeapi.ClonePtr(c.Department)
	return c
}

// fields are the top-level members of a request body, raw.
type fields map[string]json.RawMessage

func (f fields) has(k string) bool { _, ok := f[k]; return ok }

func (f fields) null(k string) bool { return bytes.Equal(bytes.TrimSpace(f[k]), []byte("null")) }

func decodeFields(body []byte) (fields, reply, bool) {
	var f fields
	if err := json.Unmarshal(body, &f); err != nil || f == nil {
		return nil, errReply(http.StatusBadRequest, "body", "The body must be a JSON object"), false
	}
	return f, reply{}, true
}

// int64Field reads a JSON number.
func int64Field(f fields, k string) (int64, bool) {
	var n int64
	if !f.has(k) || json.Unmarshal(f[k], &n) != nil {
		return 0, false
	}
	return n, true
}

// notExpected is HelpCrunch's 400 for a member the endpoint does not take
// (its validator names the member as the code).
func notExpected(k string) reply {
	return errReply(http.StatusBadRequest, k, "This field was not expected.")
}

// chatFor decodes the body, refuses members other than "id" and allowed,
// and finds the chat of its "id". s.mu held.
func (s *Server) chatFor(body []byte, allowed ...string) (fields, *helpcrunch.Chat, reply, bool) {
	f, rep, ok := decodeFields(body)
	if !ok {
		return nil, nil, rep, false
	}
	keys := slices.Sorted(maps.Keys(f))
	for _, k := range keys {
		if k != "id" && !slices.Contains(allowed, k) {
			return nil, nil, notExpected(k), false
		}
	}
	id, ok := int64Field(f, "id")
	if !ok {
		return nil, nil, errReply(http.StatusBadRequest, "id", "This value should be of type numeric."), false
	}
	c, found := s.chats[id]
	if !found {
		return nil, nil, chatNotFound(), false
	}
	return f, c, reply{}, true
}

func chatNotFound() reply {
	return reply{status: http.StatusNotFound, body: errorsBody(
		helpcrunch.ErrorDetail{Code: helpcrunch.CodeChatNotFound, Message: "Chat is missing"})}
}

func entityNotFound(what string) reply {
	return reply{status: http.StatusNotFound, body: errorsBody(
		helpcrunch.ErrorDetail{Code: helpcrunch.CodeEntityNotFound, Message: what + " not found"})}
}

// setChatStatus serves PUT /v1/chats/status. Only the six documented
// spellings are accepted (so tests catch a client sending "onhold").
// Closing stamps closedAt/closedBy; any other status clears them.
func (s *Server) setChatStatus(body []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, c, rep, ok := s.chatFor(body, "status")
	if !ok {
		return rep
	}
	var raw string
	if json.Unmarshal(f["status"], &raw) != nil || !helpcrunch.Status(raw).Valid() {
		return errReply(http.StatusBadRequest, helpcrunch.CodeInvalidChatValue,
			fmt.Sprintf("status %s is not one of new, opened, pending, on hold, no communication, closed", f["status"]))
	}
	st := helpcrunch.Status(raw)
	c.Status = st
	if st == helpcrunch.StatusClosed {
		c.ClosedAt, c.ClosedBy = helpcrunch.At(s.now()), "agent"
	} else {
		c.ClosedAt, c.ClosedBy = helpcrunch.Timestamp{}, ""
	}
	return okReply(c)
}

// setAssignee serves PUT /v1/chats/assignee; assignee null unassigns.
func (s *Server) setAssignee(body []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, c, rep, ok := s.chatFor(body, "assignee")
	if !ok {
		return rep
	}
	if !f.has("assignee") {
		return errReply(http.StatusBadRequest, "assignee", "This value should not be blank.")
	}
	if f.null("assignee") {
		c.Assignee = nil
		return okReply(c)
	}
	id, ok := int64Field(f, "assignee")
	if !ok || id <= 0 {
		return errReply(http.StatusBadRequest, "assignee", "This value should be of type numeric.")
	}
	a := helpcrunch.Agent{ID: id}
	if len(s.agents) > 0 {
		known, found := s.agents[id]
		if !found {
			return entityNotFound("Agent")
		}
		a = known
	}
	c.Assignee = &a
	if !slices.ContainsFunc(c.Agents, func(x helpcrunch.Agent) bool { return x.ID == id }) {
		c.Agents = append(c.Agents, a)
	}
	return okReply(c)
}

// setDepartment serves PUT /v1/chats/department.
func (s *Server) setDepartment(body []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, c, rep, ok := s.chatFor(body, "department")
	if !ok {
		return rep
	}
	id, ok := int64Field(f, "department")
	if !ok || id <= 0 {
		return errReply(http.StatusBadRequest, "department", "This value should be of type numeric.")
	}
	d := helpcrunch.Department{ID: id}
	if len(s.departments) > 0 {
		known, found := s.departments[id]
		if !found {
			return entityNotFound("Department")
		}
		d = known
	}
	c.Department = &d
	return okReply(c)
}

// snooze serves PUT /v1/chats/snooze; snoozedUntil is unix seconds (number
// or string), null unsnoozes.
func (s *Server) snooze(body []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, c, rep, ok := s.chatFor(body, "snoozedUntil")
	if !ok {
		return rep
	}
	if !f.has("snoozedUntil") {
		return errReply(http.StatusBadRequest, "snoozedUntil", "This value should not be blank.")
	}
	var ts helpcrunch.Timestamp
	if err := json.Unmarshal(f["snoozedUntil"], &ts); err != nil {
		return errReply(http.StatusBadRequest, "snoozedUntil", "This value should be a UNIX timestamp.")
	}
	c.SnoozedUntil = ts
	return okReply(c)
}

func (s *Server) getChat(id string) reply {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return errReply(http.StatusBadRequest, "id", "This value should be of type numeric.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chats[n]
	if !ok {
		return chatNotFound()
	}
	return okReply(c)
}
