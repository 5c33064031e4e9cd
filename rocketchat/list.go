package rocketchat

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SortKey is one key of a list's sort, sent as the JSON query parameter
// sort={"ts":-1,...}.
type SortKey struct {
	Field string
	Desc  bool
}

func sortParam(keys []SortKey) string {
	if len(keys) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		f, _ := json.Marshal(k.Field)
		b.Write(f)
		if k.Desc {
			b.WriteString(":-1")
		} else {
			b.WriteString(":1")
		}
	}
	b.WriteByte('}')
	return b.String()
}

// DateRange filters by a date: either end may be zero.
type DateRange struct {
	Start, End time.Time
}

func (r *DateRange) param() (string, bool) {
	if r == nil || (r.Start.IsZero() && r.End.IsZero()) {
		return "", false
	}
	m := map[string]string{}
	if !r.Start.IsZero() {
		m["start"] = r.Start.UTC().Format(time.RFC3339Nano)
	}
	if !r.End.IsZero() {
		m["end"] = r.End.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(m)
	return string(b), true
}

// InquiriesQuery filters livechat/inquiries.list (queued inquiries of every
// agent; needs view-livechat-manager).
type InquiriesQuery struct {
	// Department limits the list to one department id.
	Department string
	Sort       []SortKey
	// PageSize is 1..MaxPageSize; 0 means MaxPageSize. (count=0, "all", is
	// never sent.)
	PageSize int
}

// RoomsQuery filters livechat/rooms (needs view-livechat-rooms, or view-l-room
// with Agents set to the caller only).
type RoomsQuery struct {
	Agents       []string // agent user ids, sent as agents[]
	DepartmentID string
	// Open: true open rooms only, false closed only, nil both.
	Open *bool
	// OnHold: true on-hold rooms only (Enterprise), nil both.
	OnHold       *bool
	Tags         []string // sent as tags[]
	RoomName     string
	CreatedAt    *DateRange
	ClosedAt     *DateRange
	CustomFields map[string]string
	Sort         []SortKey
	// PageSize is 1..MaxPageSize; 0 means MaxPageSize.
	PageSize int
}

// InquiriesPage is one page of livechat/inquiries.list.
type InquiriesPage struct {
	Inquiries []Inquiry `json:"inquiries"`
	Offset    int       `json:"offset"`
	Count     int       `json:"count"`
	Total     int       `json:"total"`
}

// RoomsPage is one page of livechat/rooms.
type RoomsPage struct {
	Rooms  []Room `json:"rooms"`
	Offset int    `json:"offset"`
	Count  int    `json:"count"`
	Total  int    `json:"total"`
}

func pageSize(op string, n int) (int, error) {
	switch {
	case n == 0:
		return MaxPageSize, nil
	case n < 0:
		return 0, wrapErr(op, "", fmt.Errorf("%w: negative page size %d", ErrInvalidArgument, n))
	}
	return n, nil
}

func pageTarget(offset int) string { return "offset " + strconv.Itoa(offset) }

func paging(v url.Values, offset, count int, sort []SortKey) {
	v.Set("offset", strconv.Itoa(offset))
	v.Set("count", strconv.Itoa(count))
	if s := sortParam(sort); s != "" {
		v.Set("sort", s)
	}
}

// ListInquiriesPage fetches one page of queued inquiries.
// https://developer.rocket.chat/apidocs/get-inquiries-list
func (c *Client) ListInquiriesPage(ctx context.Context, q InquiriesQuery, offset int) (*InquiriesPage, error) {
	count, err := pageSize(OpListInquiries, q.PageSize)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	paging(v, offset, count, q.Sort)
	if q.Department != "" {
		v.Set("department", q.Department)
	}
	var out InquiriesPage
	if err := c.call(ctx, OpListInquiries, pageTarget(offset), http.MethodGet, PathInquiriesList, v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListInquiries iterates over every queued inquiry matching q (see
// paginate).
func (c *Client) ListInquiries(ctx context.Context, q InquiriesQuery) iter.Seq2[Inquiry, error] {
	return paginate(func(offset int) ([]Inquiry, int, error) {
		p, err := c.ListInquiriesPage(ctx, q, offset)
		if err != nil {
			return nil, 0, err
		}
		return p.Inquiries, p.Total, nil
	})
}

// ListRoomsPage fetches one page of omnichannel rooms.
// https://developer.rocket.chat/apidocs/get-livechat-rooms
func (c *Client) ListRoomsPage(ctx context.Context, q RoomsQuery, offset int) (*RoomsPage, error) {
	count, err := pageSize(OpListRooms, q.PageSize)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	paging(v, offset, count, q.Sort)
	for _, a := range q.Agents {
		v.Add("agents[]", a)
	}
	for _, t := range q.Tags {
		v.Add("tags[]", t)
	}
	if q.DepartmentID != "" {
		v.Set("departmentId", q.DepartmentID)
	}
	if q.Open != nil {
		v.Set("open", strconv.FormatBool(*q.Open))
	}
	if q.OnHold != nil {
		v.Set("onhold", strconv.FormatBool(*q.OnHold))
	}
	if q.RoomName != "" {
		v.Set("roomName", q.RoomName)
	}
	if s, ok := q.CreatedAt.param(); ok {
		v.Set("createdAt", s)
	}
	if s, ok := q.ClosedAt.param(); ok {
		v.Set("closedAt", s)
	}
	if len(q.CustomFields) > 0 {
		b, _ := json.Marshal(q.CustomFields) // keys sorted
		v.Set("customFields", string(b))
	}
	var out RoomsPage
	if err := c.call(ctx, OpListRooms, pageTarget(offset), http.MethodGet, PathRooms, v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListRooms iterates over every room matching q (see paginate).
func (c *Client) ListRooms(ctx context.Context, q RoomsQuery) iter.Seq2[Room, error] {
	return paginate(func(offset int) ([]Room, int, error) {
		p, err := c.ListRoomsPage(ctx, q, offset)
		if err != nil {
			return nil, 0, err
		}
		return p.Rooms, p.Total, nil
	})
}

// paginate walks offset/count pages, raising the offset by the rows received
// until it reaches total or a page comes back empty. It is not a snapshot:
// rooms that change meanwhile may be skipped or seen twice. Each page goes
// through the route's rate limit.
//
// On an error the iterator yields it once (with a zero value) and stops.
// Breaking out of the loop stops fetching.
func paginate[T any](fetch func(offset int) ([]T, int, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		offset := 0
		for {
			rows, total, err := fetch(offset)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, r := range rows {
				if !yield(r, nil) {
					return
				}
			}
			offset += len(rows)
			if len(rows) == 0 || offset >= total {
				return
			}
		}
	}
}
