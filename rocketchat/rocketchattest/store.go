package rocketchattest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/chatwarden/chatwarden/internal/fakeapi"
	"github.com/chatwarden/chatwarden/rocketchat"
)

// roomRec is a stored room with its inquiry and closing comment.
type roomRec struct {
	room    rocketchat.Room
	inquiry *rocketchat.Inquiry // nil when the room has none
	comment string
}

// AddRoom stores a copy of r, replacing a room with the same id, and returns
// its id. A missing id is generated ("R000001"); Type becomes "l"; a zero
// CreatedAt becomes now. An open room without an agent gets a queued inquiry;
// an open served room a taken one.
func (s *Server) AddRoom(r rocketchat.Room) string {
	r = copyRoom(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.ID == "" {
		s.seq++
		r.ID = fmt.Sprintf("R%06d", s.seq)
	}
	r.Type = "l"
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now().UTC()
	}
	rec := &roomRec{room: r}
	if r.Open {
		status := rocketchat.InquiryTaken
		if r.Unassigned() {
			status = rocketchat.InquiryQueued
		}
		rec.inquiry = s.newInquiry(&rec.room, status)
	}
	s.rooms[r.ID] = rec
	return r.ID
}

// newInquiry builds the inquiry of room. s.mu held.
func (s *Server) newInquiry(room *rocketchat.Room, status string) *rocketchat.Inquiry {
	s.inquiryNo++
	inq := &rocketchat.Inquiry{
		ID: fmt.Sprintf("I%06d", s.inquiryNo), RoomID: room.ID, Name: room.Name,
		Status: status, Department: room.DepartmentID, CreatedAt: room.CreatedAt,
	}
	if status == rocketchat.InquiryQueued {
		inq.QueuedAt = s.now().UTC()
	}
	if room.Visitor != nil {
		v := *room.Visitor
		inq.Visitor = &v
	}
	return inq
}

// Room returns a copy of the stored room.
func (s *Server) Room(id string) (rocketchat.Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.rooms[id]
	if !ok {
		return rocketchat.Room{}, false
	}
	return copyRoom(rec.room), true
}

// Rooms returns copies of every room, ordered by id.
func (s *Server) Rooms() []rocketchat.Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]rocketchat.Room, 0, len(s.rooms))
	for _, id := range slices.Sorted(maps.Keys(s.rooms)) {
		out = append(out, copyRoom(s.rooms[id].room))
	}
	return out
}

// Inquiry returns a copy of the room's inquiry.
func (s *Server) Inquiry(roomID string) (rocketchat.Inquiry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.rooms[roomID]
	if !ok || rec.inquiry == nil {
		return rocketchat.Inquiry{}, false
	}
	inq := *rec.inquiry
	if inq.Visitor != nil {
		v := *inq.Visitor
		inq.Visitor = &v
	}
	return inq, true
}

// CloseComment returns the comment the room was closed with.
func (s *Server) CloseComment(roomID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.rooms[roomID]; ok {
		return rec.comment
	}
	return ""
}

func copyRoom(r rocketchat.Room) rocketchat.Room {
	r.Tags = slices.Clone(r.Tags)
	r.Visitor = fakeapi.ClonePtr(r.Visitor)
	r.ServedBy = fakeapi.ClonePtr(r.ServedBy)
	r.ClosedBy = fakeapi.ClonePtr(r.ClosedBy)
	if r.LivechatData != nil {
		r.LivechatData = maps.Clone(r.LivechatData)
	}
	return r
}

// decode reads a request body into v as Rocket.Chat's schema validation
// does for these endpoints: a property v does not declare (one the
// endpoint's schema does not list) is refused with 400 invalid-params
// "must NOT have additional properties", so a client that sends a wrong
// shape fails its tests here.
func decode(body []byte, v any) (reply, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return invalidParams("must NOT have additional properties " + strings.ReplaceAll(name, `"`, "'")), false
		}
		return invalidParams("body must be a JSON object"), false
	}
	return reply{}, true
}

func requiredProperty(name string) reply {
	return invalidParams(fmt.Sprintf("must have required property '%s'", name))
}

// closeRoom serves livechat/room.closeByUser.
func (s *Server) closeRoom(r *http.Request, body []byte) reply {
	var in struct {
		RID                   string          `json:"rid"`
		Comment               string          `json:"comment"`
		Tags                  []string        `json:"tags"`
		ForceClose            bool            `json:"forceClose"`
		GenerateTranscriptPDF bool            `json:"generateTranscriptPdf"`
		TranscriptEmail       json.RawMessage `json:"transcriptEmail"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if in.RID == "" {
		return requiredProperty("rid")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.rooms[in.RID]
	if !ok {
		return failure(http.StatusBadRequest, rocketchat.TypeInvalidRoom, "")
	}
	if !rec.room.Open {
		return failure(http.StatusBadRequest, rocketchat.TypeRoomAlreadyClosed, "")
	}
	if s.commentRequired && strings.TrimSpace(in.Comment) == "" {
		return failure(http.StatusBadRequest, "Comment is required [error-comment-is-required]", rocketchat.TypeCommentRequired)
	}
	now := s.now().UTC()
	rec.room.Open, rec.room.ClosedAt, rec.room.Closer = false, now, "user"
	rec.room.ClosedBy = &rocketchat.UserRef{ID: r.Header.Get("X-User-Id")}
	rec.comment = in.Comment
	for _, t := range in.Tags {
		if !slices.Contains(rec.room.Tags, t) {
			rec.room.Tags = append(rec.room.Tags, t)
		}
	}
	rec.inquiry = nil
	return success(nil)
}

// forwardRoom serves livechat/room.forward: to a user the room becomes
// served by that user; to a department only, it goes back to that
// department's queue.
func (s *Server) forwardRoom(_ *http.Request, body []byte) reply {
	var in rocketchat.ForwardRequest
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if in.RoomID == "" {
		return requiredProperty("roomId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.rooms[in.RoomID]
	if !ok {
		return failure(http.StatusBadRequest, rocketchat.TypeInvalidRoom, "")
	}
	if !rec.room.Open {
		return failure(http.StatusBadRequest, "Room closed [error-room-closed]", rocketchat.TypeRoomClosed)
	}
	if in.UserID == "" && in.DepartmentID == "" {
		return invalidParams("forward needs userId or departmentId")
	}
	if in.DepartmentID != "" {
		rec.room.DepartmentID = in.DepartmentID
	}
	if in.UserID != "" {
		rec.room.ServedBy = &rocketchat.UserRef{ID: in.UserID, TS: s.now().UTC()}
		rec.inquiry = s.newInquiry(&rec.room, rocketchat.InquiryTaken)
	} else {
		rec.room.ServedBy = nil
		rec.inquiry = s.newInquiry(&rec.room, rocketchat.InquiryQueued)
	}
	return success(nil)
}

// returnAsInquiry serves livechat/inquiries.returnAsInquiry.
func (s *Server) returnAsInquiry(_ *http.Request, body []byte) reply {
	var in struct {
		RoomID       string `json:"roomId"`
		DepartmentID string `json:"departmentId"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	if in.RoomID == "" {
		return requiredProperty("roomId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.rooms[in.RoomID]
	if !ok {
		return failure(http.StatusBadRequest, rocketchat.TypeRoomNotFound, "")
	}
	if !rec.room.Open {
		return failure(http.StatusBadRequest, rocketchat.TypeInquiryRoomClosed, "")
	}
	if rec.inquiry != nil && rec.inquiry.Status == rocketchat.InquiryQueued {
		return success(map[string]any{"result": false})
	}
	if in.DepartmentID != "" {
		rec.room.DepartmentID = in.DepartmentID
	}
	rec.room.ServedBy = nil
	rec.inquiry = s.newInquiry(&rec.room, rocketchat.InquiryQueued)
	return success(map[string]any{"result": true})
}

// saveInfo serves livechat/room.saveInfo: topic and livechatData when sent,
// tags replaced when the key is present.
func (s *Server) saveInfo(_ *http.Request, body []byte) reply {
	var in struct {
		GuestData *struct {
			ID           string         `json:"_id"`
			Name         string         `json:"name"`
			Email        string         `json:"email"`
			Phone        string         `json:"phone"`
			LivechatData map[string]any `json:"livechatData"`
		} `json:"guestData"`
		RoomData *struct {
			ID           string          `json:"_id"`
			Topic        *string         `json:"topic"`
			Tags         json.RawMessage `json:"tags"`
			LivechatData map[string]any  `json:"livechatData"`
			PriorityID   string          `json:"priorityId"`
			SLAID        string          `json:"slaId"`
		} `json:"roomData"`
	}
	if rep, ok := decode(body, &in); !ok {
		return rep
	}
	switch {
	case in.GuestData == nil:
		return requiredProperty("guestData")
	case in.RoomData == nil:
		return requiredProperty("roomData")
	case in.GuestData.ID == "":
		return invalidParams("must have required property 'guestData._id'")
	case in.RoomData.ID == "":
		return invalidParams("must have required property 'roomData._id'")
	}
	var tags []string
	if len(in.RoomData.Tags) > 0 {
		if err := json.Unmarshal(in.RoomData.Tags, &tags); err != nil {
			return invalidParams("roomData.tags must be an array of strings")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.rooms[in.RoomData.ID]
	if !ok {
		return failure(http.StatusBadRequest, rocketchat.TypeInvalidRoom, "")
	}
	if in.RoomData.Topic != nil {
		rec.room.Topic = *in.RoomData.Topic
	}
	if len(in.RoomData.Tags) > 0 {
		rec.room.Tags = tags
	}
	if len(in.RoomData.LivechatData) > 0 {
		if rec.room.LivechatData == nil {
			rec.room.LivechatData = map[string]any{}
		}
		maps.Copy(rec.room.LivechatData, in.RoomData.LivechatData)
	}
	return success(nil)
}

// roomsInfo serves rooms.info?roomId=.
func (s *Server) roomsInfo(r *http.Request, _ []byte) reply {
	id := r.URL.Query().Get("roomId")
	if id == "" {
		return failure(http.StatusBadRequest, `The "roomId" or "roomName" parameter is required [error-roomid-param-not-provided]`, "error-roomid-param-not-provided")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.rooms[id]
	if !ok {
		return failure(http.StatusBadRequest, `The required "roomId" or "roomName" param provided does not match any channel [error-room-not-found]`, rocketchat.TypeRoomNotFound)
	}
	return success(map[string]any{"room": rec.room})
}
