package livechattest

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/chatwarden/chatwarden/livechat"
)

// args are the top-level fields of a request body, for presence checks.
type args map[string]json.RawMessage

func (a args) has(k string) bool {
	raw, ok := a[k]
	return ok && string(raw) != "null"
}

type handler func(s *Server, body []byte, a args) reply

// actions are the served actions. Each handler takes s.mu itself.
var actions = map[string]handler{
	"get_chat":               (*Server).getChat,
	"update_chat_properties": (*Server).updateChatProperties,
	"delete_chat_properties": (*Server).deleteChatProperties,
	"deactivate_chat":        (*Server).deactivateChat,
	"transfer_chat":          (*Server).transferChat,
	"tag_thread":             (*Server).tagThread,
	"untag_thread":           (*Server).untagThread,
	"send_event":             (*Server).sendEvent,
	"set_routing_status":     (*Server).setRoutingStatus,
	"list_chats":             (*Server).listChats,
	"list_archives":          (*Server).listArchives,
}

// decode reads a request body into v strictly, as the API validates its
// requests: a field v does not declare (one the documentation does not list
// for the action, or one removed from v3.6 such as send_event's
// attach_to_last_thread) is a validation error (HTTP 422), so a client that
// sends a wrong shape fails its tests here instead of in production.
func decode(body []byte, v any) (reply, bool) {
	if len(body) == 0 {
		return reply{}, true
	}
	if err := strictDecode(body, v); err != nil {
		return validation("Wrong format of request: " + err.Error()), false
	}
	return reply{}, true
}

// unknownField is the first key of a not in allowed, sorted, or "".
func unknownField(a args, allowed ...string) string {
	var bad []string
	for k := range a {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	slices.Sort(bad)
	return bad[0]
}

func chatNotFound(id string) reply { return notFound("Chat not found: " + id) }

// writableRouting are the routing properties agents may write at chat level
// (https://platform.text.com/docs/messaging/references/default-properties);
// the fake answers validation for the read-only ones.
var writableRouting = map[string]bool{livechat.PropPinned: true, livechat.PropIgnoreAgentsRouting: true}

func (s *Server) getChat(body []byte, _ args) reply {
	var in struct {
		ChatID   string `json:"chat_id"`
		ThreadID string `json:"thread_id"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if in.ChatID == "" {
		return validation("`chat_id` is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[in.ChatID]
	if !ok {
		return chatNotFound(in.ChatID)
	}
	i := len(rec.threads) - 1
	if in.ThreadID != "" {
		if i, _ = rec.thread(in.ThreadID); i < 0 {
			return notFound("Thread not found: " + in.ThreadID)
		}
	}
	return okReply(rec.view(i))
}

// updateChatProperties merges chat-level properties. Writing a read-only
// routing property (anything but pinned and ignore_agents_routing) is a
// validation error.
func (s *Server) updateChatProperties(body []byte, a args) reply {
	var in struct {
		ID         string                    `json:"id"`
		Properties map[string]map[string]any `json:"properties"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if in.ID == "" {
		return validation("`id` is required")
	}
	if !a.has("properties") {
		return validation("`properties` is required")
	}
	for ns, m := range in.Properties {
		if m == nil {
			return validation(fmt.Sprintf("properties.%s must be an object", ns))
		}
		if ns == livechat.NSRouting {
			for name := range m {
				if !writableRouting[name] {
					return validation(fmt.Sprintf("Property routing.%s is read-only", name))
				}
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[in.ID]
	if !ok {
		return chatNotFound(in.ID)
	}
	if rec.chat.Properties == nil {
		rec.chat.Properties = make(livechat.Properties, len(in.Properties))
	}
	for ns, m := range in.Properties {
		dst := rec.chat.Properties[ns]
		if dst == nil {
			dst = make(map[string]any, len(m))
			rec.chat.Properties[ns] = dst
		}
		for k, v := range m {
			dst[k] = v
		}
	}
	// routing.pinned is read-write on the chat and a read-only copy on its
	// threads; keep the copies in step so list_archives (which looks at the
	// thread first) sees an unpinned chat as unpinned.
	if v, ok := in.Properties[livechat.NSRouting][livechat.PropPinned]; ok {
		for _, tr := range rec.threads {
			if _, has := tr.t.Properties.Get(livechat.NSRouting, livechat.PropPinned); has {
				tr.t.Properties[livechat.NSRouting][livechat.PropPinned] = v
			}
		}
	}
	return okReply(nil)
}

func (s *Server) deleteChatProperties(body []byte, a args) reply {
	var in struct {
		ID         string              `json:"id"`
		Properties map[string][]string `json:"properties"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if in.ID == "" {
		return validation("`id` is required")
	}
	if !a.has("properties") {
		return validation("`properties` is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[in.ID]
	if !ok {
		return chatNotFound(in.ID)
	}
	for ns, names := range in.Properties {
		m := rec.chat.Properties[ns]
		for _, name := range names {
			delete(m, name)
		}
		if m != nil && len(m) == 0 {
			delete(rec.chat.Properties, ns)
		}
	}
	return okReply(nil)
}

// deactivateChat closes the latest thread. Like LiveChat, it leaves the
// chat-level routing.pinned as it was. The fake does not check requester
// presence.
func (s *Server) deactivateChat(body []byte, _ args) reply {
	var in struct {
		ID                      string `json:"id"`
		IgnoreRequesterPresence bool   `json:"ignore_requester_presence"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if in.ID == "" {
		return validation("`id` is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[in.ID]
	if !ok {
		return chatNotFound(in.ID)
	}
	l := rec.latest()
	if l == nil || !l.t.Active {
		return chatInactive()
	}
	l.t.Active = false
	return okReply(nil)
}

// transferChat moves an active chat: to groups (chat and thread access
// become the groups), or to agents (they replace the thread's agents, are
// added to the chat's users as present while the other agents are no
// longer present, and the thread's routing.unassigned becomes false). Agent availability and requester presence are not checked.
func (s *Server) transferChat(body []byte, _ args) reply {
	var in struct {
		ID     string `json:"id"`
		Target *struct {
			Type string            `json:"type"`
			IDs  []json.RawMessage `json:"ids"`
		} `json:"target"`
		IgnoreAgentsAvailability bool `json:"ignore_agents_availability"`
		IgnoreRequesterPresence  bool `json:"ignore_requester_presence"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if in.ID == "" {
		return validation("`id` is required")
	}
	var groups []int
	var agents []string
	if t := in.Target; t != nil {
		if len(t.IDs) == 0 {
			return validation("`target.ids` is required")
		}
		for _, raw := range t.IDs {
			switch t.Type {
			case "group":
				var g int
				if err := json.Unmarshal(raw, &g); err != nil {
					return validation("`target.ids` must be group ids (numbers)")
				}
				groups = append(groups, g)
			case "agent":
				var id string
				if err := json.Unmarshal(raw, &id); err != nil || id == "" {
					return validation("`target.ids` must be agent ids (strings)")
				}
				agents = append(agents, id)
			default:
				return validation("`target.type` must be group or agent")
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[in.ID]
	if !ok {
		return chatNotFound(in.ID)
	}
	l := rec.latest()
	if l == nil || !l.t.Active {
		return chatInactive()
	}
	if len(groups) > 0 {
		rec.chat.Access.GroupIDs = slices.Clone(groups)
		l.t.Access.GroupIDs = slices.Clone(groups)
	}
	if len(agents) > 0 {
		isAgent := map[string]bool{}
		for _, u := range rec.chat.Users {
			if u.Type == livechat.UserAgent {
				isAgent[u.ID] = true
			}
		}
		l.t.UserIDs = slices.DeleteFunc(l.t.UserIDs, func(id string) bool { return isAgent[id] })
		for i := range rec.chat.Users { // the agents leave, the targets join
			if u := &rec.chat.Users[i]; u.Type == livechat.UserAgent {
				u.Present = slices.Contains(agents, u.ID)
			}
		}
		for _, id := range agents {
			l.t.UserIDs = append(l.t.UserIDs, id)
			if !isAgent[id] {
				rec.chat.Users = append(rec.chat.Users, livechat.User{ID: id, Type: livechat.UserAgent, Present: true})
				isAgent[id] = true
			}
		}
		if l.t.Properties == nil {
			l.t.Properties = livechat.Properties{}
		}
		if l.t.Properties[livechat.NSRouting] == nil {
			l.t.Properties[livechat.NSRouting] = map[string]any{}
		}
		l.t.Properties[livechat.NSRouting][livechat.PropUnassigned] = false
	}
	return okReply(nil)
}

func (s *Server) tagThread(body []byte, _ args) reply   { return s.tag(body, true) }
func (s *Server) untagThread(body []byte, _ args) reply { return s.tag(body, false) }

func (s *Server) tag(body []byte, add bool) reply {
	var in struct {
		ChatID   string `json:"chat_id"`
		ThreadID string `json:"thread_id"`
		Tag      string `json:"tag"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	switch {
	case in.ChatID == "":
		return validation("`chat_id` is required")
	case in.ThreadID == "":
		return validation("`thread_id` is required")
	case in.Tag == "":
		return validation("`tag` is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[in.ChatID]
	if !ok {
		return chatNotFound(in.ChatID)
	}
	_, tr := rec.thread(in.ThreadID)
	if tr == nil {
		return notFound("Thread not found: " + in.ThreadID)
	}
	has := slices.Contains(tr.t.Tags, in.Tag)
	switch {
	case add && !has:
		tr.t.Tags = append(tr.t.Tags, in.Tag)
	case !add && has:
		tr.t.Tags = slices.DeleteFunc(tr.t.Tags, func(t string) bool { return t == in.Tag })
	}
	return okReply(nil)
}

// sentEvent is an event send_event accepts, in the v3.6 shape
// (https://platform.text.com/docs/messaging/agent-chat-api/data-structures#events).
// The fake models the message and system_message types.
type sentEvent struct {
	Type              string              `json:"type"`
	Text              string              `json:"text"`
	Visibility        string              `json:"visibility"`
	CustomID          string              `json:"custom_id"`
	Properties        livechat.Properties `json:"properties"`
	SystemMessageType string              `json:"system_message_type"`
	TextVars          map[string]string   `json:"text_vars"`
}

// check answers validation for what v3.6 refuses: a missing text, a
// visibility other than all or agents, a system message without
// system_message_type, a message with system message fields, or a type the
// fake does not model.
func (e *sentEvent) check(has func(string) bool) (reply, bool) {
	switch e.Type {
	case livechat.EventMessage:
		if has("system_message_type") || has("text_vars") {
			return validation("`event.system_message_type` and `event.text_vars` are for system messages"), false
		}
	case livechat.EventSystemMessage:
		if e.SystemMessageType == "" {
			return validation("`event.system_message_type` is required"), false
		}
	case "":
		return validation("`event.type` is required"), false
	default:
		return validation("`event.type` " + e.Type + " is not supported by the fake"), false
	}
	if e.Text == "" {
		return validation("`event.text` is required"), false
	}
	if has("visibility") && e.Visibility != "all" && e.Visibility != "agents" {
		return validation("`event.visibility` must be all or agents"), false
	}
	return reply{}, true
}

// sendEvent appends the event to the latest thread when it is active;
// otherwise it answers chat_inactive (v3.6 has no attach_to_last_thread:
// sending it is a validation error, as is the pre-3.4 `recipients` or any
// other field the v3.6 event does not have).
func (s *Server) sendEvent(body []byte, a args) reply {
	var in struct {
		ChatID string          `json:"chat_id"`
		Event  json.RawMessage `json:"event"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if in.ChatID == "" {
		return validation("`chat_id` is required")
	}
	if !a.has("event") {
		return validation("`event` is required")
	}
	var ev sentEvent
	if err := strictDecode(in.Event, &ev); err != nil {
		return validation("Wrong format of event: " + err.Error())
	}
	var evArgs args
	if err := json.Unmarshal(in.Event, &evArgs); err != nil {
		return validation("Wrong format of event: " + err.Error())
	}
	if rep, ok := ev.check(evArgs.has); !ok {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[in.ChatID]
	if !ok {
		return chatNotFound(in.ChatID)
	}
	l := rec.latest()
	if l == nil || !l.t.Active {
		return chatInactive()
	}
	id := fmt.Sprintf("%s_%d", l.t.ID, len(l.t.Events)+1)
	var stored map[string]any
	if err := json.Unmarshal(in.Event, &stored); err != nil {
		return validation("Wrong format of event: " + err.Error())
	}
	stored["id"] = id
	stored["created_at"] = s.now().UTC().Format("2006-01-02T15:04:05.000000Z")
	if _, ok := stored["visibility"]; !ok {
		stored["visibility"] = "all"
	}
	raw, err := json.Marshal(stored)
	if err != nil {
		return validation("Wrong format of event: " + err.Error())
	}
	var got livechat.Event
	if err := json.Unmarshal(raw, &got); err != nil {
		return validation("Wrong format of event: " + err.Error())
	}
	l.t.Events = append(l.t.Events, got)
	return okReply(map[string]string{"event_id": id})
}

var routingStatuses = map[string]bool{
	livechat.RoutingAcceptingChats: true, livechat.RoutingNotAcceptingChats: true, livechat.RoutingOffline: true,
}

func (s *Server) setRoutingStatus(body []byte, _ args) reply {
	var in struct {
		Status  string `json:"status"`
		AgentID string `json:"agent_id"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if !routingStatuses[in.Status] {
		return validation("`status` must be accepting_chats, not_accepting_chats or offline")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routing[in.AgentID] = in.Status
	return okReply(nil)
}
