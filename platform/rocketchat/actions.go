package rocketchat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/chatwarden/chatwarden/consumer"
	rc "github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rules"
)

// API is what the rc.* actions need from a client
// (*rc.Client implements it).
type API interface {
	CloseRoom(ctx context.Context, req rc.CloseRoomRequest) (alreadyClosed bool, err error)
	ForwardRoom(ctx context.Context, req rc.ForwardRequest) error
	ReturnToQueue(ctx context.Context, roomID, departmentID string) (returned bool, err error)
	GetRoom(ctx context.Context, roomID string) (*rc.Room, error)
	SetRoomTags(ctx context.Context, roomID, visitorID string, tags []string) error
}

var _ API = (*rc.Client)(nil)

// rocketChatErr maps a Rocket.Chat error onto the runner's retry policy with
// the rocketchat package's one decision function. Permanent failures are
// named by Rocket.Chat's error type when there is one (error-room-closed,
// error-comment-is-required, invalid-params, ...), else by the HTTP status.
func rocketChatErr(ctx context.Context, err error) error {
	return Errors.Classify(ctx, err)
}

var Errors = rules.PlatformErrors{Retryable: rc.IsRetryable, RetryAfter: rc.RetryAfter,
	Status: func(err error) int {
		if ae, ok := errors.AsType[*rc.APIError](err); ok {
			return ae.StatusCode
		}
		return 0
	},
	Reason: func(err error) string {
		if errors.Is(err, rc.ErrInvalidArgument) {
			return "validation"
		}
		if ae, ok := errors.AsType[*rc.APIError](err); ok {
			if ae.Type != "" {
				return ae.Type
			}
			return rules.StatusReason(ae.StatusCode)
		}
		return ""
	}}

// withRocketChat runs f with the Rocket.Chat client and the event's room id,
// and classifies its error.
func withRocketChat(ctx context.Context, c *rules.Call, f func(api API, roomID string) error) error {
	api, err := Client(c)
	if err != nil {
		return consumer.Permanent("no credentials", err)
	}
	roomID := c.ChatID()
	if roomID == "" {
		return consumer.Permanent("validation", fmt.Errorf("event %s has no Rocket.Chat room id", c.Event.ID))
	}
	return rocketChatErr(ctx, f(api, roomID))
}

// forwarded reports whether the room already is where rocketchat.forward
// puts it: open and served by the target agent, or in the target
// department (and served by the target agent too, when both are given). A
// later attempt then does not forward it again (a forward leaves no marker
// of ours to look for).
func forwarded(ctx context.Context, c *rules.Call, p ForwardParams) (bool, error) {
	var done bool
	err := withRocketChat(ctx, c, func(api API, roomID string) error {
		room, err := api.GetRoom(ctx, roomID)
		if err != nil {
			return err
		}
		if !room.Open {
			return nil
		}
		agentOK := p.UserID == "" || room.ServedBy != nil && room.ServedBy.ID == p.UserID
		departmentOK := p.DepartmentID == "" || room.DepartmentID == p.DepartmentID
		done = agentOK && departmentOK
		return nil
	})
	return done, err
}

// CloseParams for rocketchat.close_room.
type CloseParams struct {
	// Comment is the closing comment; required by workspaces with "Request
	// comment when closing conversation" on.
	Comment string `json:"comment,omitempty"`
	// Tags are set on the room as it closes (some departments require tags).
	Tags []string `json:"tags,omitempty"`
	// GenerateTranscriptPDF asks Rocket.Chat for a PDF transcript.
	GenerateTranscriptPDF bool `json:"generate_transcript_pdf,omitempty"`
	// TranscriptEmail sends the visitor a transcript: {email, subject}.
	TranscriptEmail *Transcript `json:"transcript_email,omitempty"`
	// ForceClose closes even when close hooks fail (only when the workspace
	// allows it).
	ForceClose bool `json:"force_close,omitempty"`
}

// Transcript is where to email the transcript.
type Transcript struct {
	Email   string `json:"email"`
	Subject string `json:"subject"`
}

// Validate implements rules.Validator.
func (p *CloseParams) Validate() error {
	if err := checkTags(p.Tags, false); err != nil {
		return err
	}
	if t := p.TranscriptEmail; t != nil && (strings.TrimSpace(t.Email) == "" || !strings.Contains(t.Email, "@")) {
		return errors.New("transcript_email.email: required, an email address")
	}
	return nil
}

// ForwardParams for rocketchat.forward: an agent or a department.
type ForwardParams struct {
	UserID       string `json:"user_id,omitempty"`
	DepartmentID string `json:"department_id,omitempty"`
	Comment      string `json:"comment,omitempty"`
}

// Validate implements rules.Validator.
func (p *ForwardParams) Validate() error {
	if (p.UserID == "") == (p.DepartmentID == "") {
		return errors.New("give exactly one of user_id or department_id")
	}
	return nil
}

// QueueParams for rocketchat.return_to_queue.
type QueueParams struct {
	// DepartmentID, when set, is the queue to return the room to.
	DepartmentID string `json:"department_id,omitempty"`
}

// TagParams for rocketchat.tag.
type TagParams struct {
	// Tags to add to the room's tags.
	Tags []string `json:"tags"`
	// Replace makes Tags the room's only tags.
	Replace bool `json:"replace,omitempty"`
}

// Validate implements rules.Validator.
func (p *TagParams) Validate() error { return checkTags(p.Tags, true) }

func checkTags(tags []string, required bool) error {
	if required && len(tags) == 0 {
		return errors.New("tags: required, e.g. [abandoned]")
	}
	for i, t := range tags {
		if strings.TrimSpace(t) == "" {
			return fmt.Errorf("tags[%d]: empty tag", i)
		}
	}
	return nil
}

// Actions are the rc.* actions. They act on the event's
// room (the webhook's _id).
func Actions() []rules.Action {
	return []rules.Action{
		rules.Define("rocketchat.close_room", "Close the room (livechat/room.closeByUser); an already closed room counts as done.", true,
			func(ctx context.Context, c *rules.Call, p CloseParams) error {
				return withRocketChat(ctx, c, func(api API, roomID string) error {
					req := rc.CloseRoomRequest{RoomID: roomID, Comment: p.Comment, Tags: p.Tags,
						GenerateTranscriptPDF: p.GenerateTranscriptPDF, ForceClose: p.ForceClose}
					if t := p.TranscriptEmail; t != nil {
						req.TranscriptEmail = &rc.TranscriptEmail{SendToVisitor: true, Email: t.Email, Subject: t.Subject}
					}
					_, err := api.CloseRoom(ctx, req)
					return err
				})
			}),
		rules.DefineChecked("rocketchat.forward", "Forward the room to an agent (user_id) or a department (department_id). Not repeated on redelivery.",
			func(ctx context.Context, c *rules.Call, p ForwardParams) error {
				return withRocketChat(ctx, c, func(api API, roomID string) error {
					return api.ForwardRoom(ctx, rc.ForwardRequest{RoomID: roomID, UserID: p.UserID,
						DepartmentID: p.DepartmentID, Comment: p.Comment})
				})
			}, forwarded),
		rules.Define("rocketchat.return_to_queue", "Take the room from its agent and put it back in the queue (optionally of department_id); a room already queued is left as it is.", true,
			func(ctx context.Context, c *rules.Call, p QueueParams) error {
				return withRocketChat(ctx, c, func(api API, roomID string) error {
					_, err := api.ReturnToQueue(ctx, roomID, p.DepartmentID)
					return err
				})
			}),
		rules.Define("rocketchat.tag", "Add tags to the room (replace: true makes them its only tags); reads the room first and changes nothing when the tags are already there.", true,
			func(ctx context.Context, c *rules.Call, p TagParams) error {
				return withRocketChat(ctx, c, func(api API, roomID string) error {
					room, err := api.GetRoom(ctx, roomID)
					if err != nil {
						return err
					}
					if room.Visitor == nil || room.Visitor.ID == "" {
						return consumer.Permanent("validation", fmt.Errorf("room %s has no visitor; Rocket.Chat needs one to save room info", roomID))
					}
					want := mergeTags(room.Tags, p.Tags, p.Replace)
					if sameTags(room.Tags, want) {
						return nil
					}
					return api.SetRoomTags(ctx, roomID, room.Visitor.ID, want)
				})
			}),
	}
}

// mergeTags is have plus add (in that order, without duplicates), or add
// alone when replace is set.
func mergeTags(have, add []string, replace bool) []string {
	var out []string
	if !replace {
		out = append(out, have...)
	}
	for _, t := range add {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func sameTags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
