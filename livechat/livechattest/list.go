package livechattest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/chatwarden/chatwarden/livechat"
)

// Paging limits of list_chats and list_archives.
const (
	DefaultLimit = 10
	MaxLimit     = 100
)

// listQuery is what a first list request asks for; page ids carry it so
// later requests need only page_id, as in LiveChat.
type listQuery struct {
	Filters json.RawMessage `json:"f,omitempty"`
	Limit   int             `json:"l"`
	Order   string          `json:"o"`
}

// rowKey orders rows: by thread creation time, then chat id, then thread id.
type rowKey struct {
	T      int64  `json:"t"`
	Chat   string `json:"c"`
	Thread string `json:"h,omitempty"`
}

func (a rowKey) less(b rowKey) bool {
	if a.T != b.T {
		return a.T < b.T
	}
	if a.Chat != b.Chat {
		return a.Chat < b.Chat
	}
	return a.Thread < b.Thread
}

// cursor is the content of a page id: the query and the key of the last row
// returned. Paging is therefore not a snapshot: rows are selected afresh on
// every page, after that key, so chats that change while a client pages can
// appear, disappear or shift between pages, as with the real API.
type cursor struct {
	listQuery
	After rowKey `json:"a"`
	Kind  string `json:"k"` // which list the page id belongs to
}

func encodePageID(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageID(id, kind string) (cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return cursor{}, false
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.Kind != kind {
		return cursor{}, false
	}
	return c, true
}

// parseList reads filters/limit/sort_order or page_id, with the API's rules:
// page_id excludes the others; limit is 1..100 (default 10); sort_order is
// asc or desc (default desc).
func parseList(a args, kind string) (q listQuery, after *rowKey, rep reply, ok bool) {
	if k := unknownField(a, "filters", "limit", "sort_order", "page_id"); k != "" {
		return q, nil, validation("Wrong format of request: unknown field `" + k + "`"), false
	}
	if raw, has := a["page_id"]; has && string(raw) != "null" && string(raw) != `""` {
		for _, k := range [...]string{"filters", "limit", "sort_order"} {
			if _, present := a[k]; present {
				return q, nil, validation("The filters, limit and sort_order parameters can't be provided along with page_id"), false
			}
		}
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return q, nil, validation("`page_id` must be a string"), false
		}
		c, valid := decodePageID(id, kind)
		if !valid {
			return q, nil, validation("Invalid page_id"), false
		}
		return c.listQuery, &c.After, reply{}, true
	}
	q.Limit = DefaultLimit
	if raw, has := a["limit"]; has {
		if json.Unmarshal(raw, &q.Limit) != nil {
			return q, nil, validation("`limit` must be an integer"), false
		}
		if q.Limit < 1 || q.Limit > MaxLimit {
			return q, nil, validation(fmt.Sprintf("`limit` must be between 1 and %d", MaxLimit)), false
		}
	}
	q.Order = livechat.SortDesc
	if raw, has := a["sort_order"]; has {
		if json.Unmarshal(raw, &q.Order) != nil || (q.Order != livechat.SortAsc && q.Order != livechat.SortDesc) {
			return q, nil, validation("`sort_order` must be asc or desc"), false
		}
	}
	if raw, has := a["filters"]; has && string(raw) != "null" {
		q.Filters = raw
	}
	return q, nil, reply{}, true
}

func strictDecode(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// pager collects one page during a single ordered pass over candidate rows:
// it counts every match (found_chats), skips rows up to the cursor and keeps
// at most limit rows, noting whether another match follows.
type pager[R any] struct {
	q     listQuery
	after *rowKey
	kind  string
	found int
	rows  []R
	last  rowKey
	more  bool
}

func (p *pager[R]) add(key rowKey, build func() R) {
	p.found++
	if p.after != nil {
		if p.q.Order == livechat.SortDesc && !key.less(*p.after) {
			return
		}
		if p.q.Order != livechat.SortDesc && !p.after.less(key) {
			return
		}
	}
	if len(p.rows) < p.q.Limit {
		p.rows = append(p.rows, build())
		p.last = key
		return
	}
	p.more = true
}

func (p *pager[R]) next() string {
	if !p.more {
		return ""
	}
	return encodePageID(cursor{listQuery: p.q, After: p.last, Kind: p.kind})
}

// listArchives answers one row per thread matching the filters.
func (s *Server) listArchives(_ []byte, a args) reply {
	const kind = "list_archives"
	q, after, rep, ok := parseList(a, kind)
	if !ok {
		return rep
	}
	var f archiveFilters
	if err := strictDecode(q.Filters, &f); err != nil {
		return validation("Wrong format of filters (livechattest supports query, from, to, chat_ids, thread_ids, group_ids, properties, agents, tags, event_types): " + err.Error())
	}
	if err := f.prepare(); err != nil {
		return validation("Wrong format of filters: " + err.Error())
	}
	if len(f.ThreadIDs) > 0 && after != nil {
		return validation("filters.thread_ids cannot be used with pagination")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p := pager[livechat.Chat]{q: q, after: after, kind: kind}
	s.walk(q.Order, func(r *rowRef) {
		if f.match(r.rec, r.tr) {
			p.add(r.key, func() livechat.Chat { return r.rec.viewOf(r.tr) })
		}
	})
	if p.rows == nil {
		p.rows = []livechat.Chat{}
	}
	// Encoded while s.mu is held: the rows share the stored data.
	return okReply(livechat.ArchivesPage{Chats: p.rows, FoundChats: p.found, NextPageID: p.next()})
}

// chatsFilters are the list_chats filters.
type chatsFilters struct {
	Active                     *bool       `json:"active"`
	IncludeChatsWithoutThreads *bool       `json:"include_chats_without_threads"`
	GroupIDs                   []int       `json:"group_ids"`
	Properties                 propFilters `json:"properties"`

	props []propCond
}

func (f *chatsFilters) match(rec *chatRec) bool {
	l := rec.latest()
	if l == nil && f.IncludeChatsWithoutThreads != nil && !*f.IncludeChatsWithoutThreads {
		return false
	}
	if f.Active != nil && (l != nil && l.t.Active) != *f.Active {
		return false
	}
	if len(f.GroupIDs) > 0 {
		groups := rec.chat.Access.GroupIDs
		if len(groups) == 0 && l != nil {
			groups = l.t.Access.GroupIDs
		}
		if !slices.ContainsFunc(groups, func(g int) bool { return slices.Contains(f.GroupIDs, g) }) {
			return false
		}
	}
	var tp livechat.Properties
	if l != nil {
		tp = l.t.Properties
	}
	return matchProps(f.props, tp, rec.chat.Properties)
}

// listChats answers one summary per chat, ordered by its latest thread
// (chats without threads first, by id, in ascending order).
func (s *Server) listChats(_ []byte, a args) reply {
	const kind = "list_chats"
	q, after, rep, ok := parseList(a, kind)
	if !ok {
		return rep
	}
	var f chatsFilters
	if err := strictDecode(q.Filters, &f); err != nil {
		return validation("Wrong format of filters: " + err.Error())
	}
	if len(f.GroupIDs) > 200 {
		return validation("Wrong format of filters: group_ids: at most 200")
	}
	if err := f.Properties.check(); err != nil {
		return validation("Wrong format of filters: " + err.Error())
	}
	f.props = f.Properties.conds()

	s.mu.Lock()
	defer s.mu.Unlock()
	p := pager[livechat.ChatSummary]{q: q, after: after, kind: kind}
	var bare []*chatRec // chats without threads
	for _, rec := range s.chats {
		if len(rec.threads) == 0 && f.match(rec) {
			bare = append(bare, rec)
		}
	}
	sort.Slice(bare, func(i, j int) bool { return bare[i].chat.ID < bare[j].chat.ID })
	addBare := func() {
		for i := range bare {
			if q.Order == livechat.SortDesc {
				i = len(bare) - 1 - i
			}
			rec := bare[i]
			p.add(rowKey{Chat: rec.chat.ID}, func() livechat.ChatSummary { return summary(rec) })
		}
	}
	if q.Order != livechat.SortDesc {
		addBare()
	}
	s.walk(q.Order, func(r *rowRef) {
		if r.tr == r.rec.latest() && f.match(r.rec) {
			p.add(rowKey{T: r.key.T, Chat: r.key.Chat}, func() livechat.ChatSummary { return summary(r.rec) })
		}
	})
	if q.Order == livechat.SortDesc {
		addBare()
	}
	if p.rows == nil {
		p.rows = []livechat.ChatSummary{}
	}
	return okReply(livechat.ChatsPage{ChatsSummary: p.rows, FoundChats: p.found, NextPageID: p.next()})
}

func summary(rec *chatRec) livechat.ChatSummary {
	c := rec.chat
	sum := livechat.ChatSummary{ID: c.ID, Users: c.Users, Properties: c.Properties, Access: c.Access, IsFollowed: c.IsFollowed}
	l := rec.latest()
	if l == nil {
		return sum
	}
	t := &l.t
	sum.LastThreadSummary = &livechat.ThreadSummary{
		ID: t.ID, CreatedAt: t.CreatedAt, UserIDs: t.UserIDs, Properties: t.Properties,
		Active: t.Active, Access: t.Access, Tags: t.Tags,
	}
	type lastEvent struct {
		ThreadID        string         `json:"thread_id"`
		ThreadCreatedAt time.Time      `json:"thread_created_at"`
		Event           livechat.Event `json:"event"`
	}
	last := map[string]lastEvent{}
	for _, e := range t.Events {
		if e.Type != "" {
			last[e.Type] = lastEvent{t.ID, t.CreatedAt, e}
		}
	}
	if len(last) > 0 {
		sum.LastEventPerType, _ = json.Marshal(last)
	}
	return sum
}
