package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testdata/events.json is the real `go test -json ./... 2>&1` of a module
// with three packages: a (passes; TestSkipsHelper skips with "helper process
// only"; TestTable/runs passes and TestTable/skips skips with "no browser:
// install chromium"), b (TestFails fails with "want 1, got 2", TestPasses
// passes) and c (does not build).
const eventsFile = "testdata/events.json"

func TestSummary(t *testing.T) {
	events, err := os.ReadFile(eventsFile)
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	allowBoth := write("both", "# comment\n\nexample.com/sample/a TestSkipsHelper a helper process, started by another test\n"+
		"example.com/sample/a TestTable/skips   needs a browser\n")
	allowOne := write("one", "example.com/sample/a TestSkipsHelper a helper process\n")
	noReason := write("noreason", "example.com/sample/a TestSkipsHelper\n")

	for _, tc := range []struct {
		name     string
		args     []string
		input    string
		code     int
		want     []string // in this order
		dontWant []string
		stderr   string
	}{
		{
			name:  "every skip listed with its reason, closing counts last",
			input: string(events),
			code:  1, // b failed, c did not build
			want: []string{
				"c/c_test.go:5:39: undefined: undefined",
				"b_test.go:5: want 1, got 2", "--- FAIL: TestFails",
				"ok  \texample.com/sample/a",
				"FAIL\texample.com/sample/b",
				"FAIL\texample.com/sample/c [build failed]",
				"--- skipped tests (2):",
				"SKIP example.com/sample/a TestSkipsHelper: a_test.go:7: helper process only",
				"SKIP example.com/sample/a TestTable/skips: a_test.go:11: no browser: install chromium",
				"FAIL package example.com/sample/c (build failed)",
				"2 skipped (0 not allowed)\n",
				"4 passed, 2 failed\n",
			},
			dontWant: []string{"chatty but passing", "=== RUN   TestPasses", "\nPASS\n", "\"Action\""},
		},
		{
			name:  "allowed skips say why",
			args:  []string{"-allowed", allowBoth},
			input: onlyPackage(string(events), "example.com/sample/a"),
			code:  0,
			want: []string{
				"SKIP (allowed: a helper process, started by another test) example.com/sample/a TestSkipsHelper",
				"SKIP (allowed: needs a browser) example.com/sample/a TestTable/skips",
				"2 skipped (0 not allowed)\n",
				"3 passed, 0 failed\n",
			},
			dontWant: []string{"NOT ALLOWED", "FAIL"},
		},
		{
			name:  "a skip not in the file fails and is named",
			args:  []string{"-allowed", allowOne},
			input: onlyPackage(string(events), "example.com/sample/a"),
			code:  1,
			want: []string{
				"SKIP (NOT ALLOWED) example.com/sample/a TestTable/skips: a_test.go:11: no browser: install chromium",
				"FAIL: 1 tests skipped that must run",
				"example.com/sample/a.TestTable/skips",
				"2 skipped (1 not allowed)\n",
				"3 passed, 0 failed\n",
			},
		},
		{
			name:   "an allowed skip needs a reason",
			args:   []string{"-allowed", noReason},
			input:  string(events),
			code:   2,
			stderr: "line 1: want `<import path> <test name> <reason>`",
		},
		{
			name: "a package that dies without a failed test counts as a failure and shows the dying test's output",
			input: `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestHangs"}
{"Action":"output","Package":"p","Test":"TestHangs","Output":"=== RUN   TestHangs\n"}
{"Action":"output","Package":"p","Test":"TestHangs","Output":"panic: test timed out after 10m0s\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t600.1s\n"}
{"Action":"fail","Package":"p","Elapsed":600.1}
not json: go's own complaint
`,
			code: 1,
			want: []string{
				"panic: test timed out after 10m0s", "FAIL\tp\t600.1s",
				"not json: go's own complaint",
				"FAIL package p (no test failed: a panic, a timeout or TestMain)",
				"0 passed, 1 failed\n",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(tc.input), &stdout, &stderr)
			out := stdout.String()
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, stderr.String())
			assert.Contains(t, stderr.String(), tc.stderr)
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if !assert.GreaterOrEqual(t, i, 0, "%q missing or out of order in:\n%s", w, out) {
					continue
				}
				rest = rest[i+len(w):]
			}
			if len(tc.want) > 0 {
				assert.Empty(t, rest, "the closing counts are the last line:\n%s", out)
			}
			for _, w := range tc.dontWant {
				assert.NotContains(t, out, w)
			}
		})
	}
}

// onlyPackage keeps the events of one package.
func onlyPackage(events, pkg string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(events, "\n") {
		if strings.Contains(l, `"Package":"`+pkg+`"`) {
			b.WriteString(l)
		}
	}
	return b.String()
}
