package helpcrunch

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Operation names, used in error messages ("helpcrunch: set_status chat 1: ...").
const (
	OpSetStatus     = "set_status"
	OpAssign        = "assign"
	OpUnassign      = "unassign"
	OpSetDepartment = "set_department"
	OpSnooze        = "snooze"
	OpUnsnooze      = "unsnooze"
	OpGetChat       = "get_chat"
	OpListChats     = "list_chats"
	OpSearchChats   = "search_chats"
)

func chatTarget(id int64) string { return "chat " + strconv.FormatInt(id, 10) }

func checkChatID(op string, id int64) error {
	if id <= 0 {
		return wrapErr(op, chatTarget(id), fmt.Errorf("%w: chat id must be positive", ErrInvalidArgument))
	}
	return nil
}

// update sends one of the PUT /v1/chats/<what> calls, which all answer the
// whole chat after the change.
func (c *Client) update(ctx context.Context, op, path string, chatID int64, in any) (*Chat, error) {
	var out Chat
	if err := c.call(ctx, op, chatTarget(chatID), http.MethodPut, path, nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetStatus sets the chat's status and returns the chat after the change.
// status may be any spelling ParseStatus accepts; the documented one is sent
// ("on hold", "no communication"). An unknown status fails with
// ErrInvalidStatus before any request. Setting the status a chat already has
// is not an error.
// https://docs.helpcrunch.com/pl/rest-api-v1/update-chat-status-v1
func (c *Client) SetStatus(ctx context.Context, chatID int64, status Status) (*Chat, error) {
	if err := checkChatID(OpSetStatus, chatID); err != nil {
		return nil, err
	}
	st, err := ParseStatus(string(status))
	if err != nil {
		return nil, wrapErr(OpSetStatus, chatTarget(chatID), err)
	}
	in := struct {
		ID     int64  `json:"id"`
		Status Status `json:"status"`
	}{chatID, st}
	return c.update(ctx, OpSetStatus, "chats/status", chatID, in)
}

// Assign makes agentID the chat's assignee and returns the chat after the
// change. Agent ids come from GET /v1/agents.
// https://docs.helpcrunch.com/en/rest-api-v1/update-chat-assignee-v1
func (c *Client) Assign(ctx context.Context, chatID, agentID int64) (*Chat, error) {
	if err := checkChatID(OpAssign, chatID); err != nil {
		return nil, err
	}
	if agentID <= 0 {
		return nil, wrapErr(OpAssign, chatTarget(chatID), fmt.Errorf("%w: agent id must be positive (use Unassign to remove the assignee)", ErrInvalidArgument))
	}
	in := struct {
		ID       int64 `json:"id"`
		Assignee int64 `json:"assignee"`
	}{chatID, agentID}
	return c.update(ctx, OpAssign, "chats/assignee", chatID, in)
}

// Unassign removes the chat's assignee (assignee: null, documented on the
// Ukrainian version of the assignee page) and returns the chat after the
// change.
func (c *Client) Unassign(ctx context.Context, chatID int64) (*Chat, error) {
	if err := checkChatID(OpUnassign, chatID); err != nil {
		return nil, err
	}
	in := struct {
		ID       int64  `json:"id"`
		Assignee *int64 `json:"assignee"`
	}{ID: chatID}
	return c.update(ctx, OpUnassign, "chats/assignee", chatID, in)
}

// SetDepartment moves the chat to departmentID (from GET /v1/departments)
// and returns the chat after the change.
// https://docs.helpcrunch.com/en/rest-api-v1/update-chat-department-v1
func (c *Client) SetDepartment(ctx context.Context, chatID, departmentID int64) (*Chat, error) {
	if err := checkChatID(OpSetDepartment, chatID); err != nil {
		return nil, err
	}
	if departmentID <= 0 {
		return nil, wrapErr(OpSetDepartment, chatTarget(chatID), fmt.Errorf("%w: department id must be positive", ErrInvalidArgument))
	}
	in := struct {
		ID         int64 `json:"id"`
		Department int64 `json:"department"`
	}{chatID, departmentID}
	return c.update(ctx, OpSetDepartment, "chats/department", chatID, in)
}

// Snooze snoozes the chat until the given time (whole seconds; HelpCrunch
// marks it unread then) and returns the chat after the change. The time is
// sent as a string of unix seconds, as the current snooze page documents
// (older versions of the page showed an integer).
// https://docs.helpcrunch.com/en/rest-api-v1/snooze-chat-v1
func (c *Client) Snooze(ctx context.Context, chatID int64, until time.Time) (*Chat, error) {
	if err := checkChatID(OpSnooze, chatID); err != nil {
		return nil, err
	}
	if until.IsZero() {
		return nil, wrapErr(OpSnooze, chatTarget(chatID), fmt.Errorf("%w: zero snooze time (use Unsnooze)", ErrInvalidArgument))
	}
	in := struct {
		ID           int64  `json:"id"`
		SnoozedUntil string `json:"snoozedUntil"`
	}{chatID, strconv.FormatInt(until.Unix(), 10)}
	return c.update(ctx, OpSnooze, "chats/snooze", chatID, in)
}

// Unsnooze ends the chat's snooze (snoozedUntil: null) and returns the chat
// after the change.
func (c *Client) Unsnooze(ctx context.Context, chatID int64) (*Chat, error) {
	if err := checkChatID(OpUnsnooze, chatID); err != nil {
		return nil, err
	}
	in := struct {
		ID           int64   `json:"id"`
		SnoozedUntil *string `json:"snoozedUntil"`
	}{ID: chatID}
	return c.update(ctx, OpUnsnooze, "chats/snooze", chatID, in)
}

// GetChat returns one chat. A missing chat fails with ErrNotFound
// (code chat_not_found).
// https://docs.helpcrunch.com/en/rest-api-v1/get-chat-v1
func (c *Client) GetChat(ctx context.Context, chatID int64) (*Chat, error) {
	if err := checkChatID(OpGetChat, chatID); err != nil {
		return nil, err
	}
	var out Chat
	path := "chats/" + strconv.FormatInt(chatID, 10)
	if err := c.call(ctx, OpGetChat, chatTarget(chatID), http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
