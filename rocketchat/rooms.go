package rocketchat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// Operation names, used in error messages ("rocketchat: close_room room X: ...").
const (
	OpCloseRoom     = "close_room"
	OpForwardRoom   = "forward_room"
	OpReturnToQueue = "return_to_queue"
	OpSaveRoomInfo  = "save_room_info"
	OpGetRoom       = "get_room"
	OpListInquiries = "list_inquiries"
	OpListRooms     = "list_rooms"
)

// Paths of the endpoints, under APIPrefix.
const (
	PathCloseRoom     = "livechat/room.closeByUser"
	PathForwardRoom   = "livechat/room.forward"
	PathReturnToQueue = "livechat/inquiries.returnAsInquiry"
	PathSaveRoomInfo  = "livechat/room.saveInfo"
	PathRoomsInfo     = "rooms.info"
	PathInquiriesList = "livechat/inquiries.list"
	PathRooms         = "livechat/rooms"
)

func roomTarget(id string) string { return "room " + id }

func required(op, target, what, v string) error {
	if v == "" {
		return wrapErr(op, target, fmt.Errorf("%w: empty %s", ErrInvalidArgument, what))
	}
	return nil
}

// CloseRoom closes an omnichannel room as the client's user (an agent, a
// manager or a bot with close-livechat-room, plus close-others-livechat-room
// when it is not in the room). A room that is already closed
// (error-room-already-closed, error-room-closed) counts as success: CloseRoom
// then returns alreadyClosed true and a nil error, so a redelivered close is
// harmless.
// https://developer.rocket.chat/apidocs/close-livechat-room-by-user
func (c *Client) CloseRoom(ctx context.Context, req CloseRoomRequest) (alreadyClosed bool, err error) {
	target := roomTarget(req.RoomID)
	if err := required(OpCloseRoom, target, "room id", req.RoomID); err != nil {
		return false, err
	}
	err = c.call(ctx, OpCloseRoom, target, http.MethodPost, PathCloseRoom, nil, req, nil)
	if errors.Is(err, ErrRoomClosed) {
		c.Logger().Debug("room already closed", zap.String("room_id", req.RoomID))
		return true, nil
	}
	return false, err
}

// ForwardRoom forwards (transfers) an open room to an agent (UserID) or a
// department (DepartmentID). Needs view-l-room and transfer-livechat-guest.
// https://developer.rocket.chat/apidocs/forward-livechat-room
func (c *Client) ForwardRoom(ctx context.Context, req ForwardRequest) error {
	target := roomTarget(req.RoomID)
	if err := required(OpForwardRoom, target, "room id", req.RoomID); err != nil {
		return err
	}
	if req.UserID == "" && req.DepartmentID == "" {
		return wrapErr(OpForwardRoom, target, fmt.Errorf("%w: forward to a user or a department", ErrInvalidArgument))
	}
	return c.call(ctx, OpForwardRoom, target, http.MethodPost, PathForwardRoom, nil, req, nil)
}

// ReturnToQueue takes the room from its agent and puts it back in the queue
// (optionally of departmentID), the Omnichannel way of unassigning. returned
// is false when the room already had a queued inquiry (nothing changed). A
// closed room fails with ErrRoomClosed.
func (c *Client) ReturnToQueue(ctx context.Context, roomID, departmentID string) (returned bool, err error) {
	target := roomTarget(roomID)
	if err := required(OpReturnToQueue, target, "room id", roomID); err != nil {
		return false, err
	}
	in := struct {
		RoomID       string `json:"roomId"`
		DepartmentID string `json:"departmentId,omitempty"`
	}{roomID, departmentID}
	var out struct {
		Result bool `json:"result"`
	}
	if err := c.call(ctx, OpReturnToQueue, target, http.MethodPost, PathReturnToQueue, nil, in, &out); err != nil {
		return false, err
	}
	return out.Result, nil
}

// SaveRoomInfo saves room and visitor information (topic, tags, custom
// fields). Tags replace the room's tags. Saving a closed room makes
// Rocket.Chat send a LivechatEdit webhook.
// https://developer.rocket.chat/apidocs/save-room-information
func (c *Client) SaveRoomInfo(ctx context.Context, req SaveRoomInfoRequest) error {
	target := roomTarget(req.Room.ID)
	if err := required(OpSaveRoomInfo, target, "room id", req.Room.ID); err != nil {
		return err
	}
	if err := required(OpSaveRoomInfo, target, "visitor id", req.Guest.ID); err != nil {
		return err
	}
	return c.call(ctx, OpSaveRoomInfo, target, http.MethodPost, PathSaveRoomInfo, nil, req, nil)
}

// SetRoomTags replaces the room's tags (an empty slice clears them).
// visitorID is the room's visitor (Room.Visitor.ID, or visitor._id of the
// webhook).
func (c *Client) SetRoomTags(ctx context.Context, roomID, visitorID string, tags []string) error {
	if tags == nil {
		tags = []string{}
	}
	return c.SaveRoomInfo(ctx, SaveRoomInfoRequest{
		Guest: GuestData{ID: visitorID},
		Room:  RoomData{ID: roomID, Tags: tags},
	})
}

// GetRoom returns the room (GET rooms.info?roomId=), for checking its state
// before acting.
// https://developer.rocket.chat/apidocs/get-room-information
func (c *Client) GetRoom(ctx context.Context, roomID string) (*Room, error) {
	target := roomTarget(roomID)
	if err := required(OpGetRoom, target, "room id", roomID); err != nil {
		return nil, err
	}
	var out struct {
		Room *Room `json:"room"`
	}
	q := url.Values{"roomId": {roomID}}
	if err := c.call(ctx, OpGetRoom, target, http.MethodGet, PathRoomsInfo, q, nil, &out); err != nil {
		return nil, err
	}
	if out.Room == nil {
		return nil, wrapErr(OpGetRoom, target, fmt.Errorf("answer has no room"))
	}
	return out.Room, nil
}
