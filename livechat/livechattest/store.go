package livechattest

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/livechat"
)

// chatRec is a stored chat: chat-level data plus all of its threads, oldest
// first. rec.chat.Thread is always nil.
type chatRec struct {
	chat    livechat.Chat
	threads []*threadRec
}

type threadRec struct {
	t   livechat.Thread
	seq uint64 // insertion order, breaks ties of CreatedAt
}

func (rec *chatRec) latest() *threadRec {
	if len(rec.threads) == 0 {
		return nil
	}
	return rec.threads[len(rec.threads)-1]
}

func (rec *chatRec) thread(id string) (int, *threadRec) {
	for i, tr := range rec.threads {
		if tr.t.ID == id {
			return i, tr
		}
	}
	return -1, nil
}

// viewOf is view of the thread tr.
func (rec *chatRec) viewOf(tr *threadRec) livechat.Chat {
	return rec.view(slices.Index(rec.threads, tr))
}

// rowRef is one entry of the thread index: a thread and its chat, under the
// key list_archives orders by.
type rowRef struct {
	key rowKey
	rec *chatRec
	tr  *threadRec
}

func threadKey(rec *chatRec, tr *threadRec) rowKey {
	return rowKey{T: tr.t.CreatedAt.UnixNano(), Chat: rec.chat.ID, Thread: tr.t.ID}
}

// indexPos is where key is, or would be inserted, in s.index. s.mu held.
func (s *Server) indexPos(key rowKey) int {
	return sort.Search(len(s.index), func(i int) bool { return !s.index[i].key.less(key) })
}

func (s *Server) indexInsert(r *rowRef) {
	i := s.indexPos(r.key)
	s.index = slices.Insert(s.index, i, r)
}

func (s *Server) indexRemove(key rowKey) {
	if i := s.indexPos(key); i < len(s.index) && s.index[i].key == key {
		s.index = slices.Delete(s.index, i, i+1)
	}
}

// walk calls f for every thread in key order (asc unless order is desc).
// s.mu held.
func (s *Server) walk(order string, f func(r *rowRef)) {
	if order == livechat.SortDesc {
		for i := len(s.index) - 1; i >= 0; i-- {
			f(s.index[i])
		}
		return
	}
	for _, r := range s.index {
		f(r)
	}
}

// view is the chat with its i-th thread, sharing the stored data: encode it
// or copy it before releasing s.mu.
func (rec *chatRec) view(i int) livechat.Chat {
	c := rec.chat
	if i < 0 || i >= len(rec.threads) {
		return c
	}
	t := rec.threads[i].t
	t.PreviousThreadID, t.NextThreadID = "", ""
	if i > 0 {
		t.PreviousThreadID = rec.threads[i-1].t.ID
	}
	if i+1 < len(rec.threads) {
		t.NextThreadID = rec.threads[i+1].t.ID
	}
	c.Thread = &t
	return c
}

// AddChat stores c, replacing the chat-level data (users, properties,
// access) of a chat with the same id. c.Thread, when set, is stored as one of
// the chat's threads (replacing a thread with the same id); threads are
// ordered by CreatedAt, so a thread that is not the newest becomes an archived
// one. Missing ids are generated ("C000001", "T000002"); a zero CreatedAt
// becomes now (and later than the chat's newest thread). c is copied: later
// changes to it do not affect the fake.
func (s *Server) AddChat(c livechat.Chat) {
	c = copyChat(c)
	th := c.Thread
	c.Thread = nil
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == "" {
		s.seq++
		c.ID = fmt.Sprintf("C%06d", s.seq)
	}
	rec, ok := s.chats[c.ID]
	if !ok {
		rec = &chatRec{}
		s.chats[c.ID] = rec
	}
	rec.chat = c
	if th != nil {
		s.upsertThread(rec, *th)
	}
}

// AddThread stores t as a thread of the existing chat chatID (see AddChat
// for ids, ordering and CreatedAt). Use it to add archived threads: give them
// an earlier CreatedAt and Active false.
func (s *Server) AddThread(chatID string, t livechat.Thread) error {
	t = copyThread(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[chatID]
	if !ok {
		return fmt.Errorf("livechattest: add thread: no chat %q", chatID)
	}
	s.upsertThread(rec, t)
	return nil
}

// upsertThread stores t in rec. s.mu held.
func (s *Server) upsertThread(rec *chatRec, t livechat.Thread) {
	if t.ID == "" {
		s.seq++
		t.ID = fmt.Sprintf("T%06d", s.seq)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.nextTime(rec)
	}
	t.PreviousThreadID, t.NextThreadID = "", ""
	_, tr := rec.thread(t.ID)
	if tr != nil {
		s.indexRemove(threadKey(rec, tr))
		tr.t = t
	} else {
		s.seq++
		tr = &threadRec{t: t, seq: s.seq}
		rec.threads = append(rec.threads, tr)
	}
	s.indexInsert(&rowRef{key: threadKey(rec, tr), rec: rec, tr: tr})
	sort.SliceStable(rec.threads, func(i, j int) bool {
		a, b := rec.threads[i], rec.threads[j]
		if !a.t.CreatedAt.Equal(b.t.CreatedAt) {
			return a.t.CreatedAt.Before(b.t.CreatedAt)
		}
		return a.seq < b.seq
	})
}

// nextTime is now in microseconds (the API's resolution), later than the
// newest thread of rec. s.mu held.
func (s *Server) nextTime(rec *chatRec) time.Time {
	now := s.now().UTC().Truncate(time.Microsecond)
	if l := rec.latest(); l != nil && !now.After(l.t.CreatedAt) {
		now = l.t.CreatedAt.Add(time.Microsecond)
	}
	return now
}

// Chat returns a copy of the chat with its latest thread (Thread is nil for
// a chat without threads).
func (s *Server) Chat(id string) (livechat.Chat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[id]
	if !ok {
		return livechat.Chat{}, false
	}
	return copyChat(rec.view(len(rec.threads) - 1)), true
}

// Chats returns copies of every chat with its latest thread, ordered by id.
func (s *Server) Chats() []livechat.Chat {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Sorted(maps.Keys(s.chats))
	out := make([]livechat.Chat, 0, len(ids))
	for _, id := range ids {
		rec := s.chats[id]
		out = append(out, copyChat(rec.view(len(rec.threads)-1)))
	}
	return out
}

// Threads returns copies of the threads of a chat, oldest first.
func (s *Server) Threads(chatID string) []livechat.Thread {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.chats[chatID]
	if !ok {
		return nil
	}
	out := make([]livechat.Thread, len(rec.threads))
	for i := range rec.threads {
		out[i] = copyThread(*rec.view(i).Thread)
	}
	return out
}

// UnassignedChat returns a chat as LiveChat shows an Unassigned one: one
// active thread created at createdAt whose routing has unassigned and pinned
// true, chat-level routing.pinned true, only a customer among the users, in
// group 0. Store it with AddChat.
func UnassignedChat(id string, createdAt time.Time) livechat.Chat {
	customer := "customer-" + strings.ToLower(id)
	return livechat.Chat{
		ID:    id,
		Users: []livechat.User{{ID: customer, Type: livechat.UserCustomer, Name: "Customer " + id, Present: false}},
		Properties: livechat.Properties{
			livechat.NSRouting: {"continuous": true, "email_follow_up": true, livechat.PropPinned: true},
		},
		Access: livechat.Access{GroupIDs: []int{0}},
		Thread: &livechat.Thread{
			ID:      "T" + id,
			Active:  true,
			UserIDs: []string{customer},
			Properties: livechat.Properties{
				livechat.NSRouting: {
					"continuous": true, "idle": false, livechat.PropPinned: true,
					livechat.PropUnassigned: true, "group_status_at_start": "offline",
				},
			},
			Access:    livechat.Access{GroupIDs: []int{0}},
			CreatedAt: createdAt.UTC().Truncate(time.Microsecond),
		},
	}
}

func livechatAuthHeader(accountID, token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(accountID+":"+token))
}

// Deep copies, so callers never share maps or slices with the store.

func copyChat(c livechat.Chat) livechat.Chat {
	c.Users = slices.Clone(c.Users)
	c.Properties = copyProps(c.Properties)
	c.Access.GroupIDs = slices.Clone(c.Access.GroupIDs)
	if c.Thread != nil {
		t := copyThread(*c.Thread)
		c.Thread = &t
	}
	return c
}

func copyThread(t livechat.Thread) livechat.Thread {
	t.UserIDs = slices.Clone(t.UserIDs)
	t.Tags = slices.Clone(t.Tags)
	t.Access.GroupIDs = slices.Clone(t.Access.GroupIDs)
	t.Properties = copyProps(t.Properties)
	if t.Events != nil {
		evs := make([]livechat.Event, len(t.Events))
		for i, e := range t.Events {
			e.Raw = slices.Clone(e.Raw)
			e.Properties = copyProps(e.Properties)
			evs[i] = e
		}
		t.Events = evs
	}
	return t
}

func copyProps(p livechat.Properties) livechat.Properties {
	if p == nil {
		return nil
	}
	out := make(livechat.Properties, len(p))
	for ns, m := range p {
		if m == nil {
			out[ns] = nil
			continue
		}
		cm := make(map[string]any, len(m))
		for k, v := range m {
			cm[k] = copyValue(v)
		}
		out[ns] = cm
	}
	return out
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = copyValue(e)
		}
		return s
	default:
		return v
	}
}
