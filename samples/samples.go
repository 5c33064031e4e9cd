// Package samples holds realistic webhook bodies, one per action, used as
// golden fixtures by tests and as the sample traffic of `chatwarden demo`.
//
// Every LiveChat fixture uses secret "test-secret", chat "PJ0MRSHTDG" and
// thread "K600PKZON8"; LiveChat rewrites them.
package samples

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
)

//go:embed testdata/livechat/*.json
var files embed.FS

// Placeholders used in the fixtures.
const (
	Secret   = "test-secret"
	ChatID   = "PJ0MRSHTDG"
	ThreadID = "K600PKZON8"
)

// LiveChatActions lists the actions that have a fixture.
func LiveChatActions() []string {
	entries, _ := files.ReadDir("testdata/livechat")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

// LiveChatRaw returns the fixture of action as stored.
func LiveChatRaw(action string) ([]byte, error) {
	b, err := files.ReadFile(path.Join("testdata/livechat", action+".json"))
	if err != nil {
		return nil, fmt.Errorf("no LiveChat sample for action %q: %w", action, err)
	}
	return b, nil
}

// LiveChat returns the fixture of action with its secret_key, chat id and
// thread id replaced. It panics when there is no fixture for action, so that
// a typo in a test or the demo fails loudly.
func LiveChat(action, secret, chatID, threadID string) []byte {
	b, err := LiveChatRaw(action)
	if err != nil {
		panic(err)
	}
	b = bytes.ReplaceAll(b, []byte(`"`+Secret+`"`), []byte(fmt.Sprintf("%q", secret)))
	b = bytes.ReplaceAll(b, []byte(ChatID), []byte(chatID))
	return bytes.ReplaceAll(b, []byte(ThreadID), []byte(threadID))
}
