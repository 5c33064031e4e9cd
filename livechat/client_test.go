package livechat_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		auth    livechat.Auth
		opts    []livechat.Option
		wantErr error
	}{
		{name: "pat", auth: testPAT},
		{name: "bearer", auth: livechat.Bearer("dal:tok")},
		{name: "empty auth", auth: livechat.Auth{}, wantErr: livechat.ErrMissingAuth},
		{name: "account without token", auth: livechat.PAT("acc", ""), wantErr: livechat.ErrMissingAuth},
		{name: "base URL with path prefix", auth: testPAT, opts: []livechat.Option{livechat.WithBaseURL("http://localhost:8080/proxy/")}},
		// The options every client shares: the apiclienttest suite
		// (contract_test.go).
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := livechat.New(tt.auth, tt.opts...)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, c)
				return
			}
			require.NoError(t, err)
			assert.NotNil(t, c)
		})
	}
}

func TestAuthHeaders(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("acc-1:secret-pat"))
	tests := []struct {
		name       string
		auth       livechat.Auth
		opts       []livechat.Option
		wantAuth   string
		wantRegion string
	}{
		{name: "PAT is Basic", auth: testPAT, wantAuth: basic},
		{name: "dal bearer sends no region", auth: livechat.Bearer("dal:abc"), wantAuth: "Bearer dal:abc"},
		{name: "fra bearer sends X-Region fra", auth: livechat.Bearer("fra:abc"), wantAuth: "Bearer fra:abc", wantRegion: "fra"},
		{name: "fra PAT sends X-Region fra", auth: livechat.PAT("acc-1", "fra:pat"), wantAuth: "Basic " + base64.StdEncoding.EncodeToString([]byte("acc-1:fra:pat")), wantRegion: "fra"},
		{name: "WithRegion overrides token", auth: testPAT, opts: []livechat.Option{livechat.WithRegion("fra")}, wantAuth: basic, wantRegion: "fra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, reqs := wireServer(t, nil)
			c := newClient(t, url, tt.auth, append(tt.opts, livechat.WithUserAgent("test-agent/1"))...)
			require.NoError(t, c.DeactivateChat(t.Context(), "PJ0MRSHTDG", true))

			got := reqs()
			require.Len(t, got, 1)
			assert.Equal(t, http.MethodPost, got[0].Method)
			assert.Equal(t, "/v3.6/agent/action/deactivate_chat", got[0].Path)
			assert.Equal(t, tt.wantAuth, got[0].Header.Get("Authorization"))
			assert.Equal(t, tt.wantRegion, got[0].Header.Get("X-Region"))
			assert.LessOrEqual(t, len(got[0].Header.Values("X-Region")), 1)
			assert.Equal(t, "application/json", got[0].Header.Get("Content-Type"))
			assert.Equal(t, "test-agent/1", got[0].Header.Get("User-Agent"))
			assert.Equal(t, tt.wantRegion, c.Region())
		})
	}
}

func TestAuthNeverPrintsToken(t *testing.T) {
	for _, a := range []livechat.Auth{testPAT, livechat.Bearer("fra:topsecret")} {
		for _, s := range []string{a.String(), fmt.Sprintf("%v %+v %#v %s", a, a, a, a)} {
			assert.NotContains(t, s, "secret")
		}
		core, logs := observer.New(zapcore.DebugLevel)
		zap.New(core).Info("x", zap.Object("auth", a))
		fields := logs.All()[0].ContextMap()
		assert.NotContains(t, fmt.Sprint(fields), "secret")
	}
	assert.Equal(t, "fra", livechat.Bearer("fra:x").Region())
	assert.Equal(t, "", livechat.Bearer("dal:x").Region())
	assert.Equal(t, "", livechat.Bearer("fraud").Region())
}

func TestRequestBodies(t *testing.T) {
	tests := []struct {
		name       string
		call       func(ctx context.Context, c *livechat.Client) error
		answer     string // 200 body; "" sends none
		wantAction string
		wantBody   string
	}{
		{
			name: "update_chat_properties unpin",
			call: func(ctx context.Context, c *livechat.Client) error {
				return c.UpdateChatProperties(ctx, "PJ0MRSHTDG", livechat.Properties{"routing": {"pinned": false}})
			},
			wantAction: "update_chat_properties",
			wantBody:   `{"id":"PJ0MRSHTDG","properties":{"routing":{"pinned":false}}}`,
		},
		{
			name: "delete_chat_properties",
			call: func(ctx context.Context, c *livechat.Client) error {
				return c.DeleteChatProperties(ctx, "PJ0MRSHTDG", map[string][]string{"acme": {"a", "b"}})
			},
			wantAction: "delete_chat_properties",
			wantBody:   `{"id":"PJ0MRSHTDG","properties":{"acme":["a","b"]}}`,
		},
		{
			name:       "deactivate_chat ignoring presence",
			call:       func(ctx context.Context, c *livechat.Client) error { return c.DeactivateChat(ctx, "PJ0MRSHTDG", true) },
			wantAction: "deactivate_chat",
			wantBody:   `{"id":"PJ0MRSHTDG","ignore_requester_presence":true}`,
		},
		{
			name:       "deactivate_chat as a chat user",
			call:       func(ctx context.Context, c *livechat.Client) error { return c.DeactivateChat(ctx, "PJ0MRSHTDG", false) },
			wantAction: "deactivate_chat",
			wantBody:   `{"id":"PJ0MRSHTDG"}`,
		},
		{
			name: "transfer_chat to a group",
			call: func(ctx context.Context, c *livechat.Client) error {
				return c.TransferChat(ctx, livechat.TransferChatRequest{ChatID: "PJ0MRSHTDG", Target: livechat.ToGroups(19),
					IgnoreRequesterPresence: true, IgnoreAgentsAvailability: true})
			},
			wantAction: "transfer_chat",
			wantBody:   `{"id":"PJ0MRSHTDG","target":{"type":"group","ids":[19]},"ignore_agents_availability":true,"ignore_requester_presence":true}`,
		},
		{
			name: "transfer_chat to agents",
			call: func(ctx context.Context, c *livechat.Client) error {
				return c.TransferChat(ctx, livechat.TransferChatRequest{ChatID: "PJ0MRSHTDG", Target: livechat.ToAgents("smith@example.com")})
			},
			wantAction: "transfer_chat",
			wantBody:   `{"id":"PJ0MRSHTDG","target":{"type":"agent","ids":["smith@example.com"]}}`,
		},
		{
			name: "transfer_chat within the group",
			call: func(ctx context.Context, c *livechat.Client) error {
				return c.TransferChat(ctx, livechat.TransferChatRequest{ChatID: "PJ0MRSHTDG"})
			},
			wantAction: "transfer_chat",
			wantBody:   `{"id":"PJ0MRSHTDG"}`,
		},
		{
			name: "tag_thread",
			call: func(ctx context.Context, c *livechat.Client) error {
				return c.TagThread(ctx, "PW94SJTGW6", "PWS6GIKAKH", "support")
			},
			wantAction: "tag_thread",
			wantBody:   `{"chat_id":"PW94SJTGW6","thread_id":"PWS6GIKAKH","tag":"support"}`,
		},
		{
			name: "untag_thread",
			call: func(ctx context.Context, c *livechat.Client) error {
				return c.UntagThread(ctx, "PW94SJTGW6", "PWS6GIKAKH", "support")
			},
			wantAction: "untag_thread",
			wantBody:   `{"chat_id":"PW94SJTGW6","thread_id":"PWS6GIKAKH","tag":"support"}`,
		},
		{
			name: "set_routing_status of an agent",
			call: func(ctx context.Context, c *livechat.Client) error {
				return c.SetRoutingStatus(ctx, "smith@example.com", livechat.RoutingAcceptingChats)
			},
			wantAction: "set_routing_status",
			wantBody:   `{"status":"accepting_chats","agent_id":"smith@example.com"}`,
		},
		{
			name: "set_routing_status of the requester",
			call: func(ctx context.Context, c *livechat.Client) error {
				return c.SetRoutingStatus(ctx, "", livechat.RoutingNotAcceptingChats)
			},
			wantAction: "set_routing_status",
			wantBody:   `{"status":"not_accepting_chats"}`,
		},
		{
			name: "send_event",
			call: func(ctx context.Context, c *livechat.Client) error {
				id, err := c.SendEvent(ctx, "PW94SJTGW6", livechat.Message("hello world"))
				if err == nil && id != "K600PKZON8_1" {
					err = fmt.Errorf("event id %q", id)
				}
				return err
			},
			answer:     `{"event_id":"K600PKZON8_1"}`,
			wantAction: "send_event",
			wantBody:   `{"chat_id":"PW94SJTGW6","event":{"type":"message","text":"hello world","visibility":"all"}}`,
		},
		{
			name: "send_event system message (v3.6 shape)",
			call: func(ctx context.Context, c *livechat.Client) error {
				_, err := c.SendEvent(ctx, "PW94SJTGW6", livechat.SystemMessage("chatwarden.note", "escalated", "agents"))
				return err
			},
			answer:     `{"event_id":"K600PKZON8_2"}`,
			wantAction: "send_event",
			wantBody: `{"chat_id":"PW94SJTGW6","event":{"type":"system_message","text":"escalated",
				"visibility":"agents","system_message_type":"chatwarden.note"}}`,
		},
		{
			name: "get_chat latest thread",
			call: func(ctx context.Context, c *livechat.Client) error {
				chat, err := c.GetChat(ctx, "PJ0MRSHTDG", "")
				if err == nil && (chat.ID != "PJ0MRSHTDG" || !chat.Active() || !chat.Unassigned() || !chat.Pinned()) {
					err = fmt.Errorf("decoded %+v", chat)
				}
				return err
			},
			answer: `{"id":"PJ0MRSHTDG","thread":{"id":"K600PKZON8","active":true,"created_at":"2020-05-07T07:11:28.288340Z",
				"properties":{"routing":{"unassigned":true,"pinned":true}},"events":[{"id":"E1","type":"message","text":"Hello","custom":1}]},
				"properties":{"routing":{"pinned":true}},"access":{"group_ids":[0]}}`,
			wantAction: "get_chat",
			wantBody:   `{"chat_id":"PJ0MRSHTDG"}`,
		},
		{
			name: "get_chat given thread",
			call: func(ctx context.Context, c *livechat.Client) error {
				_, err := c.GetChat(ctx, "PJ0MRSHTDG", "K600PKZON8")
				return err
			},
			answer:     `{"id":"PJ0MRSHTDG"}`,
			wantAction: "get_chat",
			wantBody:   `{"chat_id":"PJ0MRSHTDG","thread_id":"K600PKZON8"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, reqs := wireServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.answer != "" {
					_, _ = w.Write([]byte(tt.answer))
				}
			})
			c := newClient(t, url, testPAT)
			require.NoError(t, tt.call(t.Context(), c))

			got := reqs()
			require.Len(t, got, 1)
			assert.Equal(t, "/v3.6/agent/action/"+tt.wantAction, got[0].Path)
			assert.JSONEq(t, tt.wantBody, string(got[0].Body))
		})
	}
}

func TestMissingArgumentsSendNothing(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *livechat.Client) error
	}{
		{"get_chat without chat", func(ctx context.Context, c *livechat.Client) error { _, err := c.GetChat(ctx, "", ""); return err }},
		{"update without chat", func(ctx context.Context, c *livechat.Client) error {
			return c.UpdateChatProperties(ctx, "", livechat.Properties{"a": {"b": 1}})
		}},
		{"update without properties", func(ctx context.Context, c *livechat.Client) error { return c.UpdateChatProperties(ctx, "X", nil) }},
		{"delete without properties", func(ctx context.Context, c *livechat.Client) error { return c.DeleteChatProperties(ctx, "X", nil) }},
		{"deactivate without chat", func(ctx context.Context, c *livechat.Client) error { return c.DeactivateChat(ctx, "", true) }},
		{"transfer without chat", func(ctx context.Context, c *livechat.Client) error {
			return c.TransferChat(ctx, livechat.TransferChatRequest{})
		}},
		{"tag without tag", func(ctx context.Context, c *livechat.Client) error { return c.TagThread(ctx, "X", "T", "") }},
		{"untag without thread", func(ctx context.Context, c *livechat.Client) error { return c.UntagThread(ctx, "X", "", "t") }},
		{"send_event without type", func(ctx context.Context, c *livechat.Client) error {
			_, err := c.SendEvent(ctx, "X", livechat.OutgoingEvent{Text: "hi"})
			return err
		}},
		{"system message without system_message_type", func(ctx context.Context, c *livechat.Client) error {
			_, err := c.SendEvent(ctx, "X", livechat.OutgoingEvent{Type: livechat.EventSystemMessage, Text: "hi"})
			return err
		}},
		{"routing status without status", func(ctx context.Context, c *livechat.Client) error { return c.SetRoutingStatus(ctx, "a", "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, reqs := wireServer(t, nil)
			err := tt.call(t.Context(), newClient(t, url, testPAT))
			require.ErrorIs(t, err, livechat.ErrInvalidArgument)
			assert.False(t, livechat.IsRetryable(err))
			assert.Empty(t, reqs())
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	huge := strings.Repeat("x", 3*livechat.MaxErrorBody)
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		want        livechat.APIError
		wantIs      error
		wantRetry   bool
		wantMsgLen  int
		wantErrText string
	}{
		{
			name:   "envelope with data",
			status: 421,
			body:   `{"error":{"type":"misdirected_request","message":"Wrong region","data":{"region":"dal","x":1}}}`,
			want: livechat.APIError{StatusCode: 421, Type: "misdirected_request", Message: "Wrong region",
				Data: json.RawMessage(`{"region":"dal","x":1}`), Action: "update_chat_properties"},
			wantIs:      livechat.ErrMisdirected,
			wantErrText: "livechat: update_chat_properties chat PJ0MRSHTDG: HTTP 421 misdirected_request: Wrong region",
		},
		{
			name:   "validation 422 with null data",
			status: 422,
			body:   `{"error":{"type":"validation","message":"Wrong format of request","data":null}}`,
			want:   livechat.APIError{StatusCode: 422, Type: "validation", Message: "Wrong format of request", Action: "update_chat_properties"},
			wantIs: livechat.ErrValidation,
		},
		{
			name:      "rate limited with Retry-After seconds",
			status:    429,
			header:    map[string]string{"Retry-After": "7"},
			body:      `{"error":{"type":"too_many_requests","message":"Too many requests"}}`,
			want:      livechat.APIError{StatusCode: 429, Type: "too_many_requests", Message: "Too many requests", RetryAfter: 7 * time.Second, Action: "update_chat_properties"},
			wantIs:    livechat.ErrTooManyRequests,
			wantRetry: true,
		},
		{
			name:      "HTML from a proxy",
			status:    502,
			body:      "\n  <html><body>Bad gateway</body></html>\n",
			want:      livechat.APIError{StatusCode: 502, Message: "<html><body>Bad gateway</body></html>", Action: "update_chat_properties"},
			wantRetry: true,
		},
		{
			name:      "typeless 429 matches the sentinel by status",
			status:    429,
			header:    map[string]string{"Retry-After": "soon"},
			body:      "slow down",
			want:      livechat.APIError{StatusCode: 429, Message: "slow down", Action: "update_chat_properties"},
			wantIs:    livechat.ErrTooManyRequests,
			wantRetry: true,
		},
		{
			name:      "empty body",
			status:    503,
			want:      livechat.APIError{StatusCode: 503, Message: "Service Unavailable", Action: "update_chat_properties"},
			wantIs:    livechat.ErrServiceUnavailable,
			wantRetry: true,
		},
		{
			name:   "JSON without envelope",
			status: 400,
			body:   `{"message":"nope"}`,
			want:   livechat.APIError{StatusCode: 400, Message: `{"message":"nope"}`, Action: "update_chat_properties"},
		},
		{
			name:       "huge body is cut at MaxErrorBody",
			status:     500,
			body:       huge,
			wantMsgLen: livechat.MaxErrorBody,
			wantIs:     livechat.ErrInternal,
			wantRetry:  true,
		},
		{
			name:   "201 is not success",
			status: 201,
			body:   `{}`,
			want:   livechat.APIError{StatusCode: 201, Message: "{}", Action: "update_chat_properties"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := wireServer(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			c := newClient(t, url, testPAT)
			err := c.UpdateChatProperties(t.Context(), "PJ0MRSHTDG", livechat.Properties{"routing": {"pinned": false}})
			require.Error(t, err)

			apiErr, ok := errors.AsType[*livechat.APIError](err)
			require.True(t, ok, "want *APIError in %v", err)
			if tt.wantMsgLen > 0 {
				assert.Len(t, apiErr.Message, tt.wantMsgLen)
				assert.Equal(t, tt.status, apiErr.StatusCode)
			} else {
				assert.Equal(t, tt.want, *apiErr)
			}
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			assert.Equal(t, tt.wantRetry, livechat.IsRetryable(err))
			assert.True(t, strings.HasPrefix(err.Error(), "livechat: update_chat_properties chat PJ0MRSHTDG: "), err.Error())
			if tt.wantErrText != "" {
				assert.Equal(t, tt.wantErrText, err.Error())
			}
		})
	}
}

func TestEmptySuccessBodies(t *testing.T) {
	url, _ := wireServer(t, func(w http.ResponseWriter, r *http.Request) {})
	c := newClient(t, url, testPAT)
	require.NoError(t, c.UpdateChatProperties(t.Context(), "X", livechat.Properties{"a": {"b": 1}}))
	// An empty answer to a call that expects a body decodes to zero values.
	id, err := c.SendEvent(t.Context(), "X", livechat.Message("hi"))
	require.NoError(t, err)
	assert.Empty(t, id)
}

func TestMalformedSuccessBody(t *testing.T) {
	url, _ := wireServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{not json")) })
	_, err := newClient(t, url, testPAT).GetChat(t.Context(), "X", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "livechat: get_chat chat X: decoding response")
	assert.False(t, livechat.IsRetryable(err))
}

func TestLifecycleHeadersLoggedOnce(t *testing.T) {
	var legacy, deprecation atomic.Value
	legacy.Store("2026-12-31")
	deprecation.Store("")
	url, _ := wireServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Legacy", legacy.Load().(string))
		if d := deprecation.Load().(string); d != "" {
			w.Header().Set("Deprecation", d)
		}
	})
	core, logs := observer.New(zapcore.WarnLevel)
	c := newClient(t, url, testPAT, livechat.WithLogger(zap.New(core)))
	call := func() { require.NoError(t, c.DeactivateChat(t.Context(), "X", true)) }

	for range 3 {
		call()
	}
	require.Equal(t, 1, logs.Len())
	entry := logs.All()[0]
	assert.Contains(t, entry.Message, "2026-12-31")
	assert.Contains(t, entry.Message, "legacy")
	assert.Equal(t, map[string]any{"platform": "livechat", "header": "Legacy", "ends": "2026-12-31", "api_version": "3.6"},
		entry.ContextMap())

	legacy.Store("2027-01-31")
	call()
	call()
	assert.Equal(t, 2, logs.FilterField(zap.String("header", "Legacy")).Len())

	deprecation.Store("2027-06-30")
	call()
	call()
	dep := logs.FilterField(zap.String("header", "Deprecation")).All()
	require.Len(t, dep, 1)
	assert.Contains(t, dep[0].Message, "deprecated")
	assert.Contains(t, dep[0].Message, "2027-06-30")

	// A second client warns again: the "once" is per client.
	c2 := newClient(t, url, testPAT, livechat.WithLogger(zap.New(core)))
	require.NoError(t, c2.DeactivateChat(t.Context(), "X", true))
	assert.Equal(t, 3, logs.FilterField(zap.String("header", "Legacy")).Len())
}

func TestLifecycleHeaderFromFake(t *testing.T) {
	srv, url := newFake(t, livechattest.WithResponseHeader("Legacy", "2026-12-31"))
	srv.AddChat(livechattest.UnassignedChat("C1", time.Now()))
	core, logs := observer.New(zapcore.WarnLevel)
	c := newClient(t, url, testPAT, livechat.WithLogger(zap.New(core)))
	for range 2 {
		_, err := c.GetChat(t.Context(), "C1", "")
		require.NoError(t, err)
	}
	assert.Equal(t, 1, logs.FilterField(zap.String("ends", "2026-12-31")).Len())
}

func TestMisdirectedRetry(t *testing.T) {
	props := livechat.Properties{"routing": {"pinned": false}}
	type step struct {
		wantRegions []string // X-Region of each call the step makes
		wantErr     error
	}
	tests := []struct {
		name       string
		server     []livechattest.Option
		auth       livechat.Auth
		arm        func(s *livechattest.Server)
		steps      []step
		wantRegion string
	}{
		{
			name:       "dal token on an EU license switches to fra and remembers it",
			server:     []livechattest.Option{livechattest.WithRegion("fra")},
			auth:       testPAT,
			steps:      []step{{wantRegions: []string{"", "fra"}}, {wantRegions: []string{"fra"}}},
			wantRegion: "fra",
		},
		{
			name:       "fra token on a US license switches to dal",
			server:     []livechattest.Option{livechattest.WithRegion("dal")},
			auth:       livechat.Bearer("fra:tok"),
			steps:      []step{{wantRegions: []string{"fra", "dal"}}, {wantRegions: []string{"dal"}}},
			wantRegion: "dal",
		},
		{
			name: "retries once only",
			auth: testPAT,
			arm: func(s *livechattest.Server) {
				s.FailNext("update_chat_properties", 2, livechattest.Misdirected("fra"))
			},
			steps:      []step{{wantRegions: []string{"", "fra"}, wantErr: livechat.ErrMisdirected}, {wantRegions: []string{"fra"}}},
			wantRegion: "fra",
		},
		{
			name: "no region in data: no retry",
			auth: testPAT,
			arm: func(s *livechattest.Server) {
				s.FailNext("", 1, livechattest.Failure{Status: 421, Type: livechat.TypeMisdirectedRequest, Message: "Wrong region"})
			},
			steps: []step{{wantRegions: []string{""}, wantErr: livechat.ErrMisdirected}, {wantRegions: []string{""}}},
		},
		{
			name: "same region as sent: no retry",
			auth: livechat.Bearer("fra:tok"),
			arm: func(s *livechattest.Server) {
				s.FailNext("", 1, livechattest.Misdirected("fra"))
			},
			steps:      []step{{wantRegions: []string{"fra"}, wantErr: livechat.ErrMisdirected}},
			wantRegion: "fra",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := newFake(t, tt.server...)
			srv.AddChat(livechattest.UnassignedChat("C1", time.Now()))
			if tt.arm != nil {
				tt.arm(srv)
			}
			c := newClient(t, url, tt.auth)
			for i, st := range tt.steps {
				srv.ResetCalls()
				err := c.UpdateChatProperties(t.Context(), "C1", props)
				if st.wantErr != nil {
					require.ErrorIs(t, err, st.wantErr, "step %d", i)
					assert.False(t, livechat.IsRetryable(err))
				} else {
					require.NoError(t, err, "step %d", i)
				}
				var regions []string
				for _, call := range srv.Calls() {
					regions = append(regions, call.Header.Get("X-Region"))
				}
				assert.Equal(t, st.wantRegions, regions, "step %d", i)
			}
			assert.Equal(t, tt.wantRegion, c.Region())
		})
	}
}

func TestMisdirectedRetryResendsBody(t *testing.T) {
	srv, url := newFake(t, livechattest.WithRegion("fra"))
	srv.AddChat(livechattest.UnassignedChat("C1", time.Now()))
	c := newClient(t, url, testPAT)
	require.NoError(t, c.UpdateChatProperties(t.Context(), "C1", livechat.Properties{"acme": {"k": "v"}}))
	calls := srv.CallsTo("update_chat_properties")
	require.Len(t, calls, 2)
	assert.JSONEq(t, string(calls[0].Body), string(calls[1].Body))
	assert.Equal(t, []int{421, 200}, []int{calls[0].Status, calls[1].Status})
	chat, ok := srv.Chat("C1")
	require.True(t, ok)
	assert.Equal(t, "v", chat.Properties["acme"]["k"])
}

// Timeouts, deadlines and refused connections: the apiclienttest suite
// (contract_test.go). What is LiveChat's own: the transport error names the
// call, and a canceled call releases the fake.
func TestTransportErrors(t *testing.T) {
	t.Run("connection refused names the call", func(t *testing.T) {
		deadURL, stop := livechattest.New().Start()
		stop()
		err := newClient(t, deadURL, testPAT).DeactivateChat(t.Context(), "X", true)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "livechat: deactivate_chat chat X: ")
	})
	t.Run("caller cancel is not retryable and releases the fake", func(t *testing.T) {
		srv, url := newFake(t)
		srv.FailNext("get_chat", 1, livechattest.Hang(time.Minute))
		c := newClient(t, url, testPAT)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := c.GetChat(ctx, "X", "")
			errc <- err
		}()
		require.Eventually(t, func() bool { return len(srv.CallsTo("get_chat")) == 1 }, 5*time.Second, time.Millisecond)
		cancel()
		err := <-errc
		require.ErrorIs(t, err, context.Canceled)
		assert.False(t, livechat.IsRetryable(err))
		require.Eventually(t, func() bool {
			return srv.CallsTo("get_chat")[0].Status == livechattest.StatusAborted
		}, 5*time.Second, time.Millisecond)
	})
}

func TestErrorsNameTheCall(t *testing.T) {
	srv, url := newFake(t)
	c := newClient(t, url, testPAT)
	err := c.UpdateChatProperties(t.Context(), "NOPE", livechat.Properties{"routing": {"pinned": false}})
	require.ErrorIs(t, err, livechat.ErrNotFound)
	assert.Equal(t, "livechat: update_chat_properties chat NOPE: HTTP 404 not_found: Chat not found: NOPE", err.Error())
	apiErr, ok := errors.AsType[*livechat.APIError](err)
	require.True(t, ok)
	assert.Equal(t, "update_chat_properties", apiErr.Action)
	assert.Equal(t, "livechat API update_chat_properties: HTTP 404 not_found: Chat not found: NOPE", apiErr.Error())
	assert.Len(t, srv.Calls(), 1)
}
