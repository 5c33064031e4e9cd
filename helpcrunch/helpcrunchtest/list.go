package helpcrunchtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/chatwarden/chatwarden/helpcrunch"
)

type page struct {
	Data []helpcrunch.Chat `json:"data"`
	Meta struct {
		Total int `json:"total"`
	} `json:"meta"`
}

var sortFields = map[string]bool{
	helpcrunch.SortCreatedAt: true, helpcrunch.SortLastCustomerMessageAt: true,
	helpcrunch.SortLastMessageAt: true, helpcrunch.SortClosedAt: true,
}

// checkPaging validates offset, limit (default 100, at most 100), sort and
// order (default: by id ascending).
func checkPaging(offset, limit int, sortBy, order string) (reply, bool) {
	switch {
	case offset < 0:
		return errReply(http.StatusBadRequest, "offset", "This value should be greater than or equal to 0."), false
	case limit < 1 || limit > helpcrunch.MaxPageSize:
		return errReply(http.StatusBadRequest, "limit", "This value should be between 1 and 100."), false
	case sortBy != "" && !sortFields[sortBy]:
		return errReply(http.StatusBadRequest, "sort", "The value you selected is not a valid choice."), false
	case order != "" && order != helpcrunch.OrderAsc && order != helpcrunch.OrderDesc:
		return errReply(http.StatusBadRequest, "order", "The value you selected is not a valid choice."), false
	}
	return reply{}, true
}

// pageOf sorts chats and answers one page. s.mu held.
func pageOf(chats []*helpcrunch.Chat, offset, limit int, sortBy, order string) reply {
	key := func(c *helpcrunch.Chat) int64 {
		switch sortBy {
		case helpcrunch.SortCreatedAt:
			return c.CreatedAt.UnixMilli()
		case helpcrunch.SortLastCustomerMessageAt:
			return c.LastCustomerMessageAt.UnixMilli()
		case helpcrunch.SortLastMessageAt:
			return c.LastMessageAt.UnixMilli()
		case helpcrunch.SortClosedAt:
			return c.ClosedAt.UnixMilli()
		}
		return c.ID
	}
	sort.SliceStable(chats, func(i, j int) bool {
		ki, kj := key(chats[i]), key(chats[j])
		if ki == kj {
			ki, kj = chats[i].ID, chats[j].ID
		}
		if order == helpcrunch.OrderDesc {
			return ki > kj
		}
		return ki < kj
	})
	var p page
	p.Meta.Total = len(chats)
	p.Data = []helpcrunch.Chat{}
	for i := offset; i < len(chats) && i < offset+limit; i++ {
		p.Data = append(p.Data, *chats[i])
	}
	return okReply(p)
}

func (s *Server) all() []*helpcrunch.Chat {
	out := make([]*helpcrunch.Chat, 0, len(s.chats))
	for _, c := range s.chats {
		out = append(out, c)
	}
	return out
}

// listChats serves GET /v1/chats.
func (s *Server) listChats(q url.Values) reply {
	offset, limit := 0, helpcrunch.MaxPageSize
	var err error
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil {
			return errReply(http.StatusBadRequest, "offset", "This value should be of type numeric.")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			return errReply(http.StatusBadRequest, "limit", "This value should be of type numeric.")
		}
	}
	if rep, ok := checkPaging(offset, limit, q.Get("sort"), q.Get("order")); !ok {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return pageOf(s.all(), offset, limit, q.Get("sort"), q.Get("order"))
}

type searchBody struct {
	Filter []struct {
		Field    string          `json:"field"`
		Operator string          `json:"operator"`
		Value    json.RawMessage `json:"value"`
	} `json:"filter"`
	Comparison string `json:"comparison"`
	Limit      *int   `json:"limit"`
	Offset     int    `json:"offset"`
	Sort       string `json:"sort"`
	Order      string `json:"order"`
}

// searchChats serves POST /v1/chats/search. Supported fields: chats.status
// (names in any spelling), chats.assignee (null: unassigned),
// chats.department, chats.agents, chats.customer, chats.customer.email,
// chats.customer.userId, chats.rating, chats.createdAt, chats.closedAt and
// chats.updatedAt (the fake uses lastMessageAt), with =, !=, >, <, >=, <=,
// ~ and !~. Others answer 400.
func (s *Server) searchChats(body []byte) reply {
	var in searchBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return notExpected(strings.Trim(name, `"`))
		}
		return errReply(http.StatusBadRequest, "body", "The body must be a JSON object")
	}
	limit := helpcrunch.MaxPageSize
	if in.Limit != nil {
		limit = *in.Limit
	}
	if rep, ok := checkPaging(in.Offset, limit, in.Sort, in.Order); !ok {
		return rep
	}
	comparison := strings.ToUpper(in.Comparison)
	if comparison == "" {
		comparison = helpcrunch.ComparisonAnd
	}
	if comparison != helpcrunch.ComparisonAnd && comparison != helpcrunch.ComparisonOr {
		return errReply(http.StatusBadRequest, "comparison", "The value you selected is not a valid choice.")
	}
	preds := make([]func(*helpcrunch.Chat) bool, len(in.Filter))
	for i, f := range in.Filter {
		p, err := predicate(f.Field, f.Operator, f.Value)
		if err != nil {
			return errReply(http.StatusBadRequest, fmt.Sprintf("filter[%d].%s", i, err.key), err.msg)
		}
		preds[i] = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*helpcrunch.Chat
	for _, c := range s.all() {
		if matchAll(preds, c, comparison == helpcrunch.ComparisonOr) {
			hits = append(hits, c)
		}
	}
	return pageOf(hits, in.Offset, limit, in.Sort, in.Order)
}

func matchAll(preds []func(*helpcrunch.Chat) bool, c *helpcrunch.Chat, or bool) bool {
	if len(preds) == 0 {
		return true
	}
	for _, p := range preds {
		ok := p(c)
		if or && ok {
			return true
		}
		if !or && !ok {
			return false
		}
	}
	return !or
}

type filterError struct{ key, msg string }

// predicate compiles one search filter.
func predicate(field, op string, raw json.RawMessage) (func(*helpcrunch.Chat) bool, *filterError) {
	num := func(get func(*helpcrunch.Chat) int64, nullable bool) (func(*helpcrunch.Chat) bool, *filterError) {
		var want int64
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			if !nullable {
				return nil, &filterError{"value", "This value should not be null."}
			}
		} else if json.Unmarshal(raw, &want) != nil {
			return nil, &filterError{"value", "This value should be of type numeric."}
		}
		cmp, ferr := numberOp(op)
		if ferr != nil {
			return nil, ferr
		}
		return func(c *helpcrunch.Chat) bool { return cmp(get(c), want) }, nil
	}
	str := func(get func(*helpcrunch.Chat) string, norm func(string) string) (func(*helpcrunch.Chat) bool, *filterError) {
		var want string
		if json.Unmarshal(raw, &want) != nil {
			return nil, &filterError{"value", "This value should be of type string."}
		}
		want = norm(want)
		cmp, ferr := stringOp(op)
		if ferr != nil {
			return nil, ferr
		}
		return func(c *helpcrunch.Chat) bool { return cmp(norm(get(c)), want) }, nil
	}
	same := func(s string) string { return s }
	lower := strings.ToLower
	switch field {
	case helpcrunch.FieldStatus:
		return str(func(c *helpcrunch.Chat) string { return string(c.Status) }, func(s string) string {
			if st, err := helpcrunch.ParseStatus(s); err == nil {
				return string(st)
			}
			return s
		})
	case helpcrunch.FieldAssignee:
		return num(func(c *helpcrunch.Chat) int64 {
			if c.Assignee == nil {
				return 0
			}
			return c.Assignee.ID
		}, true)
	case helpcrunch.FieldDepartment:
		return num(func(c *helpcrunch.Chat) int64 {
			if c.Department == nil {
				return 0
			}
			return c.Department.ID
		}, true)
	case helpcrunch.FieldCustomer:
		return num(func(c *helpcrunch.Chat) int64 {
			if c.Customer == nil {
				return 0
			}
			return c.Customer.ID
		}, false)
	case helpcrunch.FieldAgents:
		var want int64
		if json.Unmarshal(raw, &want) != nil {
			return nil, &filterError{"value", "This value should be of type numeric."}
		}
		if op != helpcrunch.OperatorEq && op != helpcrunch.OperatorNe {
			return nil, &filterError{"operator", "The value you selected is not a valid choice."}
		}
		return func(c *helpcrunch.Chat) bool {
			has := slices.ContainsFunc(c.Agents, func(a helpcrunch.Agent) bool { return a.ID == want })
			return has == (op == helpcrunch.OperatorEq)
		}, nil
	case helpcrunch.FieldCustomerEmail:
		return str(func(c *helpcrunch.Chat) string {
			if c.Customer == nil {
				return ""
			}
			return c.Customer.Email
		}, lower)
	case helpcrunch.FieldCustomerUserID:
		return str(func(c *helpcrunch.Chat) string {
			if c.Customer == nil {
				return ""
			}
			return c.Customer.UserID
		}, same)
	case helpcrunch.FieldRating:
		return str(func(c *helpcrunch.Chat) string { return c.Rating }, same)
	case helpcrunch.FieldCreatedAt:
		return num(func(c *helpcrunch.Chat) int64 { return c.CreatedAt.Unix() }, false)
	case helpcrunch.FieldClosedAt:
		return num(func(c *helpcrunch.Chat) int64 {
			if c.ClosedAt.IsZero() {
				return 0
			}
			return c.ClosedAt.Unix()
		}, true)
	case helpcrunch.FieldUpdatedAt:
		return num(func(c *helpcrunch.Chat) int64 { return c.LastMessageAt.Unix() }, false)
	}
	return nil, &filterError{"field", fmt.Sprintf("Field %q is not searchable (in helpcrunchtest).", field)}
}

func numberOp(op string) (func(a, b int64) bool, *filterError) {
	switch op {
	case helpcrunch.OperatorEq:
		return func(a, b int64) bool { return a == b }, nil
	case helpcrunch.OperatorNe:
		return func(a, b int64) bool { return a != b }, nil
	case helpcrunch.OperatorGt:
		return func(a, b int64) bool { return a > b }, nil
	case helpcrunch.OperatorLt:
		return func(a, b int64) bool { return a < b }, nil
	case helpcrunch.OperatorGte:
		return func(a, b int64) bool { return a >= b }, nil
	case helpcrunch.OperatorLte:
		return func(a, b int64) bool { return a <= b }, nil
	}
	return nil, &filterError{"operator", "The value you selected is not a valid choice."}
}

func stringOp(op string) (func(a, b string) bool, *filterError) {
	switch op {
	case helpcrunch.OperatorEq:
		return func(a, b string) bool { return a == b }, nil
	case helpcrunch.OperatorNe:
		return func(a, b string) bool { return a != b }, nil
	case helpcrunch.OperatorContains:
		return strings.Contains, nil
	case helpcrunch.OperatorNotContains:
		return func(a, b string) bool { return !strings.Contains(a, b) }, nil
	}
	return nil, &filterError{"operator", "The value you selected is not a valid choice."}
}
