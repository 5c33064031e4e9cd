package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
)

const adminToken = "adm1n-t0ken"

var adminNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// fakeDeadLetters records the calls of the admin routes and answers with
// err when set.
type fakeDeadLetters struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeDeadLetters) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeDeadLetters) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeDeadLetters) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeDeadLetters) List(_ context.Context, fl dlq.Filter) ([]dlq.DeadLetter, error) {
	return nil, f.record("list reason=%s since=%s", fl.Reason, fl.Since.Format(time.RFC3339))
}

func (f *fakeDeadLetters) Get(_ context.Context, ref string) (*dlq.Detail, error) {
	if err := f.record("get %s", ref); err != nil {
		return nil, err
	}
	return &dlq.Detail{DeadLetter: dlq.DeadLetter{Seq: 7}}, nil
}

func (f *fakeDeadLetters) Retry(_ context.Context, ref string, dryRun bool) (dlq.Result, error) {
	return dlq.Result{Seq: 7}, f.record("retry %s dry_run=%t", ref, dryRun)
}

func (f *fakeDeadLetters) RetryAll(_ context.Context, fl dlq.Filter, dryRun bool) (*dlq.Report, error) {
	if err := f.record("retry-all reason=%s dry_run=%t", fl.Reason, dryRun); err != nil {
		return nil, err
	}
	return &dlq.Report{DryRun: dryRun, Results: []dlq.Result{}}, nil
}

func (f *fakeDeadLetters) Purge(_ context.Context, ref string, dryRun bool) (dlq.Result, error) {
	return dlq.Result{Seq: 7}, f.record("purge %s dry_run=%t", ref, dryRun)
}

func (f *fakeDeadLetters) PurgeOlderThan(_ context.Context, age time.Duration, dryRun bool) (*dlq.Report, error) {
	if err := f.record("purge-older %s dry_run=%t", age, dryRun); err != nil {
		return nil, err
	}
	return &dlq.Report{DryRun: dryRun, Results: []dlq.Result{}}, nil
}

func newAdminServer(t *testing.T, token string, dl DeadLetters) *httptest.Server {
	t.Helper()
	e := NewAdmin(Deps{
		Logger: zaptest.NewLogger(t), Metrics: metrics.New(),
		Ready:      readyFunc(func(context.Context) error { return nil }),
		AdminToken: token, DeadLetters: dl,
		Now: func() time.Time { return adminNow },
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// call sends an admin request with the bearer token auth ("" for none) and
// returns the status and the decoded JSON body.
func call(t *testing.T, srv *httptest.Server, method, path, auth string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(body, &v), "JSON answer: %s", body)
	return resp.StatusCode, v, resp.Header
}

func TestAdminAuthentication(t *testing.T) {
	tests := []struct {
		name       string
		configured string // admin.token
		auth       string // Authorization header
		wantStatus int
		wantError  string
	}{
		{"no token sent", adminToken, "", http.StatusUnauthorized, "bearer token"},
		{"wrong token", adminToken, "Bearer nope", http.StatusUnauthorized, "bearer token"},
		{"token that is a prefix", adminToken, "Bearer " + adminToken[:4], http.StatusUnauthorized, "bearer token"},
		{"wrong scheme", adminToken, "Basic " + adminToken, http.StatusUnauthorized, "bearer token"},
		{"right token", adminToken, "Bearer " + adminToken, http.StatusOK, ""},
		{"scheme is case-insensitive", adminToken, "bearer " + adminToken, http.StatusOK, ""},
		{"admin API disabled", "", "Bearer anything", http.StatusForbidden, "set admin.token"},
		{"admin API disabled, no token sent", "", "", http.StatusForbidden, "set admin.token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeDeadLetters{}
			srv := newAdminServer(t, tt.configured, fake)
			for _, r := range []struct{ method, path string }{
				{http.MethodGet, "/admin/dlq"},
				{http.MethodGet, "/admin/dlq/7"},
				{http.MethodPost, "/admin/dlq/7/retry"},
				{http.MethodPost, "/admin/dlq/retry"},
				{http.MethodDelete, "/admin/dlq/7"},
				{http.MethodDelete, "/admin/dlq?older_than=24h"},
			} {
				status, body, hdr := call(t, srv, r.method, r.path, tt.auth)
				assert.Equal(t, tt.wantStatus, status, "%s %s: %v", r.method, r.path, body)
				if tt.wantError != "" {
					assert.Contains(t, body["error"], tt.wantError, "%s %s", r.method, r.path)
				}
				if tt.wantStatus == http.StatusUnauthorized {
					assert.Contains(t, hdr.Get("WWW-Authenticate"), "Bearer")
				}
			}
			if tt.wantStatus != http.StatusOK {
				assert.Empty(t, fake.all(), "refused requests reach no operation")
			}
		})
	}
}

func TestAdminUnknownPathNeedsTheTokenToo(t *testing.T) {
	srv := newAdminServer(t, adminToken, &fakeDeadLetters{})
	status, _, _ := call(t, srv, http.MethodGet, "/admin/nothing", "")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _, _ = call(t, srv, http.MethodGet, "/admin/nothing", "Bearer "+adminToken)
	assert.Equal(t, http.StatusNotFound, status)
}

func TestAdminDeadLetterRoutes(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		err        error // what the operation fails with
		wantStatus int
		wantCall   string
		wantError  string
	}{
		{"list", http.MethodGet, "/admin/dlq", nil, 200, "list reason= since=0001-01-01T00:00:00Z", ""},
		{"list filtered", http.MethodGet, "/admin/dlq?reason=permanent&since=24h", nil, 200,
			"list reason=permanent since=2026-11-21T10:00:00Z", ""},
		{"list with a bad reason", http.MethodGet, "/admin/dlq?reason=bogus", nil, 400, "", "attempts_exhausted"},
		{"list with a bad since", http.MethodGet, "/admin/dlq?since=yesterday", nil, 400, "", "since"},
		{"show", http.MethodGet, "/admin/dlq/7", nil, 200, "get 7", ""},
		{"show by event id", http.MethodGet, "/admin/dlq/3f2a", nil, 200, "get 3f2a", ""},
		{"show unknown", http.MethodGet, "/admin/dlq/42", fmt.Errorf("%w 42", dlq.ErrNotFound), 404, "get 42", "no dead letter 42; see GET /admin/dlq"},
		{"show ambiguous", http.MethodGet, "/admin/dlq/3f2a", dlq.ErrAmbiguous, 409, "get 3f2a", "ambiguous"},
		{"retry", http.MethodPost, "/admin/dlq/7/retry", nil, 200, "retry 7 dry_run=false", ""},
		{"retry, dry run", http.MethodPost, "/admin/dlq/7/retry?dry_run=true", nil, 200, "retry 7 dry_run=true", ""},
		{"retry, bad dry_run", http.MethodPost, "/admin/dlq/7/retry?dry_run=maybe", nil, 400, "", "dry_run"},
		{"retry not retryable", http.MethodPost, "/admin/dlq/7/retry", dlq.ErrNotRetryable, 409, "retry 7 dry_run=false", "cannot be retried"},
		{"retry fails", http.MethodPost, "/admin/dlq/7/retry", fmt.Errorf("republishing: broker down"), 500, "retry 7 dry_run=false", "broker down"},
		{"retry all", http.MethodPost, "/admin/dlq/retry?reason=attempts_exhausted", nil, 200, "retry-all reason=attempts_exhausted dry_run=false", ""},
		{"retry all, dry run", http.MethodPost, "/admin/dlq/retry?dry_run=true", nil, 200, "retry-all reason= dry_run=true", ""},
		{"purge", http.MethodDelete, "/admin/dlq/7", nil, 200, "purge 7 dry_run=false", ""},
		{"purge older", http.MethodDelete, "/admin/dlq?older_than=24h", nil, 200, "purge-older 24h0m0s dry_run=false", ""},
		{"purge older in days, dry run", http.MethodDelete, "/admin/dlq?older_than=7d&dry_run=1", nil, 200, "purge-older 168h0m0s dry_run=true", ""},
		{"purge all refused", http.MethodDelete, "/admin/dlq", nil, 400, "", "older_than is required"},
		{"purge older, bad duration", http.MethodDelete, "/admin/dlq?older_than=soon", nil, 400, "", "duration"},
		{"no stream", http.MethodGet, "/admin/dlq", dlq.ErrNoStream, 503, "list reason= since=0001-01-01T00:00:00Z", "CHATWARDEN_DLQ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeDeadLetters{err: tt.err}
			srv := newAdminServer(t, adminToken, fake)
			status, body, _ := call(t, srv, tt.method, tt.path, "Bearer "+adminToken)
			assert.Equal(t, tt.wantStatus, status, "%v", body)
			assert.Equal(t, tt.wantCall, fake.last())
			if tt.wantError != "" {
				assert.Contains(t, body["error"], tt.wantError)
			}
		})
	}
}

func TestAdminWithoutDeadLettersHasNoDLQRoutes(t *testing.T) {
	srv := newAdminServer(t, adminToken, nil)
	status, _, _ := call(t, srv, http.MethodGet, "/admin/dlq", "Bearer "+adminToken)
	assert.Equal(t, http.StatusNotFound, status)
}

// TestAdminOverRealDeadLetters runs the routes over a dlq.Store on an
// embedded NATS server.
func TestAdminOverRealDeadLetters(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, config.NATS{DataDir: t.TempDir(), Listen: "off"}, bus.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 16, DuplicateWindow: time.Minute, Retention: time.Hour}))
	st, err := dlq.New(b.JS)
	require.NoError(t, err)
	srv := newAdminServer(t, adminToken, st)
	auth := "Bearer " + adminToken

	var evIDs []string
	for i, chat := range []string{"C1", "C2"} {
		ev := &event.Event{ID: event.ContentID([]byte(chat)), Platform: event.LiveChat, Action: "chat_deactivated",
			ChatID: chat, Source: event.SourceWebhook, ReceivedAt: time.Now().UTC(), Payload: []byte(`{}`)}
		data, err := ev.Marshal()
		require.NoError(t, err)
		require.NoError(t, consumer.JetStreamDeadLetters{JS: b.JS}.DeadLetter(ctx, &consumer.DeadLetter{
			ID: ev.ID, Platform: ev.Platform, Action: ev.Action, ChatID: chat, Event: data, Subject: ev.Subject(16),
			StreamSeq: uint64(i + 1), Reason: consumer.ReasonPermanent, Cause: "validation", Error: "wrong type",
			Attempts: 1, FailedAt: time.Now().UTC(),
		}))
		evIDs = append(evIDs, ev.ID)
	}

	status, body, _ := call(t, srv, http.MethodGet, "/admin/dlq?reason=permanent", auth)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 2.0, body["count"])
	first := body["dead_letters"].([]any)[0].(map[string]any)
	assert.Equal(t, 1.0, first["seq"])
	assert.Equal(t, evIDs[0], first["id"])
	assert.Equal(t, "permanent", first["reason"])

	status, body, _ = call(t, srv, http.MethodGet, "/admin/dlq/"+evIDs[1], auth)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 2.0, body["seq"])
	assert.NotNil(t, body["failed_attempts"])

	status, body, _ = call(t, srv, http.MethodPost, "/admin/dlq/retry?dry_run=true", auth)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 2.0, body["done"])
	assert.Equal(t, true, body["dry_run"])

	status, body, _ = call(t, srv, http.MethodPost, "/admin/dlq/1/retry", auth)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, dlq.Retried, body["outcome"])
	assert.Equal(t, dlq.RetryMsgID(evIDs[0], 1), body["msg_id"])

	status, body, _ = call(t, srv, http.MethodGet, "/admin/dlq/1", auth)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, body["error"], "no dead letter 1")

	status, body, _ = call(t, srv, http.MethodDelete, "/admin/dlq/2", auth)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, dlq.Purged, body["outcome"])

	status, body, _ = call(t, srv, http.MethodGet, "/admin/dlq", auth)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0.0, body["count"])
	assert.Equal(t, []any{}, body["dead_letters"], "an empty list, not null")

	status, body, _ = call(t, srv, http.MethodDelete, "/admin/dlq?older_than=1h", auth)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0.0, body["done"])
}
