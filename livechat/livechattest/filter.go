package livechattest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/livechat"
)

// filter is one filter: exists, values or exclude_values.
type filter struct {
	Exists            *bool `json:"exists"`
	Values            []any `json:"values"`
	ExcludeValues     []any `json:"exclude_values"`
	RequireEveryValue bool  `json:"require_every_value"`
}

func (f *filter) check(name string) error {
	n := 0
	if f.Exists != nil {
		n++
	}
	if f.Values != nil {
		n++
	}
	if f.ExcludeValues != nil {
		n++
	}
	if n != 1 {
		return fmt.Errorf("%s: exactly one of exists, values and exclude_values is allowed", name)
	}
	return nil
}

// matchOne applies f to a single-valued property.
func (f *filter) matchOne(v any, present bool) bool {
	switch {
	case f.Exists != nil:
		return present == *f.Exists
	case f.Values != nil:
		return present && slices.ContainsFunc(f.Values, func(w any) bool { return equal(v, w) })
	default:
		return !present || !slices.ContainsFunc(f.ExcludeValues, func(w any) bool { return equal(v, w) })
	}
}

// matchSet applies f to a set (agents, tags, event types).
func (f *filter) matchSet(set []string) bool {
	in := func(w any) bool {
		s, ok := w.(string)
		return ok && slices.Contains(set, s)
	}
	switch {
	case f.Exists != nil:
		return (len(set) > 0) == *f.Exists
	case f.Values != nil:
		if f.RequireEveryValue {
			return !slices.ContainsFunc(f.Values, func(w any) bool { return !in(w) })
		}
		return slices.ContainsFunc(f.Values, in)
	default:
		if f.RequireEveryValue {
			return slices.ContainsFunc(f.ExcludeValues, func(w any) bool { return !in(w) })
		}
		return !slices.ContainsFunc(f.ExcludeValues, in)
	}
}

// equal compares property values as JSON would: numbers of any Go type are
// equal when their float64 values are.
func equal(a, b any) bool {
	a, b = norm(a), norm(b)
	switch a.(type) {
	case nil, bool, string, float64:
		return a == b
	}
	return reflect.DeepEqual(a, b)
}

func norm(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	}
	return v
}

// propFilters are filters.properties.<ns>.<name>.
type propFilters map[string]map[string]*filter

func (pf propFilters) check() error {
	for ns, m := range pf {
		for name, f := range m {
			if f == nil {
				return fmt.Errorf("properties.%s.%s: empty filter", ns, name)
			}
			if err := f.check("properties." + ns + "." + name); err != nil {
				return err
			}
		}
	}
	return nil
}

// propCond is one property filter, flattened for fast matching.
type propCond struct {
	ns, name string
	f        *filter
}

// conds flattens pf (after check).
func (pf propFilters) conds() []propCond {
	var out []propCond
	for ns, m := range pf {
		for name, f := range m {
			out = append(out, propCond{ns, name, f})
		}
	}
	return out
}

// matchProps looks each property up on the thread first and falls back to
// the chat (LiveChat does not document which level list_archives filters on;
// real data has routing.unassigned on threads and routing.pinned on both).
func matchProps(conds []propCond, thread, chat livechat.Properties) bool {
	for _, c := range conds {
		v, present := thread[c.ns][c.name]
		if !present {
			v, present = chat[c.ns][c.name]
		}
		if !c.f.matchOne(v, present) {
			return false
		}
	}
	return true
}

// archiveFilters are the list_archives filters the fake supports. Others
// (sales, goals, surveys, greetings, agent_response, customer_countries) are
// rejected with a validation error naming them, rather than ignored.
type archiveFilters struct {
	Query      string      `json:"query"`
	From       string      `json:"from"`
	To         string      `json:"to"`
	ChatIDs    []string    `json:"chat_ids"`
	ThreadIDs  []string    `json:"thread_ids"`
	GroupIDs   []int       `json:"group_ids"`
	Properties propFilters `json:"properties"`
	Agents     *filter     `json:"agents"`
	Tags       *filter     `json:"tags"`
	EventTypes *filter     `json:"event_types"`

	from, to time.Time
	props    []propCond
}

func (f *archiveFilters) prepare() error {
	var err error
	if f.From != "" {
		if f.from, err = time.Parse(time.RFC3339Nano, f.From); err != nil {
			return fmt.Errorf("from: %v", err)
		}
	}
	if f.To != "" {
		if f.to, err = time.Parse(time.RFC3339Nano, f.To); err != nil {
			return fmt.Errorf("to: %v", err)
		}
	}
	switch {
	case len(f.ChatIDs) > 1000:
		return fmt.Errorf("chat_ids: at most 1000")
	case len(f.ThreadIDs) > 20:
		return fmt.Errorf("thread_ids: at most 20")
	case len(f.GroupIDs) > 200:
		return fmt.Errorf("group_ids: at most 200")
	}
	if err := f.Properties.check(); err != nil {
		return err
	}
	f.props = f.Properties.conds()
	for name, sf := range map[string]*filter{"agents": f.Agents, "tags": f.Tags, "event_types": f.EventTypes} {
		if sf != nil {
			if err := sf.check(name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *archiveFilters) match(rec *chatRec, tr *threadRec) bool {
	t := &tr.t
	if len(f.ChatIDs) > 0 && !slices.Contains(f.ChatIDs, rec.chat.ID) {
		return false
	}
	if len(f.ThreadIDs) > 0 && !slices.Contains(f.ThreadIDs, t.ID) {
		return false
	}
	if !f.from.IsZero() && t.CreatedAt.Before(f.from) {
		return false
	}
	if !f.to.IsZero() && t.CreatedAt.After(f.to) {
		return false
	}
	if len(f.GroupIDs) > 0 {
		groups := t.Access.GroupIDs
		if len(groups) == 0 {
			groups = rec.chat.Access.GroupIDs
		}
		if !slices.ContainsFunc(groups, func(g int) bool { return slices.Contains(f.GroupIDs, g) }) {
			return false
		}
	}
	if !matchProps(f.props, t.Properties, rec.chat.Properties) {
		return false
	}
	if f.Agents != nil && !f.Agents.matchSet(threadAgents(rec, t)) {
		return false
	}
	if f.Tags != nil && !f.Tags.matchSet(t.Tags) {
		return false
	}
	if f.EventTypes != nil {
		types := make([]string, 0, len(t.Events))
		for _, e := range t.Events {
			types = append(types, e.Type)
		}
		if !f.EventTypes.matchSet(types) {
			return false
		}
	}
	if f.Query != "" && !matchQuery(strings.ToLower(f.Query), rec, t) {
		return false
	}
	return true
}

// threadAgents are the thread's users that the chat lists as agents.
func threadAgents(rec *chatRec, t *livechat.Thread) []string {
	var out []string
	for _, u := range rec.chat.Users {
		if u.Type == livechat.UserAgent && slices.Contains(t.UserIDs, u.ID) {
			out = append(out, u.ID)
		}
	}
	return out
}

func matchQuery(q string, rec *chatRec, t *livechat.Thread) bool {
	hay := []string{rec.chat.ID, t.ID}
	for _, u := range rec.chat.Users {
		hay = append(hay, u.Name, u.Email)
	}
	for _, e := range t.Events {
		hay = append(hay, e.Text)
	}
	for _, h := range hay {
		if h != "" && strings.Contains(strings.ToLower(h), q) {
			return true
		}
	}
	return false
}
