package rocketchattest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
)

var auth = rocketchat.Auth{UserID: "bot", Token: "tok"}

func start(t *testing.T, opts ...rocketchattest.Option) (*rocketchattest.Server, string) {
	return apiclienttest.StartFake(t, rocketchattest.New(opts...))
}

func client(t *testing.T, url string, opts ...rocketchat.Option) *rocketchat.Client {
	t.Helper()
	c, err := rocketchat.New(url, auth, opts...)
	require.NoError(t, err)
	return c
}

func TestRoomLifecycle(t *testing.T) {
	srv, url := start(t, rocketchattest.WithAuth(auth.UserID, auth.Token))
	id := srv.AddRoom(rocketchat.Room{Name: "Maria", Open: true, DepartmentID: "D1", Visitor: &rocketchat.Visitor{ID: "V1"}})
	c := client(t, url)
	ctx := t.Context()

	inq, ok := srv.Inquiry(id)
	require.True(t, ok)
	assert.Equal(t, rocketchat.InquiryQueued, inq.Status)

	require.NoError(t, c.ForwardRoom(ctx, rocketchat.ForwardRequest{RoomID: id, UserID: "agent-1"}))
	room, err := c.GetRoom(ctx, id)
	require.NoError(t, err)
	require.NotNil(t, room.ServedBy)
	assert.Equal(t, "agent-1", room.ServedBy.ID)
	inq, _ = srv.Inquiry(id)
	assert.Equal(t, rocketchat.InquiryTaken, inq.Status)

	returned, err := c.ReturnToQueue(ctx, id, "D2")
	require.NoError(t, err)
	assert.True(t, returned)
	returned, err = c.ReturnToQueue(ctx, id, "")
	require.NoError(t, err)
	assert.False(t, returned, "already queued")
	room, _ = c.GetRoom(ctx, id)
	assert.True(t, room.Unassigned())
	assert.Equal(t, "D2", room.DepartmentID)

	require.NoError(t, c.SetRoomTags(ctx, id, "V1", []string{"billing", "vip"}))
	require.NoError(t, c.SaveRoomInfo(ctx, rocketchat.SaveRoomInfoRequest{Guest: rocketchat.GuestData{ID: "V1"},
		Room: rocketchat.RoomData{ID: id, Topic: "Invoices", LivechatData: map[string]any{"orderId": "1042"}}}))
	room, _ = c.GetRoom(ctx, id)
	assert.Equal(t, []string{"billing", "vip"}, room.Tags, "a save without tags keeps them")
	assert.Equal(t, "Invoices", room.Topic)
	assert.Equal(t, "1042", room.LivechatData["orderId"])

	already, err := c.CloseRoom(ctx, rocketchat.CloseRoomRequest{RoomID: id, Comment: "done", Tags: []string{"closed-by-policy"}})
	require.NoError(t, err)
	assert.False(t, already)
	stored, _ := srv.Room(id)
	assert.False(t, stored.Open)
	assert.False(t, stored.ClosedAt.IsZero())
	assert.Equal(t, "user", stored.Closer)
	assert.Equal(t, "bot", stored.ClosedBy.ID)
	assert.Equal(t, []string{"billing", "vip", "closed-by-policy"}, stored.Tags)
	assert.Equal(t, "done", srv.CloseComment(id))
	_, ok = srv.Inquiry(id)
	assert.False(t, ok)

	already, err = c.CloseRoom(ctx, rocketchat.CloseRoomRequest{RoomID: id})
	require.NoError(t, err, "closing twice is fine")
	assert.True(t, already)

	err = c.ForwardRoom(ctx, rocketchat.ForwardRequest{RoomID: id, DepartmentID: "D1"})
	require.ErrorIs(t, err, rocketchat.ErrRoomClosed)
	_, err = c.ReturnToQueue(ctx, id, "")
	require.ErrorIs(t, err, rocketchat.ErrRoomClosed)

	_, err = c.CloseRoom(ctx, rocketchat.CloseRoomRequest{RoomID: "nope"})
	require.ErrorIs(t, err, rocketchat.ErrInvalidRoom)
	_, err = c.GetRoom(ctx, "nope")
	require.ErrorIs(t, err, rocketchat.ErrRoomNotFound)
}

func TestCommentRequired(t *testing.T) {
	srv, url := start(t, rocketchattest.WithCommentRequired())
	id := srv.AddRoom(rocketchat.Room{Open: true})
	c := client(t, url)
	_, err := c.CloseRoom(t.Context(), rocketchat.CloseRoomRequest{RoomID: id})
	require.ErrorIs(t, err, rocketchat.ErrCommentRequired)
	assert.False(t, rocketchat.IsRetryable(err))
	_, err = c.CloseRoom(t.Context(), rocketchat.CloseRoomRequest{RoomID: id, Comment: "abandoned"})
	require.NoError(t, err)
}

// raw sends a request and returns status and decoded body.
func raw(t *testing.T, method, url, body string, header map[string]string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

func TestAuth(t *testing.T) {
	_, url := start(t, rocketchattest.WithAuth("bot", "tok"))
	for _, h := range []map[string]string{
		nil,
		{"X-User-Id": "bot"},
		{"X-Auth-Token": "tok"},
		{"X-User-Id": "bot", "X-Auth-Token": "wrong"},
		{"X-User-Id": "other", "X-Auth-Token": "tok"},
	} {
		status, body, _ := raw(t, "GET", url+"/api/v1/livechat/rooms", "", h)
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "error", body["status"])
	}
	status, _, _ := raw(t, "GET", url+"/api/v1/livechat/rooms", "", map[string]string{"X-User-Id": "bot", "X-Auth-Token": "tok"})
	assert.Equal(t, http.StatusOK, status)
}

func TestRequestValidation(t *testing.T) {
	srv, url := start(t)
	srv.AddRoom(rocketchat.Room{ID: "R", Open: true})
	h := map[string]string{"X-User-Id": "u", "X-Auth-Token": "t"}
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantType                 string
	}{
		{"close without rid", "POST", "/api/v1/livechat/room.closeByUser", `{}`, 400, "invalid-params"},
		{"close not JSON", "POST", "/api/v1/livechat/room.closeByUser", `{`, 400, "invalid-params"},
		{"forward without target", "POST", "/api/v1/livechat/room.forward", `{"roomId":"R"}`, 400, "invalid-params"},
		{"saveInfo without guest", "POST", "/api/v1/livechat/room.saveInfo", `{"roomData":{"_id":"R"}}`, 400, "invalid-params"},
		{"saveInfo bad tags", "POST", "/api/v1/livechat/room.saveInfo", `{"guestData":{"_id":"V"},"roomData":{"_id":"R","tags":"x"}}`, 400, "invalid-params"},
		{"rooms bad open", "GET", "/api/v1/livechat/rooms?open=maybe", ``, 400, "invalid-params"},
		{"rooms bad date", "GET", `/api/v1/livechat/rooms?createdAt={"start":"yesterday"}`, ``, 400, "invalid-params"},
		{"rooms bad sort", "GET", `/api/v1/livechat/rooms?sort={"ts":2}`, ``, 400, "invalid-params"},
		{"inquiries bad count", "GET", "/api/v1/livechat/inquiries.list?count=-1", ``, 400, "invalid-params"},
		{"unknown route", "GET", "/api/v1/livechat/room.teleport", ``, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := raw(t, tt.method, url+tt.path, tt.body, h)
			assert.Equal(t, tt.wantStatus, status)
			assert.Equal(t, false, body["success"])
			if tt.wantType != "" {
				assert.Equal(t, tt.wantType, body["errorType"])
			}
		})
	}
	room, _ := srv.Room("R")
	assert.True(t, room.Open)
}

func TestRateLimitLikeRocketChat(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	srv, url := start(t, rocketchattest.WithRateLimit(2, time.Minute), rocketchattest.WithClock(clock))
	srv.AddRoom(rocketchat.Room{ID: "R", Open: true})
	h := map[string]string{"X-User-Id": "u", "X-Auth-Token": "t"}
	reset := strconv.FormatInt(now.Add(time.Minute).UnixMilli(), 10)
	for i, want := range []struct {
		status    int
		remaining string
	}{{200, "1"}, {200, "0"}, {429, "0"}} {
		status, body, hdr := raw(t, "GET", url+"/api/v1/rooms.info?roomId=R", "", h)
		assert.Equal(t, want.status, status, "call %d", i+1)
		assert.Equal(t, "2", hdr.Get("X-RateLimit-Limit"))
		assert.Equal(t, want.remaining, hdr.Get("X-RateLimit-Remaining"))
		assert.Equal(t, reset, hdr.Get("X-RateLimit-Reset"), "epoch milliseconds")
		if status == 429 {
			assert.Contains(t, body["error"], "[error-too-many-requests]")
		}
	}
	// Another route has its own window.
	status, _, _ := raw(t, "GET", url+"/api/v1/livechat/rooms", "", h)
	assert.Equal(t, 200, status)
}

func TestFailNext(t *testing.T) {
	tests := []struct {
		name      string
		f         rocketchattest.Failure
		wantIs    error
		retryable bool
	}{
		{"429", rocketchattest.TooManyRequests(2 * time.Second), rocketchat.ErrTooManyRequests, true},
		{"500", rocketchattest.ServerError(), nil, true},
		{"503 page", rocketchattest.ServiceUnavailable(), nil, true},
		{"invalid params", rocketchattest.InvalidParams("must have required property 'rid'"), rocketchat.ErrInvalidParams, false},
		{"transient close", rocketchattest.Error(rocketchat.TypeCannotCloseTryAgain), rocketchat.ErrCannotCloseTryAgain, true},
		{"tags required", rocketchattest.Error(rocketchat.TypeTagsRequired), rocketchat.ErrTagsRequired, false},
		{"200 success false", rocketchattest.SuccessFalse(rocketchat.TypeNotAllowed), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := start(t)
			id := srv.AddRoom(rocketchat.Room{Open: true})
			srv.FailNext(rocketchat.PathCloseRoom, 1, tt.f)
			c := client(t, url, rocketchat.WithMaxRateLimitWait(0))
			_, err := c.GetRoom(t.Context(), id)
			require.NoError(t, err, "another endpoint is not affected")
			_, err = c.CloseRoom(t.Context(), rocketchat.CloseRoomRequest{RoomID: id})
			require.Error(t, err)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			assert.Equal(t, tt.retryable, rocketchat.IsRetryable(err))
			if tt.name == "429" {
				d, ok := rocketchat.RetryAfter(err)
				assert.True(t, ok)
				assert.InDelta(t, 2, d.Seconds(), 1)
				return
			}
			_, err = c.CloseRoom(t.Context(), rocketchat.CloseRoomRequest{RoomID: id})
			require.NoError(t, err, "armed once")
			calls := srv.CallsTo(rocketchat.PathCloseRoom)
			require.Len(t, calls, 2)
			assert.Equal(t, "bot", calls[1].Header.Get("X-User-Id"))
			assert.Equal(t, http.StatusOK, calls[1].Status)
		})
	}
}

func TestHangRespectsContext(t *testing.T) {
	srv, url := start(t)
	id := srv.AddRoom(rocketchat.Room{Open: true})
	srv.FailNext("", 1, rocketchattest.Hang(time.Minute))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := client(t, url).GetRoom(ctx, id)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, rocketchat.IsRetryable(err))
	require.Eventually(t, func() bool { return srv.Calls()[0].Status == rocketchattest.StatusAborted },
		2*time.Second, 10*time.Millisecond)
}

func TestLatencyAndReset(t *testing.T) {
	srv, url := start(t, rocketchattest.WithLatency(30*time.Millisecond))
	id := srv.AddRoom(rocketchat.Room{Open: true})
	begin := time.Now()
	_, err := client(t, url).GetRoom(t.Context(), id)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(begin), 30*time.Millisecond)
	assert.Len(t, srv.Calls(), 1)
	srv.ResetCalls()
	assert.Empty(t, srv.Calls())
	assert.Len(t, srv.Rooms(), 1)
	srv.Reset()
	assert.Empty(t, srv.Rooms())
}

// The fake refuses a property the endpoint's schema does not list, as
// Rocket.Chat's validation does (400 invalid-params, "must NOT have
// additional properties"), and accepts every documented one.
func TestStrictRequests(t *testing.T) {
	srv, url := start(t)
	h := map[string]string{"X-User-Id": "u", "X-Auth-Token": "t"}
	tests := []struct {
		name, path, body string
		wantStatus       int
		wantError        string
	}{
		{"close documented fields", "/api/v1/livechat/room.closeByUser",
			`{"rid":"R1","comment":"c","tags":["a"],"generateTranscriptPdf":false,"forceClose":false,"transcriptEmail":{"sendToVisitor":false}}`, 200, ""},
		{"close with roomId (the forward's name)", "/api/v1/livechat/room.closeByUser", `{"rid":"R2","roomId":"R2"}`, 400, "'roomId'"},
		{"close with token (the visitor's close)", "/api/v1/livechat/room.closeByUser", `{"rid":"R2","token":"visitor"}`, 400, "'token'"},
		{"forward documented fields", "/api/v1/livechat/room.forward", `{"roomId":"R3","userId":"u2","comment":"c","clientAction":true}`, 200, ""},
		{"forward with rid", "/api/v1/livechat/room.forward", `{"roomId":"R3","rid":"R3","departmentId":"D"}`, 400, "'rid'"},
		{"returnAsInquiry documented fields", "/api/v1/livechat/inquiries.returnAsInquiry", `{"roomId":"R4","departmentId":"D"}`, 200, ""},
		{"returnAsInquiry unknown field", "/api/v1/livechat/inquiries.returnAsInquiry", `{"roomId":"R4","force":true}`, 400, "'force'"},
		{"saveInfo documented fields", "/api/v1/livechat/room.saveInfo",
			`{"guestData":{"_id":"V","name":"n","email":"e@example.com","phone":"1","livechatData":{}},"roomData":{"_id":"R5","topic":"t","tags":["x"],"livechatData":{"k":"v"},"priorityId":"p","slaId":"s"}}`, 200, ""},
		{"saveInfo unknown roomData field", "/api/v1/livechat/room.saveInfo", `{"guestData":{"_id":"V"},"roomData":{"_id":"R5","tag":"x"}}`, 400, "'tag'"},
		{"saveInfo unknown top-level field", "/api/v1/livechat/room.saveInfo", `{"guestData":{"_id":"V"},"roomData":{"_id":"R5"},"rid":"R5"}`, 400, "'rid'"},
	}
	for i := range 5 {
		srv.AddRoom(rocketchat.Room{ID: fmt.Sprintf("R%d", i+1), Open: true, Visitor: &rocketchat.Visitor{ID: "V"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := raw(t, "POST", url+tt.path, tt.body, h)
			assert.Equal(t, tt.wantStatus, status, "%v", body)
			if tt.wantError == "" {
				assert.Equal(t, true, body["success"])
				return
			}
			assert.Equal(t, false, body["success"])
			assert.Equal(t, rocketchat.TypeInvalidParams, body["errorType"])
			assert.Contains(t, body["error"], "must NOT have additional properties "+tt.wantError)
		})
	}
}
