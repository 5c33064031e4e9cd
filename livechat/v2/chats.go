package livechatv2

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/chatwarden/chatwarden/livechat"
)

// Chat types and rating filters of GET /chats.
const (
	TypeChat       = "chat"
	TypeMissedChat = "missed_chat"

	RateRated     = "rated"
	RateNotRated  = "not_rated"
	RateRatedGood = "rated_good"
	RateRatedBad  = "rated_bad"
)

// ChatsFilter holds the filters of GET /chats. Every field is optional;
// zero values are not sent. Booleans are pointers so that "false" (sent as
// 0) differs from "not set".
type ChatsFilter struct {
	// DateFrom and DateTo bound the chats' dates, YYYY-MM-DD (defaults: the
	// beginning of time, today).
	DateFrom, DateTo string
	// Timezone interprets the dates (e.g. Europe/Warsaw).
	Timezone string
	// Type is chat or missed_chat.
	Type string
	// VisitorID returns the chats of one visitor.
	VisitorID string
	// Query returns chats containing the text.
	Query string
	// Agent returns the chats of an agent, by login (email).
	Agent string
	// Group returns the chats of a group (its id).
	Group string
	// Goal returns chats that reached the goal id; HasGoal any goal (true)
	// or none (false).
	Goal    string
	HasGoal *bool
	// Sale returns chats with the sale id; HasSale any sale or none.
	Sale    string
	HasSale *bool
	// Rate is rated, not_rated, rated_good or rated_bad.
	Rate string
	// Queued returns chats that were (or were not) queued.
	Queued *bool
	// IncludePending adds chats still going on (by default only ended chats
	// are returned; pending ones may appear late because of caching).
	IncludePending bool
	// Tags returns chats with these tags (tag[]); Tagged chats with any tag
	// (true) or none (false).
	Tags   []string
	Tagged *bool
	// Comment returns chats with (true) or without (false) a rating comment.
	Comment *bool
	// City, Region and Country filter by the visitor's location.
	City, Region, Country string
}

// Validate checks the formats the API documents: dates, type and rate.
func (f ChatsFilter) Validate() error {
	for name, d := range map[string]string{"date_from": f.DateFrom, "date_to": f.DateTo} {
		if d == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return fmt.Errorf("%w: %s must be YYYY-MM-DD, got %q", livechat.ErrInvalidArgument, name, d)
		}
	}
	if f.DateFrom != "" && f.DateTo != "" && f.DateFrom > f.DateTo {
		return fmt.Errorf("%w: date_from %s is after date_to %s", livechat.ErrInvalidArgument, f.DateFrom, f.DateTo)
	}
	if f.Type != "" && f.Type != TypeChat && f.Type != TypeMissedChat {
		return fmt.Errorf("%w: type must be chat or missed_chat, got %q", livechat.ErrInvalidArgument, f.Type)
	}
	if f.Rate != "" && !slices.Contains([]string{RateRated, RateNotRated, RateRatedGood, RateRatedBad}, f.Rate) {
		return fmt.Errorf("%w: rate must be rated, not_rated, rated_good or rated_bad, got %q", livechat.ErrInvalidArgument, f.Rate)
	}
	return nil
}

// Values is the filter as query parameters (without page).
func (f ChatsFilter) Values() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	flag := func(k string, b *bool) {
		if b != nil {
			q.Set(k, map[bool]string{true: "1", false: "0"}[*b])
		}
	}
	set("date_from", f.DateFrom)
	set("date_to", f.DateTo)
	set("timezone", f.Timezone)
	set("type", f.Type)
	set("visitor_id", f.VisitorID)
	set("query", f.Query)
	set("agent", f.Agent)
	set("group", f.Group)
	set("goal", f.Goal)
	flag("has_goal", f.HasGoal)
	set("sale", f.Sale)
	flag("has_sale", f.HasSale)
	set("rate", f.Rate)
	flag("queued", f.Queued)
	if f.IncludePending {
		q.Set("include_pending", "1")
	}
	for _, t := range f.Tags {
		q.Add("tag[]", t)
	}
	flag("tagged", f.Tagged)
	flag("comment", f.Comment)
	set("city", f.City)
	set("region", f.Region)
	set("country", f.Country)
	return q
}

// Person is an agent or supervisor of a chat.
type Person struct {
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
}

// Message is one message of a chat.
type Message struct {
	AuthorName string `json:"author_name"`
	Text       string `json:"text"`
	Date       string `json:"date"`
	Timestamp  int64  `json:"timestamp"`
	UserType   string `json:"user_type"` // agent, visitor, supervisor
	AgentID    string `json:"agent_id,omitempty"`
}

// KeyValue is an entry of prechat_survey, custom_variables or
// integration_variables.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	ID    string `json:"id,omitempty"`
}

// Goal is a goal a chat reached.
type Goal struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Chat is one chat of GET /chats (the fields documented in the example
// answer). Raw keeps the chat exactly as received.
type Chat struct {
	Type                 string     `json:"type"`
	ID                   string     `json:"id"`
	VisitorName          string     `json:"visitor_name"`
	VisitorID            string     `json:"visitor_id"`
	Agents               []Person   `json:"agents"`
	Supervisors          []Person   `json:"supervisors"`
	Rate                 string     `json:"rate"`
	Duration             int64      `json:"duration"` // seconds
	Group                []int64    `json:"group"`
	Started              string     `json:"started"`
	StartedTimestamp     int64      `json:"started_timestamp"`
	Ended                string     `json:"ended"`
	EndedTimestamp       int64      `json:"ended_timestamp"`
	Tags                 []string   `json:"tags"`
	Goals                []Goal     `json:"goals"`
	PrechatSurvey        []KeyValue `json:"prechat_survey"`
	CustomVariables      []KeyValue `json:"custom_variables"`
	IntegrationVariables []KeyValue `json:"integration_variables"`
	Messages             []Message  `json:"messages"`

	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes leniently (the legacy API's fields vary) and keeps
// the raw object.
func (c *Chat) UnmarshalJSON(b []byte) error {
	type plain Chat
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		// Keep what can be kept: the id and the raw object.
		var id struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(b, &id) != nil {
			return err
		}
		p = plain{ID: id.ID}
	}
	*c = Chat(p)
	c.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// StartedAt and EndedAt are the timestamps as times (zero when absent).
func (c Chat) StartedAt() time.Time { return unix(c.StartedTimestamp) }

// EndedAt is when the chat ended (zero for pending chats).
func (c Chat) EndedAt() time.Time { return unix(c.EndedTimestamp) }

func unix(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// ChatsPage is one page of GET /chats.
type ChatsPage struct {
	Chats []Chat `json:"chats"`
	// Total is how many chats match; Pages how many pages they fill.
	Total int `json:"total"`
	Pages int `json:"pages"`
	// Page is the page number asked for (from 1).
	Page int `json:"-"`
}

// ChatsPage fetches page (from 1) of the chats matching f.
// https://platform.text.com/docs/management/configuration-api/v2.0#archives
func (c *Client) ChatsPage(ctx context.Context, f ChatsFilter, page int) (*ChatsPage, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("livechat v2: list chats: %w", err)
	}
	if page < 1 || page > MaxPages {
		return nil, fmt.Errorf("livechat v2: list chats: %w: page must be 1..%d, got %d", livechat.ErrInvalidArgument, MaxPages, page)
	}
	q := f.Values()
	q.Set("page", strconv.Itoa(page))
	var out ChatsPage
	if err := c.get(ctx, "chats", q, &out); err != nil {
		return nil, fmt.Errorf("livechat v2: list chats page %d: %w", page, err)
	}
	out.Page = page
	return &out, nil
}

// Chats iterates over every chat matching f, from page 1 to the last page
// (at most MaxPages). It stops at the first error, which it yields once.
// Chats that arrive while paging may shift pages; duplicates by id are
// skipped.
func (c *Client) Chats(ctx context.Context, f ChatsFilter) iter.Seq2[Chat, error] {
	return c.ChatsFrom(ctx, f, 1)
}

// ChatsFrom is Chats starting at page first.
func (c *Client) ChatsFrom(ctx context.Context, f ChatsFilter, first int) iter.Seq2[Chat, error] {
	return func(yield func(Chat, error) bool) {
		seen := map[string]bool{}
		for page := max(first, 1); ; page++ {
			p, err := c.ChatsPage(ctx, f, page)
			if err != nil {
				yield(Chat{}, err)
				return
			}
			for _, ch := range p.Chats {
				if ch.ID != "" && seen[ch.ID] {
					continue
				}
				seen[ch.ID] = true
				if !yield(ch, nil) {
					return
				}
			}
			if len(p.Chats) == 0 || page >= min(p.Pages, MaxPages) {
				return
			}
		}
	}
}
