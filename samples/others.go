package samples

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// HelpCrunch and Rocket.Chat fixtures, one JSON file per event type, written
// from the documented shapes (HelpCrunch webhook docs; Rocket.Chat's
// sendToCRM.ts and offlineMessage.ts).
//
//go:embed testdata/helpcrunch/*.json testdata/rocketchat/*.json
var otherFiles embed.FS

// Placeholders in the HelpCrunch fixtures. Chat events carry the chat id as
// eventData.id, message events as eventData.chat_id; customer events carry
// none. Every fixture has the event id HelpCrunchEventID.
const (
	HelpCrunchChatID     = "7700123"
	HelpCrunchEventID    = "3f6c0a52-7d2e-4b8a-9c1d-5e4f3a2b1c0d"
	HelpCrunchSigningKey = "test-signing-key"
)

// Placeholders in the Rocket.Chat fixtures: the room id (also in every
// message's rid) and the visitor's token (which receivers must not store).
// RocketChatWebhookToken is the token tests send in X-RocketChat-Livechat-Token.
const (
	RocketChatRoomID       = "8ceKgWvo5qT5TrCRN"
	RocketChatVisitorToken = "iNKE8a6k6cjbqWhWd"
	RocketChatWebhookToken = "test-webhook-token"
)

func names(dir string) []string {
	entries, _ := otherFiles.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

// HelpCrunchEvents lists the HelpCrunch events that have a fixture
// ("chat.new", "message.private", "customer.deleted", ...).
func HelpCrunchEvents() []string { return names("testdata/helpcrunch") }

// HelpCrunchRaw returns the fixture of event as stored.
func HelpCrunchRaw(event string) ([]byte, error) {
	b, err := otherFiles.ReadFile(path.Join("testdata/helpcrunch", event+".json"))
	if err != nil {
		return nil, fmt.Errorf("no HelpCrunch sample for event %q: %w", event, err)
	}
	return b, nil
}

// HelpCrunchSentAt is the envelope's createdAt and lastAttemptAt in every
// HelpCrunch fixture (unix seconds).
const HelpCrunchSentAt = 1765450800

// HelpCrunch returns the fixture of event with the chat id (digits, as
// HelpCrunch ids are numbers) and the event id replaced, and its createdAt
// and lastAttemptAt set to now: receivers refuse deliveries older than
// helpcrunch.max_age. It panics when there is no fixture for event.
func HelpCrunch(event, chatID, eventID string) []byte {
	now := time.Now()
	return HelpCrunchAt(event, chatID, eventID, now, now)
}

// HelpCrunchAt is HelpCrunch with the envelope's createdAt and lastAttemptAt
// set to the given times (zero: the field is removed).
func HelpCrunchAt(event, chatID, eventID string, createdAt, lastAttemptAt time.Time) []byte {
	b, err := HelpCrunchRaw(event)
	if err != nil {
		panic(err)
	}
	b = bytes.ReplaceAll(b, []byte(HelpCrunchChatID), []byte(chatID))
	b = bytes.ReplaceAll(b, []byte(HelpCrunchEventID), []byte(eventID))
	for _, f := range []struct {
		name string
		at   time.Time
	}{{"createdAt", createdAt}, {"lastAttemptAt", lastAttemptAt}} {
		member := fmt.Sprintf("%q: %d", f.name, HelpCrunchSentAt)
		if !bytes.Contains(b, []byte(member)) {
			panic(fmt.Sprintf("HelpCrunch fixture %s has no %s", event, member))
		}
		if f.at.IsZero() {
			b = bytes.Replace(b, []byte(",\n  "+member), nil, 1)
			continue
		}
		b = bytes.Replace(b, []byte(member), fmt.Appendf(nil, "%q: %d", f.name, f.at.Unix()), 1)
	}
	return b
}

// HelpCrunchSignature is the X-HelpCrunch-Signature of body: hex HMAC-SHA1
// keyed with key.
func HelpCrunchSignature(body []byte, key string) string {
	m := hmac.New(sha1.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// HelpCrunchSigned returns HelpCrunch(event, chatID, eventID) and its
// signature with key.
func HelpCrunchSigned(event, key, chatID, eventID string) (body []byte, signature string) {
	body = HelpCrunch(event, chatID, eventID)
	return body, HelpCrunchSignature(body, key)
}

// RocketChatTypes lists the Rocket.Chat webhook types that have a fixture
// ("LivechatSession", "Message", ...).
func RocketChatTypes() []string { return names("testdata/rocketchat") }

// RocketChatRaw returns the fixture of typ as stored.
func RocketChatRaw(typ string) ([]byte, error) {
	b, err := otherFiles.ReadFile(path.Join("testdata/rocketchat", typ+".json"))
	if err != nil {
		return nil, fmt.Errorf("no Rocket.Chat sample for type %q: %w", typ, err)
	}
	return b, nil
}

// RocketChat returns the fixture of typ with the room id replaced. It panics
// when there is no fixture for typ.
func RocketChat(typ, roomID string) []byte {
	b, err := RocketChatRaw(typ)
	if err != nil {
		panic(err)
	}
	return bytes.ReplaceAll(b, []byte(RocketChatRoomID), []byte(roomID))
}
