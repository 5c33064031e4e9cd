package livechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"iter"
	"time"
)

// Sort orders of list_chats and list_archives. The API default is desc.
const (
	SortAsc  = "asc"
	SortDesc = "desc"
)

// Filter is one filter of the list methods: exactly one of Exists, Values or
// ExcludeValues should be set (the API rejects more). Build it with Exists,
// Values or ExcludeValues.
type Filter struct {
	Exists        *bool `json:"exists,omitempty"`
	Values        []any `json:"values,omitempty"`
	ExcludeValues []any `json:"exclude_values,omitempty"`
	// RequireEveryValue (agents, tags, event_types) matches only chats that
	// have every value.
	RequireEveryValue bool `json:"require_every_value,omitempty"`
}

// Exists is a filter on whether a property (or agents, tags, ...) exists.
func Exists(b bool) Filter { return Filter{Exists: &b} }

// Values is a filter matching any of vs (strings, ints or bools).
func Values(vs ...any) Filter { return Filter{Values: vs} }

// ExcludeValues is a filter matching none of vs.
func ExcludeValues(vs ...any) Filter { return Filter{ExcludeValues: vs} }

// PropertyFilters are property filters: namespace → name → filter, sent as
// filters.properties.<ns>.<name>.<exists|values|exclude_values>.
type PropertyFilters map[string]map[string]Filter

// ArchivesFilters are the filters of list_archives. Zero fields are not
// sent. See https://platform.text.com/docs/messaging/agent-chat-api#list-archives
type ArchivesFilters struct {
	Query      string
	From, To   time.Time // sent as RFC 3339 with microseconds
	ChatIDs    []string  // at most 1000
	ThreadIDs  []string  // at most 20; not combinable with other filters or paging
	GroupIDs   []int     // at most 200
	Properties PropertyFilters
	// Agents with Exists(false) returns unassigned threads, Exists(true)
	// assigned ones; Values/ExcludeValues take agent ids.
	Agents            *Filter
	Tags              *Filter
	EventTypes        *Filter
	CustomerCountries *Filter
	// Extra holds any other filter (sales, goals, surveys, greetings,
	// agent_response, ...) by its JSON key; the fields above win on a clash.
	Extra map[string]any
}

// timeLayout is RFC 3339 with microseconds, as the API documents.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON writes the filters the API expects, omitting zero fields.
func (f ArchivesFilters) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(f.Extra)+10)
	for k, v := range f.Extra {
		m[k] = v
	}
	if f.Query != "" {
		m["query"] = f.Query
	}
	if !f.From.IsZero() {
		m["from"] = f.From.Format(timeLayout)
	}
	if !f.To.IsZero() {
		m["to"] = f.To.Format(timeLayout)
	}
	if len(f.ChatIDs) > 0 {
		m["chat_ids"] = f.ChatIDs
	}
	if len(f.ThreadIDs) > 0 {
		m["thread_ids"] = f.ThreadIDs
	}
	if len(f.GroupIDs) > 0 {
		m["group_ids"] = f.GroupIDs
	}
	if len(f.Properties) > 0 {
		m["properties"] = f.Properties
	}
	if f.Agents != nil {
		m["agents"] = f.Agents
	}
	if f.Tags != nil {
		m["tags"] = f.Tags
	}
	if f.EventTypes != nil {
		m["event_types"] = f.EventTypes
	}
	if f.CustomerCountries != nil {
		m["customer_countries"] = f.CustomerCountries
	}
	return json.Marshal(m)
}

// ListArchivesQuery is the first request of a list_archives iteration.
type ListArchivesQuery struct {
	Filters ArchivesFilters
	// Limit is the page size, 1..100; 0 leaves the API default (10). Other
	// values are sent as is and the API answers ErrValidation.
	Limit int
	// SortOrder is SortAsc or SortDesc; "" leaves the API default (desc).
	SortOrder string
}

// ArchivesPage is one page of list_archives: one row per thread, so a chat
// can appear more than once.
type ArchivesPage struct {
	Chats []Chat `json:"chats"`
	// FoundChats is the API's estimate of all matching rows.
	FoundChats     int    `json:"found_chats"`
	NextPageID     string `json:"next_page_id,omitempty"`
	PreviousPageID string `json:"previous_page_id,omitempty"`
}

// ListChatsFilters are the filters of list_chats.
type ListChatsFilters struct {
	// Active: true active chats only, false inactive only, nil both.
	Active *bool `json:"active,omitempty"`
	// IncludeChatsWithoutThreads: nil leaves the API default (true).
	IncludeChatsWithoutThreads *bool           `json:"include_chats_without_threads,omitempty"`
	GroupIDs                   []int           `json:"group_ids,omitempty"`
	Properties                 PropertyFilters `json:"properties,omitempty"`
}

// ListChatsQuery is the first request of a list_chats iteration.
type ListChatsQuery struct {
	Filters   ListChatsFilters
	Limit     int    // 1..100; 0 leaves the API default (10)
	SortOrder string // SortAsc or SortDesc; "" leaves the API default (desc)
}

// ChatsPage is one page of list_chats.
type ChatsPage struct {
	ChatsSummary   []ChatSummary `json:"chats_summary"`
	FoundChats     int           `json:"found_chats"`
	NextPageID     string        `json:"next_page_id,omitempty"`
	PreviousPageID string        `json:"previous_page_id,omitempty"`
}

// listRequest is the body of a list call: either the query (first page) or
// only page_id (later pages), never both; the API rejects the mix.
type listRequest struct {
	Filters   json.RawMessage `json:"filters,omitempty"`
	SortOrder string          `json:"sort_order,omitempty"`
	Limit     int             `json:"limit,omitempty"`
	PageID    string          `json:"page_id,omitempty"`
}

func newListRequest(filters any, limit int, sortOrder, pageID string) (listRequest, error) {
	if pageID != "" {
		return listRequest{PageID: pageID}, nil
	}
	raw, err := json.Marshal(filters)
	if err != nil {
		return listRequest{}, err
	}
	r := listRequest{SortOrder: sortOrder, Limit: limit}
	if !bytes.Equal(raw, []byte("{}")) && !bytes.Equal(raw, []byte("null")) {
		r.Filters = raw
	}
	return r, nil
}

// ListArchivesPage fetches one page of list_archives. With pageID "" it
// sends q (filters, limit, sort_order); otherwise it sends only page_id and
// ignores q, as the API requires (the API remembers the query in the page
// id, valid for a month).
// https://platform.text.com/docs/messaging/agent-chat-api#list-archives
func (c *Client) ListArchivesPage(ctx context.Context, q ListArchivesQuery, pageID string) (*ArchivesPage, error) {
	const action = "list_archives"
	in, err := newListRequest(q.Filters, q.Limit, q.SortOrder, pageID)
	if err != nil {
		return nil, wrapErr(action, "", err)
	}
	var out ArchivesPage
	if err := c.call(ctx, action, pageTarget(pageID), in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListArchives iterates over every row of list_archives matching q, page by
// page: the first call carries q, the next ones only page_id, until the API
// returns no next_page_id. Each row is one thread of a chat, so the same chat
// id can be yielded more than once: dedupe if you act per chat. The result
// set is not a snapshot: chats changed while iterating may be skipped or
// seen again.
//
// On an error the iterator yields it once (with a zero Chat) and stops.
// Breaking out of the loop stops fetching.
func (c *Client) ListArchives(ctx context.Context, q ListArchivesQuery) iter.Seq2[Chat, error] {
	return paginate(func(pageID string) ([]Chat, string, error) {
		p, err := c.ListArchivesPage(ctx, q, pageID)
		if err != nil {
			return nil, "", err
		}
		return p.Chats, p.NextPageID, nil
	}, "list_archives")
}

// ListChatsPage fetches one page of list_chats; see ListArchivesPage for how
// q and pageID are sent.
// https://platform.text.com/docs/messaging/agent-chat-api#list-chats
func (c *Client) ListChatsPage(ctx context.Context, q ListChatsQuery, pageID string) (*ChatsPage, error) {
	const action = "list_chats"
	in, err := newListRequest(q.Filters, q.Limit, q.SortOrder, pageID)
	if err != nil {
		return nil, wrapErr(action, "", err)
	}
	var out ChatsPage
	if err := c.call(ctx, action, pageTarget(pageID), in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListChats iterates over the chat summaries of list_chats matching q, with
// the same paging, error and break behaviour as ListArchives.
func (c *Client) ListChats(ctx context.Context, q ListChatsQuery) iter.Seq2[ChatSummary, error] {
	return paginate(func(pageID string) ([]ChatSummary, string, error) {
		p, err := c.ListChatsPage(ctx, q, pageID)
		if err != nil {
			return nil, "", err
		}
		return p.ChatsSummary, p.NextPageID, nil
	}, "list_chats")
}

func pageTarget(pageID string) string {
	if pageID == "" {
		return "first page"
	}
	return "page " + pageID
}

// errPageLoop is yielded when the API hands back the page id it was just
// asked for, which would loop forever.
var errPageLoop = errors.New("the API returned the requested page id as next_page_id")

func paginate[T any](fetch func(pageID string) ([]T, string, error), action string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		pageID := ""
		for {
			rows, next, err := fetch(pageID)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, row := range rows {
				if !yield(row, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			if next == pageID {
				yield(zero, wrapErr(action, pageTarget(pageID), errPageLoop))
				return
			}
			pageID = next
		}
	}
}
