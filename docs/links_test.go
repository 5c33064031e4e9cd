// Package docs holds the user documentation; its test keeps the links
// between the README, docs/ and the repository true.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxReadmeLines keeps the README one screen of orientation; the rest
// belongs in docs/.
const maxReadmeLines = 250

var (
	linkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE = regexp.MustCompile("(?m)^#{1,6} (.+)$")
	fenceRE   = regexp.MustCompile("(?ms)^```.*?^```")
)

// anchor is GitHub's heading anchor: lower case, punctuation other than
// '-' and '_' dropped, spaces as '-'.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	body, err := os.ReadFile(path)
	require.NoError(t, err)
	text := fenceRE.ReplaceAllString(string(body), "")
	set := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(text, -1) {
		set[anchor(m[1])] = true
	}
	return set
}

func TestLinksResolve(t *testing.T) {
	files, err := filepath.Glob("*.md")
	require.NoError(t, err)
	files = append(files, "../README.md", "../SECURITY.md")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			body, err := os.ReadFile(file)
			require.NoError(t, err)
			text := fenceRE.ReplaceAllString(string(body), "")
			for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, frag, _ := strings.Cut(target, "#")
				resolved := file
				if path != "" {
					resolved = filepath.Join(filepath.Dir(file), path)
					if _, err := os.Stat(resolved); err != nil {
						assert.Failf(t, "broken link", "%s links to %s: %v", file, target, err)
						continue
					}
				}
				if frag != "" && strings.HasSuffix(resolved, ".md") {
					assert.Truef(t, anchors(t, resolved)[frag], "%s links to %s: no heading with anchor #%s", file, target, frag)
				}
			}
		})
	}
}

func TestReadmeIsOneScreen(t *testing.T) {
	body, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	lines := strings.Count(string(body), "\n")
	assert.LessOrEqualf(t, lines, maxReadmeLines, "README.md has %d lines; move detail into docs/", lines)
}

func TestAnchor(t *testing.T) {
	for _, tc := range []struct{ name, heading, want string }{
		{"plain", "When actions fail", "when-actions-fail"},
		{"punctuation", "Guarantees, and what is not yet guaranteed", "guarantees-and-what-is-not-yet-guaranteed"},
		{"code", "Register them with `chatwarden webhooks`", "register-them-with-chatwarden-webhooks"},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, anchor(tc.heading)) })
	}
}
