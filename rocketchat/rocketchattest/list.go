package rocketchattest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/rocketchat"
)

// paging reads offset and count as Rocket.Chat does: count defaults to 50,
// is clamped to 100, and 0 means all.
func paging(q url.Values) (offset, count int, rep reply, ok bool) {
	offset, count = 0, 50
	var err error
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, invalidParams("offset must be a non-negative integer"), false
		}
	}
	if v := q.Get("count"); v != "" {
		if count, err = strconv.Atoi(v); err != nil || count < 0 {
			return 0, 0, invalidParams("count must be a non-negative integer"), false
		}
	}
	if count > 100 {
		count = 100
	}
	return offset, count, reply{}, true
}

// sortKeys parses sort={"ts":-1,...}; the order of keys is kept.
func sortKeys(raw string) ([]rocketchat.SortKey, error) {
	if raw == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("sort must be a JSON object")
	}
	var keys []rocketchat.SortKey
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var dir int
		if err := dec.Decode(&dir); err != nil || (dir != 1 && dir != -1) {
			return nil, fmt.Errorf("sort direction must be 1 or -1")
		}
		keys = append(keys, rocketchat.SortKey{Field: tok.(string), Desc: dir == -1})
	}
	return keys, nil
}

func slicePage[T any](rows []T, offset, count int) []T {
	if offset >= len(rows) {
		return []T{}
	}
	end := len(rows)
	if count > 0 && offset+count < end {
		end = offset + count
	}
	return rows[offset:end]
}

// inquiriesList serves livechat/inquiries.list: queued inquiries, oldest
// first unless sorted by ts.
func (s *Server) inquiriesList(r *http.Request, _ []byte) reply {
	q := r.URL.Query()
	offset, count, rep, ok := paging(q)
	if !ok {
		return rep
	}
	keys, err := sortKeys(q.Get("sort"))
	if err != nil {
		return invalidParams(err.Error())
	}
	desc := len(keys) > 0 && keys[0].Field == "ts" && keys[0].Desc
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []rocketchat.Inquiry
	for _, rec := range s.rooms {
		inq := rec.inquiry
		if inq == nil || inq.Status != rocketchat.InquiryQueued {
			continue
		}
		if d := q.Get("department"); d != "" && inq.Department != d {
			continue
		}
		all = append(all, *inq)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt) != desc
		}
		return a.ID < b.ID
	})
	page := slicePage(all, offset, count)
	return success(map[string]any{"inquiries": page, "offset": offset, "count": len(page), "total": len(all)})
}

// listRooms serves livechat/rooms with the filters agents[], departmentId,
// open, onhold, tags[], roomName, createdAt, closedAt and customFields, and
// sort on ts, lm, closedAt or fname (default ts descending).
func (s *Server) listRooms(r *http.Request, _ []byte) reply {
	q := r.URL.Query()
	offset, count, rep, ok := paging(q)
	if !ok {
		return rep
	}
	keys, err := sortKeys(q.Get("sort"))
	if err != nil {
		return invalidParams(err.Error())
	}
	if len(keys) == 0 {
		keys = []rocketchat.SortKey{{Field: "ts", Desc: true}}
	}
	match, err := roomFilter(q)
	if err != nil {
		return invalidParams(err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []rocketchat.Room
	for _, rec := range s.rooms {
		if match(&rec.room) {
			all = append(all, copyRoom(rec.room))
		}
	}
	sort.Slice(all, func(i, j int) bool {
		for _, k := range keys {
			if c := compareRooms(&all[i], &all[j], k.Field); c != 0 {
				return (c < 0) != k.Desc
			}
		}
		return all[i].ID < all[j].ID
	})
	page := slicePage(all, offset, count)
	return success(map[string]any{"rooms": page, "offset": offset, "count": len(page), "total": len(all)})
}

func compareRooms(a, b *rocketchat.Room, field string) int {
	switch field {
	case "ts":
		return a.CreatedAt.Compare(b.CreatedAt)
	case "lm":
		return a.LastMessage.Compare(b.LastMessage)
	case "closedAt":
		return a.ClosedAt.Compare(b.ClosedAt)
	case "fname":
		return strings.Compare(a.Name, b.Name)
	}
	return 0
}

func dateRange(q url.Values, key string) (start, end time.Time, err error) {
	raw := q.Get(key)
	if raw == "" {
		return
	}
	var d struct{ Start, End string }
	if err = json.Unmarshal([]byte(raw), &d); err != nil {
		return start, end, fmt.Errorf("%s must be JSON {start,end}", key)
	}
	if d.Start != "" {
		if start, err = time.Parse(time.RFC3339Nano, d.Start); err != nil {
			//lint:ignore ST1005 the fake answers with Rocket.Chat's own message text, capital and full stop included
			return start, end, fmt.Errorf(`The "%s.start" query parameter must be a valid date.`, key)
		}
	}
	if d.End != "" {
		if end, err = time.Parse(time.RFC3339Nano, d.End); err != nil {
			//lint:ignore ST1005 the fake answers with Rocket.Chat's own message text, capital and full stop included
			return start, end, fmt.Errorf(`The "%s.end" query parameter must be a valid date.`, key)
		}
	}
	return start, end, nil
}

func inRange(t, start, end time.Time) bool {
	if !start.IsZero() && (t.IsZero() || t.Before(start)) {
		return false
	}
	if !end.IsZero() && (t.IsZero() || t.After(end)) {
		return false
	}
	return true
}

func roomFilter(q url.Values) (func(*rocketchat.Room) bool, error) {
	agents, tags := q["agents[]"], q["tags[]"]
	dept, name := q.Get("departmentId"), strings.ToLower(q.Get("roomName"))
	var open, onHold *bool
	for key, dst := range map[string]**bool{"open": &open, "onhold": &onHold} {
		if v := q.Get(key); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s must be true or false", key)
			}
			*dst = &b
		}
	}
	cs, ce, err := dateRange(q, "createdAt")
	if err != nil {
		return nil, err
	}
	xs, xe, err := dateRange(q, "closedAt")
	if err != nil {
		return nil, err
	}
	var custom map[string]string
	if raw := q.Get("customFields"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &custom); err != nil {
			return nil, fmt.Errorf("customFields must be a JSON object of strings")
		}
	}
	return func(r *rocketchat.Room) bool {
		if len(agents) > 0 && (r.ServedBy == nil || !slices.Contains(agents, r.ServedBy.ID)) {
			return false
		}
		if len(tags) > 0 && !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(r.Tags, t) }) {
			return false
		}
		if dept != "" && r.DepartmentID != dept {
			return false
		}
		if name != "" && !strings.Contains(strings.ToLower(r.Name), name) {
			return false
		}
		if open != nil && r.Open != *open {
			return false
		}
		if onHold != nil && r.OnHold != *onHold {
			return false
		}
		if !inRange(r.CreatedAt, cs, ce) || !inRange(r.ClosedAt, xs, xe) {
			return false
		}
		for k, v := range custom {
			if fmt.Sprint(r.LivechatData[k]) != v {
				return false
			}
		}
		return true
	}, nil
}
