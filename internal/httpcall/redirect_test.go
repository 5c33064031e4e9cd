package httpcall_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/httpcall"
	"github.com/chatwarden/chatwarden/internal/httpcall/httpcalltest"
)

func TestSameOriginRedirectsRefusesOtherHosts(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			from, target := httpcalltest.CrossHostRedirect(t, status)
			hc := httpcall.SameOriginRedirects(&http.Client{})
			req, err := http.NewRequest(http.MethodPost, from+"/api/x?token=secret", strings.NewReader(`{"a":1}`))
			require.NoError(t, err)
			req.Header.Set("X-Auth-Token", "secret")
			resp, err := hc.Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, httpcall.ErrCrossHostRedirect)
			var re *httpcall.RedirectError
			require.True(t, errors.As(err, &re))
			assert.Equal(t, from, re.From)
			assert.Equal(t, target.URL+"/api/x", re.To, "the target, without its query")
			assert.Contains(t, err.Error(), target.URL)
			assert.Empty(t, target.Requests(), "the other host never sees the request")
		})
	}
}

func TestSameOriginRedirectsFollowsTheSameOrigin(t *testing.T) {
	var hops atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			http.Redirect(w, r, "/b", http.StatusFound) // relative: same origin
		case "/b":
			http.Redirect(w, r, srv.URL+"/c", http.StatusTemporaryRedirect)
		case "/loop":
			hops.Add(1)
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			assert.Equal(t, "secret", r.Header.Get("X-Auth-Token"), "same-origin redirects keep the credentials")
			_, _ = io.WriteString(w, "ok")
		}
	}))
	t.Cleanup(srv.Close)

	get := func(hc *http.Client, path string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("X-Auth-Token", "secret")
		return hc.Do(req)
	}

	t.Run("followed", func(t *testing.T) {
		resp, err := get(httpcall.SameOriginRedirects(nil), "/a")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "ok", string(body))
		assert.Equal(t, "/c", resp.Request.URL.Path)
	})
	t.Run("at most 10", func(t *testing.T) {
		_, err := get(httpcall.SameOriginRedirects(nil), "/loop")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "stopped after 10 redirects")
		assert.EqualValues(t, 10, hops.Load(), "the first request and 9 redirects, as http.Client does")
	})
	t.Run("the given CheckRedirect still applies", func(t *testing.T) {
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := get(httpcall.SameOriginRedirects(hc), "/a")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusFound, resp.StatusCode)
	})
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		same           bool
	}{
		{"identical", "https://api.example.com/a", "https://api.example.com/b", true},
		{"default port written out", "https://api.example.com/a", "https://API.example.com:443/b", true},
		{"http default port", "http://h/a", "http://h:80/b", true},
		{"other port", "http://h:8080/a", "http://h:8081/a", false},
		{"https to http", "https://h/a", "http://h/a", false},
		{"http to https", "http://h/a", "https://h/a", false},
		{"other host", "https://api.example.com/a", "https://evil.example.com/a", false},
		{"subdomain", "https://example.com/a", "https://api.example.com/a", false},
		{"userinfo does not change the origin", "https://h/a", "https://user@h/a", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, err := url.Parse(tc.from)
			require.NoError(t, err)
			to, err := url.Parse(tc.to)
			require.NoError(t, err)
			assert.Equal(t, tc.same, httpcall.SameOrigin(from, to))
		})
	}
}
