package rocketchat

import (
	"encoding/json"
	"time"
)

// Visitor is the visitor of a room or inquiry (the room's "v"). The
// visitor's token, which lets anyone act as the visitor, is not decoded.
type Visitor struct {
	ID       string `json:"_id"`
	Username string `json:"username,omitempty"`
	Name     string `json:"name,omitempty"`
	Status   string `json:"status,omitempty"`
}

// UserRef is a user reference: a room's servedBy or closedBy.
type UserRef struct {
	ID       string    `json:"_id"`
	Username string    `json:"username,omitempty"`
	TS       time.Time `json:"ts,omitzero"`
}

// Room is an omnichannel room, as rooms.info and livechat/rooms return it
// (the fields chatwarden uses).
type Room struct {
	ID           string         `json:"_id"`
	Name         string         `json:"fname,omitempty"`
	Type         string         `json:"t,omitempty"` // "l" for omnichannel rooms
	Open         bool           `json:"open,omitempty"`
	OnHold       bool           `json:"onHold,omitempty"`
	Visitor      *Visitor       `json:"v,omitempty"`
	ServedBy     *UserRef       `json:"servedBy,omitempty"`
	DepartmentID string         `json:"departmentId,omitempty"`
	Tags         []string       `json:"tags,omitempty"`
	Topic        string         `json:"topic,omitempty"`
	LivechatData map[string]any `json:"livechatData,omitempty"`
	CreatedAt    time.Time      `json:"ts,omitzero"`
	LastMessage  time.Time      `json:"lm,omitzero"`
	ClosedAt     time.Time      `json:"closedAt,omitzero"`
	ClosedBy     *UserRef       `json:"closedBy,omitempty"`
	// Closer is who closed the room: "user" (an agent or bot) or "visitor".
	Closer string `json:"closer,omitempty"`
}

// Unassigned reports whether no agent serves the room.
func (r *Room) Unassigned() bool { return r.ServedBy == nil || r.ServedBy.ID == "" }

// Inquiry is a queued (or taken) request for an agent, one per room.
type Inquiry struct {
	ID         string    `json:"_id"`
	RoomID     string    `json:"rid"`
	Name       string    `json:"name,omitempty"`
	Message    string    `json:"message,omitempty"`
	Status     string    `json:"status,omitempty"` // "queued", "taken", "ready", "open"
	Department string    `json:"department,omitempty"`
	Visitor    *Visitor  `json:"v,omitempty"`
	CreatedAt  time.Time `json:"ts,omitzero"`
	QueuedAt   time.Time `json:"queuedAt,omitzero"`
}

// Inquiry statuses.
const (
	InquiryQueued = "queued"
	InquiryTaken  = "taken"
	InquiryReady  = "ready"
	InquiryOpen   = "open"
)

// CloseRoomRequest is the body of livechat/room.closeByUser. RoomID is
// required.
type CloseRoomRequest struct {
	RoomID string `json:"rid"`
	// Comment is the closing comment; some workspaces require one
	// (ErrCommentRequired).
	Comment string `json:"comment,omitempty"`
	// Tags are set on the room as it closes; some departments require tags
	// (ErrTagsRequired).
	Tags                  []string         `json:"tags,omitempty"`
	GenerateTranscriptPDF bool             `json:"generateTranscriptPdf,omitempty"`
	TranscriptEmail       *TranscriptEmail `json:"transcriptEmail,omitempty"`
	// ForceClose closes even when the close hooks fail; it only works when
	// the workspace setting Omnichannel_allow_force_close_conversations is on.
	ForceClose bool `json:"forceClose,omitempty"`
}

// TranscriptEmail asks for (or declines) an emailed transcript when closing.
type TranscriptEmail struct {
	SendToVisitor bool
	// Email and Subject are sent as requestData when SendToVisitor is true.
	Email   string
	Subject string
}

// MarshalJSON writes {"sendToVisitor":false} or
// {"sendToVisitor":true,"requestData":{"email","subject"}}.
func (t TranscriptEmail) MarshalJSON() ([]byte, error) {
	if !t.SendToVisitor {
		return []byte(`{"sendToVisitor":false}`), nil
	}
	return json.Marshal(struct {
		SendToVisitor bool `json:"sendToVisitor"`
		RequestData   struct {
			Email   string `json:"email"`
			Subject string `json:"subject"`
		} `json:"requestData"`
	}{SendToVisitor: true, RequestData: struct {
		Email   string `json:"email"`
		Subject string `json:"subject"`
	}{t.Email, t.Subject}})
}

// ForwardRequest is the body of livechat/room.forward: RoomID and one of
// UserID (an agent) or DepartmentID are required.
type ForwardRequest struct {
	RoomID       string `json:"roomId"`
	UserID       string `json:"userId,omitempty"`
	DepartmentID string `json:"departmentId,omitempty"`
	Comment      string `json:"comment,omitempty"`
	ClientAction bool   `json:"clientAction,omitempty"`
}

// RoomData is the roomData of livechat/room.saveInfo. ID is required; other
// fields are sent when set.
type RoomData struct {
	ID    string `json:"_id"`
	Topic string `json:"topic,omitempty"`
	// Tags replace the room's tags. nil leaves them; an empty non-nil slice
	// clears them.
	Tags         []string       `json:"tags,omitzero"`
	LivechatData map[string]any `json:"livechatData,omitempty"`
	PriorityID   string         `json:"priorityId,omitempty"`
	SLAID        string         `json:"slaId,omitempty"`
}

// GuestData is the guestData of livechat/room.saveInfo: the room's visitor.
// ID (the visitor id, the room's v._id or the webhook's visitor._id) is
// required; other fields are sent when set.
type GuestData struct {
	ID           string         `json:"_id"`
	Name         string         `json:"name,omitempty"`
	Email        string         `json:"email,omitempty"`
	Phone        string         `json:"phone,omitempty"`
	LivechatData map[string]any `json:"livechatData,omitempty"`
}

// SaveRoomInfoRequest is the body of livechat/room.saveInfo.
type SaveRoomInfoRequest struct {
	Guest GuestData `json:"guestData"`
	Room  RoomData  `json:"roomData"`
}
