package fakeapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type call struct {
	Endpoint string
	Header   http.Header
	Status   int
}

var shape = Shape[call]{
	Endpoint: func(c *call) string { return c.Endpoint },
	Status:   func(c *call) *int { return &c.Status },
	Clone: func(c call) call {
		c.Header = c.Header.Clone()
		return c
	},
}

func TestFailNextOrderAndCounts(t *testing.T) {
	type arm struct {
		endpoint string
		n        int
		f        string
	}
	tests := []struct {
		name  string
		arms  []arm
		calls []string
		want  []string // failure taken by each call, "" for none
	}{
		{"none armed", nil, []string{"a", "b"}, []string{"", ""}},
		{"n calls then served", []arm{{"a", 2, "x"}}, []string{"a", "a", "a"}, []string{"x", "x", ""}},
		{"other endpoint untouched", []arm{{"a", 1, "x"}}, []string{"b", "a", "a"}, []string{"", "x", ""}},
		{"empty endpoint matches all", []arm{{"", 2, "x"}}, []string{"a", "b", "c"}, []string{"x", "x", ""}},
		{"first armed first taken", []arm{{"a", 1, "x"}, {"a", 1, "y"}, {"", 1, "z"}}, []string{"a", "a", "b", "a"}, []string{"x", "y", "z", ""}},
		{"n zero arms nothing", []arm{{"a", 0, "x"}}, []string{"a"}, []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLog[call, string](shape)
			for _, a := range tc.arms {
				l.FailNext(a.endpoint, a.n, a.f)
			}
			var got []string
			for _, ep := range tc.calls {
				_, f, ok := l.Record(call{Endpoint: ep})
				assert.Equal(t, ok, f != "", "ok reports whether a failure was taken")
				got = append(got, f)
			}
			assert.Equal(t, tc.want, got)
			assert.Len(t, l.Calls(), len(tc.calls))
		})
	}
}

func TestFinishAfterResetLeavesNewCallsAlone(t *testing.T) {
	l := NewLog[call, string](shape)
	old, _, _ := l.Record(call{Endpoint: "a"})
	l.ResetCalls()
	fresh, _, _ := l.Record(call{Endpoint: "b"})
	l.Finish(old, 500) // the forgotten call had the same index
	require.Equal(t, 0, l.Calls()[0].Status)
	l.Finish(fresh, 200)
	require.Equal(t, 200, l.CallsTo("b")[0].Status)
	require.Empty(t, l.CallsTo("a"))

	l.FailNext("b", 1, "x")
	l.Reset()
	_, _, ok := l.Record(call{Endpoint: "b"})
	require.False(t, ok, "Reset forgets armed failures")
	require.Len(t, l.Calls(), 1)
}

func TestCallsAreCopies(t *testing.T) {
	l := NewLog[call, string](shape)
	l.Record(call{Endpoint: "a", Header: http.Header{"X": {"1"}}})
	l.Calls()[0].Header.Set("X", "changed")
	l.CallsTo("a")[0].Header.Set("X", "changed")
	assert.Equal(t, "1", l.Calls()[0].Header.Get("X"))
}

// server is a fake in miniature: it holds each call for the armed duration.
type server struct{ log *Log[call, time.Duration] }

func (s server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, hang, _ := s.log.Record(call{Endpoint: r.URL.Path, Header: Headers(r, "Authorization", "X-Absent")})
	if !s.log.Wait(r.Context(), hang) {
		s.log.Abort(t)
	}
	s.log.Answer(w, t, http.StatusTooManyRequests, http.Header{"X-Extra": {"1"}}, []byte(`{"e":1}`), 1500*time.Millisecond)
}

func TestServeAnswerAndAbort(t *testing.T) {
	l := NewLog[call, time.Duration](shape)
	url, stop := l.Start(server{l})
	defer stop()

	req, _ := http.NewRequest(http.MethodGet, url+"/ok", nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"), "rounded up to whole seconds")
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "1", resp.Header.Get("X-Extra"))
	assert.Equal(t, `{"e":1}`, string(body))
	got := l.CallsTo("/ok")[0]
	assert.Equal(t, http.StatusTooManyRequests, got.Status)
	assert.Equal(t, http.Header{"Authorization": {"Bearer t"}}, got.Header, "only headers sent are recorded")

	// A client giving up on a held call: recorded as aborted.
	l.FailNext("/hang", 1, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, url+"/hang", nil)
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err)
	require.Eventually(t, func() bool { return l.CallsTo("/hang")[0].Status == StatusAborted },
		5*time.Second, 10*time.Millisecond)
}

func TestStopReleasesHeldCalls(t *testing.T) {
	l := NewLog[call, time.Duration](shape)
	url, stop := l.Start(server{l})
	l.FailNext("", 1, time.Hour)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Post(url+"/held", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return len(l.Calls()) == 1 }, 5*time.Second, 10*time.Millisecond)
	stop()
	select {
	case err := <-done:
		require.Error(t, err, "the held call is dropped, not answered")
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not release the held call")
	}
	assert.Equal(t, StatusAborted, l.Calls()[0].Status)
}

func TestReadBodyReadsOneByteOverTheCap(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", MaxBody+10)))
	b, err := ReadBody(r)
	require.NoError(t, err)
	assert.Len(t, b, MaxBody+1)
}
