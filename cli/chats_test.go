package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/livechat/v2/v2test"
)

// chatsEnv starts a v2 fake with n chats (one an hour back from 2026-10-01
// 09:00 UTC, every third tagged "refund") and writes a configuration with
// credentials creds pointing at it.
func chatsEnv(t *testing.T, fake *v2test.Server, n int, creds string) string {
	t.Helper()
	start := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	for i := range n {
		c := v2test.Chat{ID: fmt.Sprintf("CH%03d", i), VisitorID: "V1", Visitor: "Mary, \"the\" visitor", Agent: "john@example.com",
			Group: 2, Text: "<b>hello</b>", Started: start.Add(-time.Duration(i) * time.Hour)}
		if i%3 == 0 {
			c.Tags = []string{"refund"}
		}
		fake.Add(c)
	}
	url, stop := fake.Start()
	t.Cleanup(stop)
	path := filepath.Join(t.TempDir(), "chatwarden.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf("livechat:\n  api_url: %s\n%s", url, creds)), 0o600))
	return path
}

func TestChatsListV2(t *testing.T) {
	fake := v2test.New("acc-1", "pat-1")
	cfg := chatsEnv(t, fake, 60, "  pat: {account_id: acc-1, token: pat-1}\n")

	stdout, stderr, code := runCLI(t, "chats", "list", "--api", "v2", "--config", cfg)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 61, "a header and every chat, over 3 pages")
	assert.Equal(t, []string{"id", "type", "started_at", "ended_at", "duration_seconds", "visitor_id", "visitor_name",
		"agents", "group", "rate", "tags", "goals", "messages"}, rows[0])
	assert.Equal(t, []string{"CH000", "chat", "2026-10-01T09:00:00Z", "2026-10-01T09:05:00Z", "300", "V1", `Mary, "the" visitor`,
		"john@example.com", "2", "not_rated", "refund", "", "1"}, rows[1])
	assert.Contains(t, stderr, "deprecated")
	assert.Contains(t, stderr, "listed 60 of 60 chats (3 pages of 25)")
	qs := fake.Queries()
	require.Len(t, qs, 3)
	assert.Equal(t, "1", qs[0].Get("page"))
	assert.Equal(t, "3", qs[2].Get("page"))
}

func TestChatsListV2FiltersAndFormats(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantQuery map[string][]string
		wantIDs   int
		json      bool
	}{
		{"filters as flags", []string{"--date-from", "2026-10-01", "--date-to", "2026-10-01", "--tag", "refund", "--tagged",
			"--has-goal=false", "--type", "chat", "--rate", "not_rated", "--agent", "john@example.com", "--group", "2",
			"--visitor-id", "V1", "--query", "hello", "--include-pending", "--timezone", "UTC", "--goal", "7", "--sale", "3",
			"--has-sale", "--queued=false", "--comment", "--city", "Kraków", "--region", "MA", "--country", "Poland"},
			map[string][]string{"date_from": {"2026-10-01"}, "date_to": {"2026-10-01"}, "tag[]": {"refund"}, "tagged": {"1"},
				"has_goal": {"0"}, "type": {"chat"}, "rate": {"not_rated"}, "agent": {"john@example.com"}, "group": {"2"},
				"visitor_id": {"V1"}, "query": {"hello"}, "include_pending": {"1"}, "timezone": {"UTC"}, "goal": {"7"},
				"sale": {"3"}, "has_sale": {"1"}, "queued": {"0"}, "comment": {"1"}, "city": {"Kraków"}, "region": {"MA"},
				"country": {"Poland"}, "page": {"1"}}, 4, false},
		{"unset booleans are not sent", []string{"--tag", "refund"}, map[string][]string{"tag[]": {"refund"}, "page": {"1"}}, 10, false},
		{"json", []string{"--format", "json", "--limit", "30"}, map[string][]string{"page": {"1"}}, 30, true},
		{"a page range", []string{"--page", "2", "--pages", "1"}, map[string][]string{"page": {"2"}}, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := v2test.New("", "dal:tok")
			cfg := chatsEnv(t, fake, 30, "  token: \"dal:tok\"\n")
			stdout, stderr, code := runCLI(t, append([]string{"chats", "list", "--api", "v2", "--config", cfg}, tt.args...)...)
			require.Equal(t, 0, code, "stderr: %s", stderr)
			q := fake.Queries()[0]
			for k, v := range tt.wantQuery {
				assert.Equal(t, v, q[k], k)
			}
			assert.Len(t, q, len(tt.wantQuery), "no other parameter: %v", q)
			if tt.json {
				var chats []map[string]any
				require.NoError(t, json.Unmarshal([]byte(stdout), &chats), stdout)
				assert.Len(t, chats, tt.wantIDs)
				assert.Equal(t, "CH000", chats[0]["id"])
				assert.Contains(t, stdout, "<b>hello</b>", "the chats as the API sent them, not HTML-escaped")
				return
			}
			rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
			require.NoError(t, err)
			assert.Len(t, rows, tt.wantIDs+1)
		})
	}
}

func TestChatsListV2Failures(t *testing.T) {
	tests := []struct {
		name       string
		creds      string
		args       []string
		fail       func(*v2test.Server)
		wantCode   int
		wantStderr string
		wantOut    string
	}{
		{"no --api", "  token: t\n", nil, nil, 2, "--api is required", ""},
		{"another api", "  token: t\n", []string{"--api", "v3.6"}, nil, 2, "only v2", ""},
		{"bad format", "  token: t\n", []string{"--api", "v2", "--format", "xml"}, nil, 2, "csv or json", ""},
		{"bad date", "  token: t\n", []string{"--api", "v2", "--date-from", "1/2/2026"}, nil, 2, "YYYY-MM-DD", ""},
		{"bad rate", "  token: t\n", []string{"--api", "v2", "--rate", "great"}, nil, 2, "rate", ""},
		{"email without a PAT", "  token: t\n", []string{"--api", "v2", "--email", "a@b.c"}, nil, 2, "--email goes with", ""},
		{"no credentials", "", []string{"--api", "v2"}, nil, 1, "no LiveChat credentials", ""},
		{"429 then success", "  token: t\n", []string{"--api", "v2"},
			func(s *v2test.Server) { s.FailNext(1, http.StatusTooManyRequests, `{"error":"Too many requests"}`, 1) }, 0, "listed 5 of 5", ""},
		{"5xx until giving up", "  token: t\n", []string{"--api", "v2", "--format", "json"},
			func(s *v2test.Server) { s.FailNext(10, http.StatusInternalServerError, `{"error":"boom"}`, 0) }, 1, "boom", "[]"},
		{"a PAT refused: try --email", "  pat: {account_id: acc-1, token: wrong}\n", []string{"--api", "v2"}, nil, 1, "try --email", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := v2test.New("", "t")
			if tt.fail != nil {
				tt.fail(fake)
			}
			cfg := chatsEnv(t, fake, 5, tt.creds)
			stdout, stderr, code := runCLI(t, append([]string{"chats", "list", "--config", cfg}, tt.args...)...)
			assert.Equal(t, tt.wantCode, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stderr, tt.wantStderr)
			assert.Contains(t, stdout, tt.wantOut)
		})
	}
}

func TestChatsListV2WithEmail(t *testing.T) {
	fake := v2test.New("john@example.com", "pat-1")
	cfg := chatsEnv(t, fake, 2, "  pat: {account_id: acc-1, token: pat-1}\n")
	_, stderr, code := runCLI(t, "chats", "list", "--api", "v2", "--config", cfg, "--email", "john@example.com")
	assert.Equal(t, 0, code, stderr)
}
