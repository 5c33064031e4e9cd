package rocketchat_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		auth    rocketchat.Auth
		opts    []rocketchat.Option
		wantErr error
	}{
		{name: "ok", url: "https://chat.example.com", auth: testAuth},
		{name: "path prefix", url: "https://example.com/chat/", auth: testAuth},
		{name: "no user id", url: "https://chat.example.com", auth: rocketchat.Auth{Token: "t"}, wantErr: rocketchat.ErrMissingCredentials},
		{name: "no token", url: "https://chat.example.com", auth: rocketchat.Auth{UserID: "u"}, wantErr: rocketchat.ErrMissingCredentials},
		// The URL and the options every client shares: the apiclienttest
		// suite (contract_test.go).
		{name: "negative wait", url: "https://c", auth: testAuth, opts: []rocketchat.Option{rocketchat.WithMaxRateLimitWait(-time.Second)}, wantErr: rocketchat.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := rocketchat.New(tt.url, tt.auth, tt.opts...)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, c)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestAuthNeverPrintsToken(t *testing.T) {
	for _, s := range []string{testAuth.String(), fmt.Sprintf("%v %+v %#v %s", testAuth, testAuth, testAuth, testAuth)} {
		assert.NotContains(t, s, testAuth.Token)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	zap.New(core).Info("x", zap.Object("auth", testAuth))
	assert.NotContains(t, fmt.Sprint(logs.All()[0].ContextMap()), testAuth.Token)
}

func TestRequestsOnTheWire(t *testing.T) {
	open, onHold := true, false
	tests := []struct {
		name       string
		call       func(ctx context.Context, c *rocketchat.Client) error
		wantMethod string
		wantPath   string
		wantQuery  url.Values
		wantBody   string
	}{
		{
			name: "close with comment, tags and transcript",
			call: func(ctx context.Context, c *rocketchat.Client) error {
				_, err := c.CloseRoom(ctx, rocketchat.CloseRoomRequest{RoomID: "8ceKgWvo5qT5TrCRN", Comment: "close via API",
					Tags: []string{"abc"}, GenerateTranscriptPDF: true,
					TranscriptEmail: &rocketchat.TranscriptEmail{SendToVisitor: true, Email: "a@example.com", Subject: "transcript"}})
				return err
			},
			wantMethod: "POST", wantPath: "/api/v1/livechat/room.closeByUser",
			wantBody: `{"rid":"8ceKgWvo5qT5TrCRN","comment":"close via API","tags":["abc"],"generateTranscriptPdf":true,
				"transcriptEmail":{"sendToVisitor":true,"requestData":{"email":"a@example.com","subject":"transcript"}}}`,
		},
		{
			name: "close declining a transcript",
			call: func(ctx context.Context, c *rocketchat.Client) error {
				_, err := c.CloseRoom(ctx, rocketchat.CloseRoomRequest{RoomID: "R", TranscriptEmail: &rocketchat.TranscriptEmail{}, ForceClose: true})
				return err
			},
			wantMethod: "POST", wantPath: "/api/v1/livechat/room.closeByUser",
			wantBody: `{"rid":"R","transcriptEmail":{"sendToVisitor":false},"forceClose":true}`,
		},
		{
			name: "forward to a department",
			call: func(ctx context.Context, c *rocketchat.Client) error {
				return c.ForwardRoom(ctx, rocketchat.ForwardRequest{RoomID: "R", DepartmentID: "D", Comment: "billing"})
			},
			wantMethod: "POST", wantPath: "/api/v1/livechat/room.forward",
			wantBody: `{"roomId":"R","departmentId":"D","comment":"billing"}`,
		},
		{
			name: "return to queue",
			call: func(ctx context.Context, c *rocketchat.Client) error {
				_, err := c.ReturnToQueue(ctx, "R", "")
				return err
			},
			wantMethod: "POST", wantPath: "/api/v1/livechat/inquiries.returnAsInquiry", wantBody: `{"roomId":"R"}`,
		},
		{
			name: "set tags",
			call: func(ctx context.Context, c *rocketchat.Client) error {
				return c.SetRoomTags(ctx, "R", "V", []string{"vip"})
			},
			wantMethod: "POST", wantPath: "/api/v1/livechat/room.saveInfo",
			wantBody: `{"guestData":{"_id":"V"},"roomData":{"_id":"R","tags":["vip"]}}`,
		},
		{
			name:       "clear tags",
			call:       func(ctx context.Context, c *rocketchat.Client) error { return c.SetRoomTags(ctx, "R", "V", nil) },
			wantMethod: "POST", wantPath: "/api/v1/livechat/room.saveInfo",
			wantBody: `{"guestData":{"_id":"V"},"roomData":{"_id":"R","tags":[]}}`,
		},
		{
			name: "save topic keeps tags",
			call: func(ctx context.Context, c *rocketchat.Client) error {
				return c.SaveRoomInfo(ctx, rocketchat.SaveRoomInfoRequest{Guest: rocketchat.GuestData{ID: "V"}, Room: rocketchat.RoomData{ID: "R", Topic: "Billing"}})
			},
			wantMethod: "POST", wantPath: "/api/v1/livechat/room.saveInfo",
			wantBody: `{"guestData":{"_id":"V"},"roomData":{"_id":"R","topic":"Billing"}}`,
		},
		{
			name: "get room",
			call: func(ctx context.Context, c *rocketchat.Client) error {
				_, err := c.GetRoom(ctx, "R")
				return err
			},
			wantMethod: "GET", wantPath: "/api/v1/rooms.info", wantQuery: url.Values{"roomId": {"R"}},
		},
		{
			name: "list inquiries",
			call: func(ctx context.Context, c *rocketchat.Client) error {
				_, err := c.ListInquiriesPage(ctx, rocketchat.InquiriesQuery{Department: "D", Sort: []rocketchat.SortKey{{Field: "ts"}}}, 100)
				return err
			},
			wantMethod: "GET", wantPath: "/api/v1/livechat/inquiries.list",
			wantQuery: url.Values{"department": {"D"}, "offset": {"100"}, "count": {"100"}, "sort": {`{"ts":1}`}},
		},
		{
			name: "list rooms with every filter",
			call: func(ctx context.Context, c *rocketchat.Client) error {
				_, err := c.ListRoomsPage(ctx, rocketchat.RoomsQuery{
					Agents: []string{"a1", "a2"}, DepartmentID: "D", Open: &open, OnHold: &onHold,
					Tags: []string{"vip", "billing"}, RoomName: "maria",
					CreatedAt:    &rocketchat.DateRange{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
					ClosedAt:     &rocketchat.DateRange{End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
					CustomFields: map[string]string{"orderId": "1042"},
					Sort:         []rocketchat.SortKey{{Field: "lm", Desc: true}, {Field: "ts"}},
					PageSize:     25,
				}, 50)
				return err
			},
			wantMethod: "GET", wantPath: "/api/v1/livechat/rooms",
			wantQuery: url.Values{
				"agents[]": {"a1", "a2"}, "departmentId": {"D"}, "open": {"true"}, "onhold": {"false"},
				"tags[]": {"vip", "billing"}, "roomName": {"maria"},
				"createdAt": {`{"start":"2026-03-01T00:00:00Z"}`}, "closedAt": {`{"end":"2026-03-02T00:00:00Z"}`},
				"customFields": {`{"orderId":"1042"}`}, "sort": {`{"lm":-1,"ts":1}`},
				"offset": {"50"}, "count": {"25"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srvURL, reqs := wireServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/api/v1/rooms.info" {
					_, _ = w.Write([]byte(`{"room":{"_id":"R","t":"l","open":true},"success":true}`))
					return
				}
				_, _ = w.Write([]byte(`{"success":true}`))
			})
			c := newClient(t, srvURL, rocketchat.WithUserAgent("test-agent/1"))
			require.NoError(t, tt.call(t.Context(), c))
			got := reqs()
			require.Len(t, got, 1)
			r := got[0]
			assert.Equal(t, tt.wantMethod, r.Method)
			assert.Equal(t, tt.wantPath, r.Path)
			assert.Equal(t, testAuth.Token, r.Header.Get("X-Auth-Token"))
			assert.Equal(t, testAuth.UserID, r.Header.Get("X-User-Id"))
			assert.Empty(t, r.Header.Get("Authorization"))
			assert.Equal(t, "test-agent/1", r.Header.Get("User-Agent"))
			q, err := url.ParseQuery(r.RawQuery)
			require.NoError(t, err)
			if tt.wantQuery == nil {
				tt.wantQuery = url.Values{}
			}
			assert.Equal(t, tt.wantQuery, q)
			if tt.wantBody == "" {
				assert.Empty(t, r.Body)
			} else {
				assert.JSONEq(t, tt.wantBody, string(r.Body))
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			}
		})
	}
}

func TestInvalidArgumentsSendNothing(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *rocketchat.Client) error
	}{
		{"close without room", func(ctx context.Context, c *rocketchat.Client) error {
			_, err := c.CloseRoom(ctx, rocketchat.CloseRoomRequest{})
			return err
		}},
		{"forward without target", func(ctx context.Context, c *rocketchat.Client) error {
			return c.ForwardRoom(ctx, rocketchat.ForwardRequest{RoomID: "R"})
		}},
		{"forward without room", func(ctx context.Context, c *rocketchat.Client) error {
			return c.ForwardRoom(ctx, rocketchat.ForwardRequest{UserID: "U"})
		}},
		{"return without room", func(ctx context.Context, c *rocketchat.Client) error {
			_, err := c.ReturnToQueue(ctx, "", "")
			return err
		}},
		{"tags without visitor", func(ctx context.Context, c *rocketchat.Client) error { return c.SetRoomTags(ctx, "R", "", nil) }},
		{"get without room", func(ctx context.Context, c *rocketchat.Client) error { _, err := c.GetRoom(ctx, ""); return err }},
		{"negative page size", func(ctx context.Context, c *rocketchat.Client) error {
			_, err := c.ListRoomsPage(ctx, rocketchat.RoomsQuery{PageSize: -1}, 0)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srvURL, reqs := wireServer(t, nil)
			err := tt.call(t.Context(), newClient(t, srvURL))
			require.ErrorIs(t, err, rocketchat.ErrInvalidArgument)
			assert.False(t, rocketchat.IsRetryable(err))
			assert.Empty(t, reqs())
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	reset := func() string { return strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10) }
	tests := []struct {
		name       string
		status     int
		body       string
		header     func() map[string]string
		wantType   string
		wantMsg    string
		wantIs     error
		retryable  bool
		wantRetry  time.Duration // approximate; 0 expects none
		wantPrefix string
	}{
		{
			name: "errorType field", status: 400,
			body:     `{"success":false,"error":"must have required property 'rid' [invalid-params]","errorType":"invalid-params"}`,
			wantType: "invalid-params", wantMsg: "must have required property 'rid' [invalid-params]", wantIs: rocketchat.ErrInvalidParams,
		},
		{
			name: "bare error string", status: 400, body: `{"success":false,"error":"error-invalid-room"}`,
			wantType: "error-invalid-room", wantMsg: "error-invalid-room", wantIs: rocketchat.ErrInvalidRoom,
		},
		{
			name: "bracketed type", status: 400, body: `{"success":false,"error":"Room closed [error-room-closed]"}`,
			wantType: "error-room-closed", wantMsg: "Room closed [error-room-closed]", wantIs: rocketchat.ErrRoomClosed,
		},
		{
			name: "inquiry room-closed is ErrRoomClosed", status: 400, body: `{"success":false,"error":"room-closed"}`,
			wantType: "room-closed", wantMsg: "room-closed", wantIs: rocketchat.ErrRoomClosed,
		},
		{
			name: "transient close failure", status: 400, body: `{"success":false,"error":"error-room-cannot-be-closed-try-again"}`,
			wantType: "error-room-cannot-be-closed-try-again", wantMsg: "error-room-cannot-be-closed-try-again",
			wantIs: rocketchat.ErrCannotCloseTryAgain, retryable: true,
		},
		{
			name: "401 not logged in", status: 401, body: `{"status":"error","message":"You must be logged in to do this."}`,
			wantMsg: "You must be logged in to do this.", wantIs: rocketchat.ErrUnauthorized,
		},
		{
			name: "403 permission", status: 403, body: `{"success":false,"error":"unauthorized"}`,
			wantType: "unauthorized", wantMsg: "unauthorized", wantIs: rocketchat.ErrForbidden,
		},
		{
			name: "429 with reset header", status: 429,
			body: `{"success":false,"error":"Error, too many requests. Please slow down. You must wait 30 seconds before trying this endpoint again. [error-too-many-requests]"}`,
			header: func() map[string]string {
				return map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset()}
			},
			wantType: "error-too-many-requests", wantIs: rocketchat.ErrTooManyRequests, retryable: true, wantRetry: 30 * time.Second,
			wantMsg: "Error, too many requests. Please slow down. You must wait 30 seconds before trying this endpoint again. [error-too-many-requests]",
		},
		{
			name: "429 with Retry-After only", status: 429, body: `Too Many Requests`,
			header:  func() map[string]string { return map[string]string{"Retry-After": "12"} },
			wantMsg: "Too Many Requests", wantIs: rocketchat.ErrTooManyRequests, retryable: true, wantRetry: 12 * time.Second,
		},
		{
			name: "200 with success false", status: 200, body: `{"success":false,"error":"error-not-allowed"}`,
			wantType: "error-not-allowed", wantMsg: "error-not-allowed",
		},
		{
			name: "502 proxy page", status: 502, body: `<html>bad gateway</html>`, wantMsg: "<html>bad gateway</html>", retryable: true,
		},
		{
			name: "404 unknown route", status: 404, body: `{"success":false,"error":"Not found"}`, wantMsg: "Not found", wantIs: rocketchat.ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srvURL, _ := wireServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.header != nil {
					for k, v := range tt.header() {
						w.Header().Set(k, v)
					}
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			err := newClient(t, srvURL).ForwardRoom(t.Context(), rocketchat.ForwardRequest{RoomID: "R1", UserID: "U"})
			require.Error(t, err)
			apiErr, ok := errors.AsType[*rocketchat.APIError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.Equal(t, tt.wantType, apiErr.Type)
			assert.Equal(t, tt.wantMsg, apiErr.Message)
			assert.Equal(t, "POST /api/v1/livechat/room.forward", apiErr.Endpoint)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			assert.Equal(t, tt.retryable, rocketchat.IsRetryable(err))
			d, ok := rocketchat.RetryAfter(err)
			assert.Equal(t, tt.wantRetry > 0, ok)
			assert.InDelta(t, tt.wantRetry.Seconds(), d.Seconds(), 1.5)
			assert.Contains(t, err.Error(), "rocketchat: forward_room room R1: HTTP ")
		})
	}
}

func TestCloseRoomAlreadyClosedIsSuccess(t *testing.T) {
	for _, body := range []string{
		`{"success":false,"error":"error-room-already-closed"}`,
		`{"success":false,"error":"Room closed [error-room-closed]","errorType":"error-room-closed"}`,
	} {
		srvURL, reqs := wireServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(body))
		})
		already, err := newClient(t, srvURL).CloseRoom(t.Context(), rocketchat.CloseRoomRequest{RoomID: "R"})
		require.NoError(t, err, body)
		assert.True(t, already)
		assert.Len(t, reqs(), 1)
	}
	srvURL, _ := wireServer(t, nil)
	already, err := newClient(t, srvURL).CloseRoom(t.Context(), rocketchat.CloseRoomRequest{RoomID: "R"})
	require.NoError(t, err)
	assert.False(t, already)
}

func TestRateLimitHeaders(t *testing.T) {
	t.Run("held until the reset, other routes not", func(t *testing.T) {
		resetAt := time.Now().Add(300 * time.Millisecond)
		var mu sync.Mutex
		var times []time.Time
		srvURL, _ := wireServer(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			times = append(times, time.Now())
			first := len(times) == 1
			mu.Unlock()
			if first {
				w.Header().Set("X-RateLimit-Limit", "1")
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(resetAt.UnixMilli(), 10))
			}
			_, _ = w.Write([]byte(`{"success":true}`))
		})
		c := newClient(t, srvURL)
		require.NoError(t, c.ForwardRoom(t.Context(), rocketchat.ForwardRequest{RoomID: "R", UserID: "U"}))
		_, err := c.ReturnToQueue(t.Context(), "R", "")
		require.NoError(t, err)
		require.NoError(t, c.ForwardRoom(t.Context(), rocketchat.ForwardRequest{RoomID: "R", UserID: "U"}))
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, times, 3)
		assert.True(t, times[1].Before(resetAt), "another route is not held")
		assert.False(t, times[2].Before(resetAt.Add(-10*time.Millisecond)), "the same route waited for the reset")
	})
	t.Run("a reset beyond the max wait fails at once", func(t *testing.T) {
		srvURL, reqs := wireServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
			_, _ = w.Write([]byte(`{"success":true}`))
		})
		c := newClient(t, srvURL, rocketchat.WithMaxRateLimitWait(time.Second))
		require.NoError(t, c.ForwardRoom(t.Context(), rocketchat.ForwardRequest{RoomID: "R", UserID: "U"}))
		err := c.ForwardRoom(t.Context(), rocketchat.ForwardRequest{RoomID: "R", UserID: "U"})
		require.ErrorIs(t, err, rocketchat.ErrRateLimited)
		assert.True(t, rocketchat.IsRetryable(err))
		d, ok := rocketchat.RetryAfter(err)
		assert.True(t, ok)
		assert.InDelta(t, 60, d.Seconds(), 1.5)
		assert.Len(t, reqs(), 1, "not sent")
	})
	t.Run("a reset past the deadline fails at once", func(t *testing.T) {
		srvURL, reqs := wireServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(5*time.Second).UnixMilli(), 10))
			_, _ = w.Write([]byte(`{"success":true}`))
		})
		c := newClient(t, srvURL)
		require.NoError(t, c.ForwardRoom(t.Context(), rocketchat.ForwardRequest{RoomID: "R", UserID: "U"}))
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		err := c.ForwardRoom(ctx, rocketchat.ForwardRequest{RoomID: "R", UserID: "U"})
		require.ErrorIs(t, err, rocketchat.ErrRateLimited)
		assert.Len(t, reqs(), 1)
	})
	t.Run("a 429 holds the route too", func(t *testing.T) {
		srvURL, reqs := wireServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"success":false,"error":"Error, too many requests. [error-too-many-requests]"}`))
		})
		c := newClient(t, srvURL, rocketchat.WithMaxRateLimitWait(0))
		err := c.ForwardRoom(t.Context(), rocketchat.ForwardRequest{RoomID: "R", UserID: "U"})
		require.ErrorIs(t, err, rocketchat.ErrTooManyRequests)
		err = c.ForwardRoom(t.Context(), rocketchat.ForwardRequest{RoomID: "R", UserID: "U"})
		require.ErrorIs(t, err, rocketchat.ErrRateLimited)
		assert.Len(t, reqs(), 1)
	})
	t.Run("remaining above 0 never waits", func(t *testing.T) {
		srvURL, reqs := wireServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-RateLimit-Remaining", "5")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10))
			_, _ = w.Write([]byte(`{"success":true}`))
		})
		c := newClient(t, srvURL, rocketchat.WithMaxRateLimitWait(0))
		for range 3 {
			require.NoError(t, c.ForwardRoom(t.Context(), rocketchat.ForwardRequest{RoomID: "R", UserID: "U"}))
		}
		assert.Len(t, reqs(), 3)
	})
}

func TestRateLimitAgainstTheFake(t *testing.T) {
	srv, srvURL := newFake(t, rocketchattest.WithRateLimit(2, 300*time.Millisecond))
	srv.AddRoom(rocketchat.Room{ID: "R000001", Open: true})
	c := newClient(t, srvURL)
	start := time.Now()
	// 2 calls per 300 ms window: the third waits for the next window instead
	// of getting a 429.
	for range 5 {
		_, err := c.GetRoom(t.Context(), "R000001")
		require.NoError(t, err)
	}
	assert.GreaterOrEqual(t, time.Since(start), 550*time.Millisecond)
	for _, call := range srv.Calls() {
		assert.Equal(t, http.StatusOK, call.Status)
	}
}
