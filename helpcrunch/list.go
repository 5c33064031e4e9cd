package helpcrunch

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Sort fields of the list and search calls
// (https://docs.helpcrunch.com/rest-api-v1/get-chats-v1).
const (
	SortCreatedAt             = "chats.createdAt"
	SortLastCustomerMessageAt = "chats.lastCustomerMessageAt"
	SortLastMessageAt         = "chats.lastMessageAt"
	SortClosedAt              = "chats.closedAt"
)

// Sort orders.
const (
	OrderAsc  = "asc"
	OrderDesc = "desc"
)

// Searchable fields (https://docs.helpcrunch.com/en/rest-api-v1/search-chats-v1).
// A filter's value must have the field's type: ids and dates (unix seconds)
// are numbers.
const (
	FieldAssignee       = "chats.assignee"
	FieldAgents         = "chats.agents"
	FieldCreatedAt      = "chats.createdAt"
	FieldUpdatedAt      = "chats.updatedAt"
	FieldDepartment     = "chats.department"
	FieldStatus         = "chats.status"
	FieldClosedAt       = "chats.closedAt"
	FieldRating         = "chats.rating"
	FieldCustomer       = "chats.customer"
	FieldCustomerEmail  = "chats.customer.email"
	FieldCustomerTags   = "chats.customer.tagsData" // value [{"name":"vip"}]
	FieldCustomerUserID = "chats.customer.userId"
)

// Search operators. The docs show =, > and >=; the rest come from a
// third-party client (nehxby/helpcrunch-api-client-php).
const (
	OperatorEq          = "="
	OperatorNe          = "!="
	OperatorGt          = ">"
	OperatorLt          = "<"
	OperatorGte         = ">="
	OperatorLte         = "<="
	OperatorContains    = "~"
	OperatorNotContains = "!~"
)

// Comparisons joining search filters.
const (
	ComparisonAnd = "AND"
	ComparisonOr  = "OR"
)

// SearchFilter is one filter of a search. Value is sent as JSON; a time.Time
// is sent as unix seconds.
//
// Caveat: the search examples filter chats.status with numeric strings
// ("3", "5") whose mapping to status names is not documented; check the
// values against a real account before relying on a status filter.
type SearchFilter struct {
	Field    string
	Operator string
	Value    any
}

// Where is a SearchFilter.
func Where(field, operator string, value any) SearchFilter {
	return SearchFilter{Field: field, Operator: operator, Value: value}
}

// MarshalJSON writes {"field","operator","value"}, with times as unix seconds.
func (f SearchFilter) MarshalJSON() ([]byte, error) {
	v := f.Value
	switch t := v.(type) {
	case time.Time:
		v = t.Unix()
	case *time.Time:
		if t != nil {
			v = t.Unix()
		}
	case Timestamp:
		v = t.Unix()
	}
	return json.Marshal(struct {
		Field    string `json:"field"`
		Operator string `json:"operator"`
		Value    any    `json:"value"`
	}{f.Field, f.Operator, v})
}

// ListChatsQuery is a list of chats, sorted.
type ListChatsQuery struct {
	// Sort is one of the Sort* fields; "" leaves the API default.
	Sort string
	// Order is OrderAsc or OrderDesc; "" leaves the API default.
	Order string
	// PageSize is the page size, 1..MaxPageSize; 0 means MaxPageSize.
	PageSize int
}

// SearchQuery is a search of chats.
type SearchQuery struct {
	Filters []SearchFilter
	// Comparison joins the filters: ComparisonAnd or ComparisonOr; "" leaves
	// the API default.
	Comparison string
	Sort       string
	Order      string
	// PageSize is the page size, 1..MaxPageSize; 0 means MaxPageSize.
	PageSize int
}

// ChatsPage is one page of the list or search calls.
type ChatsPage struct {
	Chats []Chat
	// Total is meta.total: every matching chat, not only this page.
	Total int
}

type pageEnvelope struct {
	Data []Chat `json:"data"`
	Meta struct {
		Total int `json:"total"`
	} `json:"meta"`
}

func pageSize(op string, n int) (int, error) {
	switch {
	case n == 0:
		return MaxPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, wrapErr(op, "", fmt.Errorf("%w: page size %d (want 1..%d)", ErrInvalidArgument, n, MaxPageSize))
	}
	return n, nil
}

func pageTarget(offset int) string { return "offset " + strconv.Itoa(offset) }

// ListChatsPage fetches one page: GET /v1/chats?offset=&limit=&sort=&order=.
// https://docs.helpcrunch.com/rest-api-v1/get-chats-v1
func (c *Client) ListChatsPage(ctx context.Context, q ListChatsQuery, offset int) (*ChatsPage, error) {
	limit, err := pageSize(OpListChats, q.PageSize)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, wrapErr(OpListChats, pageTarget(offset), fmt.Errorf("%w: negative offset", ErrInvalidArgument))
	}
	v := url.Values{}
	v.Set("offset", strconv.Itoa(offset))
	v.Set("limit", strconv.Itoa(limit))
	if q.Sort != "" {
		v.Set("sort", q.Sort)
	}
	if q.Order != "" {
		v.Set("order", q.Order)
	}
	var env pageEnvelope
	if err := c.call(ctx, OpListChats, pageTarget(offset), http.MethodGet, "chats", v, nil, &env); err != nil {
		return nil, err
	}
	return &ChatsPage{Chats: env.Data, Total: env.Meta.Total}, nil
}

// ListChats iterates over every chat, page by page (see paginate).
func (c *Client) ListChats(ctx context.Context, q ListChatsQuery) iter.Seq2[Chat, error] {
	return paginate(func(offset int) (*ChatsPage, error) { return c.ListChatsPage(ctx, q, offset) })
}

// SearchChatsPage fetches one page of POST /v1/chats/search.
// https://docs.helpcrunch.com/en/rest-api-v1/search-chats-v1
func (c *Client) SearchChatsPage(ctx context.Context, q SearchQuery, offset int) (*ChatsPage, error) {
	limit, err := pageSize(OpSearchChats, q.PageSize)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, wrapErr(OpSearchChats, pageTarget(offset), fmt.Errorf("%w: negative offset", ErrInvalidArgument))
	}
	filters := q.Filters
	if filters == nil {
		filters = []SearchFilter{}
	}
	in := struct {
		Filter     []SearchFilter `json:"filter"`
		Comparison string         `json:"comparison,omitempty"`
		Limit      int            `json:"limit"`
		Offset     int            `json:"offset"`
		Sort       string         `json:"sort,omitempty"`
		Order      string         `json:"order,omitempty"`
	}{filters, q.Comparison, limit, offset, q.Sort, q.Order}
	var env pageEnvelope
	if err := c.call(ctx, OpSearchChats, pageTarget(offset), http.MethodPost, "chats/search", nil, in, &env); err != nil {
		return nil, err
	}
	return &ChatsPage{Chats: env.Data, Total: env.Meta.Total}, nil
}

// SearchChats iterates over every chat matching q, page by page (see
// paginate).
func (c *Client) SearchChats(ctx context.Context, q SearchQuery) iter.Seq2[Chat, error] {
	return paginate(func(offset int) (*ChatsPage, error) { return c.SearchChatsPage(ctx, q, offset) })
}

// paginate walks offset pages: it raises the offset by the rows received
// until it reaches meta.total or a page comes back empty. Offset paging is not
// a snapshot: chats created or changed meanwhile may be skipped or seen twice
// (sort by chats.createdAt asc to keep it stable for old chats). Every page
// waits for the client's rate limiter.
//
// On an error the iterator yields it once (with a zero Chat) and stops.
// Breaking out of the loop stops fetching.
func paginate(fetch func(offset int) (*ChatsPage, error)) iter.Seq2[Chat, error] {
	return func(yield func(Chat, error) bool) {
		offset := 0
		for {
			p, err := fetch(offset)
			if err != nil {
				yield(Chat{}, err)
				return
			}
			for _, ch := range p.Chats {
				if !yield(ch, nil) {
					return
				}
			}
			offset += len(p.Chats)
			if len(p.Chats) == 0 || offset >= p.Total {
				return
			}
		}
	}
}
