// Package event defines the normalized envelope that every producer (webhook
// receivers, the backlog sweep) stores in JetStream and every consumer reads.
//
// An Event never carries secrets: receivers remove `secret_key`, signatures and
// tokens before building one.
package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/s2"
	"github.com/tidwall/gjson"

	"github.com/chatwarden/chatwarden/internal/view"
)

// Platforms known to chatwarden. Event.Platform holds one of them.
const (
	LiveChat   = "livechat"
	HelpCrunch = "helpcrunch"
	RocketChat = "rocketchat"
)

// Sources of events.
const (
	SourceWebhook = "webhook"
	SourceSweep   = "sweep"
	SourceRecheck = "recheck" // a delayed rule's re-check, scheduled by the rules engine
	SourceReplay  = "replay"
)

// SubjectPrefix is the first token of every event subject.
const SubjectPrefix = "chatwarden.events"

// Event is one webhook delivery (or one synthetic sweep event), normalized.
//
// ID is derived from the content (see ID) and doubles as the JetStream
// Nats-Msg-Id, so sender retries of the same delivery collapse into one stored
// message within the stream's duplicate window.
type Event struct {
	ID         string    `json:"id"`
	Platform   string    `json:"platform"`
	Action     string    `json:"action"`
	Tenant     string    `json:"tenant,omitempty"` // LiveChat organization_id (license_id before v3.4)
	ChatID     string    `json:"chat_id,omitempty"`
	ThreadID   string    `json:"thread_id,omitempty"`
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"received_at"`
	// WebhookID names the sender's webhook registration (LiveChat webhook_id);
	// it is kept for routing and debugging, never used for deduplication.
	WebhookID string `json:"webhook_id,omitempty"`
	// Payload is the platform's action-specific payload, unchanged.
	Payload json.RawMessage `json:"payload"`
	// AdditionalData is LiveChat's additional_data (chat_properties,
	// chat_presence_user_ids) when the registration asked for it.
	AdditionalData json.RawMessage `json:"additional_data,omitempty"`
	// Recheck is set on the re-check of a delayed rule (Source
	// SourceRecheck): only that rule runs, against fresh state.
	Recheck *Recheck `json:"recheck,omitempty"`
}

// Recheck names the delayed rule to evaluate again and the event that
// matched it.
type Recheck struct {
	Rule     string    `json:"rule"`
	OriginID string    `json:"origin_id"` // the event that matched first
	DueAt    time.Time `json:"due_at"`
}

// ContentID derives a stable identifier from the parts of a delivery that
// identify it: the same delivery re-sent by the platform yields the same id,
// a different delivery a different one. parts are hashed with separators so
// that ("ab","c") and ("a","bc") differ.
func ContentID(parts ...[]byte) string {
	h := sha256.New()
	var n [24]byte
	for _, p := range parts {
		h.Write(append(strconv.AppendInt(n[:0], int64(len(p)), 10), ':'))
		h.Write(p)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// Partition maps a chat to one of n partitions (0..n-1). Events without a chat
// go to partition 0. The mapping is stable across processes and versions:
// FNV-1a of the platform and chat id.
func Partition(platform, chatID string, n int) int {
	if n <= 1 || chatID == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(platform))
	h.Write([]byte{0})
	h.Write([]byte(chatID))
	return int(h.Sum32() % uint32(n))
}

// Subject is the JetStream subject of the event:
//
//	chatwarden.events.<platform>.<action>.<partition>
//
// so operators can filter by platform and action with the nats CLI
// (`chatwarden.events.livechat.chat_deactivated.>`) and workers by partition
// (`chatwarden.events.*.*.3`). Platform and action go through Token and
// ActionToken, so the subject is valid and bounded (at most
// 18+2*MaxTokenLen+2+digits bytes) whatever the event holds.
func (e *Event) Subject(partitions int) string {
	return fmt.Sprintf("%s.%s.%s.%d", SubjectPrefix, Token(e.Platform), ActionToken(e.Action),
		Partition(e.Platform, e.ChatID, partitions))
}

// Key identifies the chat an event belongs to, for per-chat ordering.
// Events without a chat share the key of their platform.
func (e *Event) Key() string { return e.Platform + "/" + e.ChatID }

// Marshal encodes the event for storage, as encoding/json would, but
// splices Payload and AdditionalData in byte for byte instead of validating
// and compacting them again: they must be valid JSON (receivers take them
// from a validated body). This is the receiver's hot path.
func (e *Event) Marshal() ([]byte, error) {
	return e.appendJSON(make([]byte, 0, 320+len(e.Payload)+len(e.AdditionalData)))
}

// appendJSON appends the JSON of Marshal to b.
func (e *Event) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"platform":`...)
	b = appendString(b, e.Platform)
	b = append(b, `,"action":`...)
	b = appendString(b, e.Action)
	b = appendOptional(b, `,"tenant":`, e.Tenant)
	b = appendOptional(b, `,"chat_id":`, e.ChatID)
	b = appendOptional(b, `,"thread_id":`, e.ThreadID)
	b = append(b, `,"source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"received_at":"`...)
	b = e.ReceivedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendOptional(b, `,"webhook_id":`, e.WebhookID)
	b = append(b, `,"payload":`...)
	if len(e.Payload) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Payload...)
	}
	if len(e.AdditionalData) > 0 {
		b = append(b, `,"additional_data":`...)
		b = append(b, e.AdditionalData...)
	}
	if e.Recheck != nil {
		r, err := json.Marshal(e.Recheck)
		if err != nil {
			return nil, fmt.Errorf("encoding event %s: %w", e.ID, err)
		}
		b = append(b, `,"recheck":`...)
		b = append(b, r...)
	}
	return append(b, '}'), nil
}

func appendOptional(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(b, key...), v)
}

// appendString appends v as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as with encoding/json.
func appendString(b []byte, v string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, v[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// Stored form. Events whose JSON is at least compressThreshold bytes are
// stored S2-compressed (github.com/klauspost/compress/s2, block format)
// behind the byte compressedMark, which no JSON text starts with; smaller
// ones are stored as JSON. Webhook payloads compress about threefold, and
// JetStream keeps recently written and read blocks in memory for some
// seconds, so this divides the broker's memory under load (and its disk
// writes) by as much.
const (
	compressedMark    = 0xC5
	compressThreshold = 512
)

// jsonScratch holds AppendEncoded's intermediate JSON, so that a caller that
// reuses its buffer allocates nothing per event.
type jsonScratch struct{ b []byte }

var jsonScratches = sync.Pool{New: func() any { return new(jsonScratch) }}

// maxPooledScratch bounds the buffers kept for reuse: an occasional huge
// event does not pin its buffers.
const maxPooledScratch = 64 << 10

// Encode returns the stored form of e (see Marshal and compressedMark), in
// a newly allocated slice sized to it.
func (e *Event) Encode() ([]byte, error) {
	b, err := e.AppendEncoded(nil)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// AppendEncoded appends the stored form of e (see Encode) to dst and
// returns the extended buffer; dst's spare capacity is used, so a caller
// that keeps its buffers (the bus pools them across publishes) allocates
// nothing for the event.
func (e *Event) AppendEncoded(dst []byte) ([]byte, error) {
	sc := jsonScratches.Get().(*jsonScratch)
	defer func() {
		if cap(sc.b) <= maxPooledScratch {
			jsonScratches.Put(sc)
		}
	}()
	b, err := e.appendJSON(sc.b[:0])
	sc.b = b
	if err != nil {
		return dst, err
	}
	if len(b) < compressThreshold {
		return append(dst, b...), nil
	}
	maxLen := s2.MaxEncodedLen(len(b))
	if maxLen < 0 {
		return dst, fmt.Errorf("event %s: %d bytes of JSON are too many to compress", e.ID, len(b))
	}
	start := len(dst)
	dst = slices.Grow(dst, 1+maxLen)
	dst = append(dst, compressedMark)
	n := len(s2.Encode(dst[start+1:cap(dst)], b))
	return dst[:start+1+n], nil
}

// MaxDecodedLen bounds the size of a compressed stored event once
// decompressed (64 MiB, far above any webhook body): a stored message that
// claims more is not decoded, so no message can make a worker allocate
// without bound.
const MaxDecodedLen = 64 << 20

// JSON returns the JSON of a stored event, decompressing it if needed (at
// most MaxDecodedLen bytes).
func JSON(stored []byte) ([]byte, error) {
	if len(stored) == 0 || stored[0] != compressedMark {
		return stored, nil
	}
	if n, err := s2.DecodedLen(stored[1:]); err != nil || n > MaxDecodedLen {
		return nil, fmt.Errorf("decoding stored event: compressed event of %d bytes would decode to more than %d (%v)", len(stored), MaxDecodedLen, err)
	}
	b, err := s2.Decode(nil, stored[1:])
	if err != nil {
		return nil, fmt.Errorf("decoding stored event: decompressing: %w", err)
	}
	return b, nil
}

// Unmarshal decodes a stored event (JSON or compressed). Payload and
// AdditionalData refer to a copy, not to stored.
func Unmarshal(stored []byte) (*Event, error) {
	data, err := JSON(stored)
	if err != nil {
		return nil, err
	}
	if !gjson.ValidBytes(data) {
		return nil, fmt.Errorf("decoding stored event: not valid JSON")
	}
	if len(data) > 0 && &data[0] == &stored[0] {
		data = bytes.Clone(data) // the event must not alias the message
	}
	// The event's strings and Payload are views of data, which is ours
	// (decompressed or cloned) and never modified.
	root := gjson.Parse(view.String(data))
	if !root.IsObject() {
		return nil, fmt.Errorf("decoding stored event: not a JSON object")
	}
	var e Event
	var derr error
	root.ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "id":
			e.ID = v.String()
		case "platform":
			e.Platform = v.String()
		case "action":
			e.Action = v.String()
		case "tenant":
			e.Tenant = v.String()
		case "chat_id":
			e.ChatID = v.String()
		case "thread_id":
			e.ThreadID = v.String()
		case "source":
			e.Source = v.String()
		case "webhook_id":
			e.WebhookID = v.String()
		case "received_at":
			if e.ReceivedAt, derr = time.Parse(time.RFC3339Nano, v.String()); derr != nil {
				derr = fmt.Errorf("received_at: %w", derr)
				return false
			}
		case "payload":
			if v.Type != gjson.Null {
				e.Payload = rawSlice(data, v)
			}
		case "additional_data":
			if v.Type != gjson.Null {
				e.AdditionalData = rawSlice(data, v)
			}
		case "recheck":
			if v.Type != gjson.Null {
				e.Recheck = &Recheck{}
				if derr = json.Unmarshal([]byte(v.Raw), e.Recheck); derr != nil {
					derr = fmt.Errorf("recheck: %w", derr)
					return false
				}
			}
		}
		return true
	})
	if derr != nil {
		return nil, fmt.Errorf("decoding stored event: %w", derr)
	}
	if e.Platform == "" || e.Action == "" {
		return nil, fmt.Errorf("decoding stored event: missing platform or action")
	}
	return &e, nil
}

// rawSlice is v's raw JSON as a slice of data (gjson gives its offset).
func rawSlice(data []byte, v gjson.Result) json.RawMessage {
	if v.Index > 0 && v.Index+len(v.Raw) <= len(data) {
		return json.RawMessage(data[v.Index : v.Index+len(v.Raw) : v.Index+len(v.Raw)])
	}
	return json.RawMessage(v.Raw)
}
