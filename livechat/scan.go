package livechat

import (
	"bytes"
	"encoding/json"
)

// A scan validates a webhook body and finds the values ParseWebhook reads
// in one pass over its bytes: the envelope's members and, inside payload,
// where each action keeps its chat and thread ids. Validity is
// encoding/json's (json.Valid), and so is the nesting limit; of duplicate
// keys the last wins at every level, as when encoding/json decodes into a
// map: a member's value replaces what an earlier member of the same name
// held, its nested values included.

// Fields a scan records, indexes of scan.spans.
const (
	fSecret = iota
	fAction
	fOrg
	fLicense
	fWebhookID
	fPayload
	fAdditional
	fChatID         // payload.chat_id
	fThreadID       // payload.thread_id
	fID             // payload.id (chat_access_updated)
	fChat           // payload.chat (incoming_chat)
	fChatChatID     // payload.chat.id
	fChatThread     // payload.chat.thread
	fChatThreadID   // payload.chat.thread.id
	fActive         // payload.active_chat (customer_session_fields_updated)
	fActiveChatID   // payload.active_chat.chat_id
	fActiveThreadID // payload.active_chat.thread_id
	nFields
)

// node is a position of interest: the value recorded there and the members
// of interest if it is an object.
type node struct {
	field   int
	members map[string]*node
	// within are the fields recorded inside this value, cleared when a
	// later member of the same name replaces it.
	within []int
}

var envelope = func() *node {
	leaf := func(f int) *node { return &node{field: f} }
	chatThread := &node{field: fChatThread, members: map[string]*node{"id": leaf(fChatThreadID)}, within: []int{fChatThreadID}}
	chat := &node{field: fChat, members: map[string]*node{"id": leaf(fChatChatID), "thread": chatThread},
		within: []int{fChatChatID, fChatThread, fChatThreadID}}
	active := &node{field: fActive, members: map[string]*node{"chat_id": leaf(fActiveChatID), "thread_id": leaf(fActiveThreadID)},
		within: []int{fActiveChatID, fActiveThreadID}}
	payload := &node{field: fPayload, members: map[string]*node{
		"chat_id": leaf(fChatID), "thread_id": leaf(fThreadID), "id": leaf(fID), "chat": chat, "active_chat": active,
	}, within: []int{fChatID, fThreadID, fID, fChat, fChatChatID, fChatThread, fChatThreadID, fActive, fActiveChatID, fActiveThreadID}}
	return &node{field: -1, members: map[string]*node{
		"secret_key": leaf(fSecret), "action": leaf(fAction), "organization_id": leaf(fOrg), "license_id": leaf(fLicense),
		"webhook_id": leaf(fWebhookID), "payload": payload, "additional_data": leaf(fAdditional),
	}}
}()

// valueSpan is a value's bytes, body[start:end]; end 0: absent.
type valueSpan struct{ start, end int }

type scan struct {
	b     []byte
	i     int
	depth int
	spans [nFields]valueSpan
}

// run validates body and records the fields in s (which may live on the
// caller's stack); it is false when body is not valid JSON (or nests deeper
// than maxDepth).
func (s *scan) run(body []byte) bool {
	*s = scan{b: body}
	s.space()
	if !s.value(envelope) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

// raw is field f's value, a view of the body; nil when absent.
func (s *scan) raw(f int) []byte {
	sp := s.spans[f]
	if sp.end == 0 {
		return nil
	}
	return s.b[sp.start:sp.end:sp.end]
}

func (s *scan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value at s.i, recording it (and what is inside it) where
// n says; n nil: nothing of interest in it.
func (s *scan) value(n *node) bool {
	if s.i >= len(s.b) {
		return false
	}
	start := s.i
	var ok bool
	switch c := s.b[s.i]; {
	case c == '{':
		ok = s.object(n)
	case c == '[':
		ok = s.array()
	case c == '"':
		ok = s.str()
	case c == '-' || c >= '0' && c <= '9':
		ok = s.number()
	case c == 't':
		ok = s.literal("true")
	case c == 'f':
		ok = s.literal("false")
	case c == 'n':
		ok = s.literal("null")
	}
	if ok && n != nil && n.field >= 0 {
		s.spans[n.field] = valueSpan{start, s.i}
	}
	return ok
}

func (s *scan) enter() bool {
	s.depth++
	return s.depth <= maxDepth
}

func (s *scan) object(n *node) bool {
	if !s.enter() {
		return false
	}
	if n != nil {
		for _, f := range n.within { // this value replaces an earlier one of the same name
			s.spans[f] = valueSpan{}
		}
	}
	s.i++ // {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		keyStart := s.i
		if s.i >= len(s.b) || s.b[s.i] != '"' || !s.str() {
			return false
		}
		var member *node
		if n != nil && n.members != nil {
			if k := s.b[keyStart+1 : s.i-1]; bytes.IndexByte(k, '\\') < 0 {
				member = n.members[string(k)] // no allocation for this conversion
			} else {
				member = n.members[unescapeKey(k)]
			}
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		if member != nil && s.i < len(s.b) && s.b[s.i] != '{' {
			for _, f := range member.within { // replaced by a value that is no object
				s.spans[f] = valueSpan{}
			}
		}
		if !s.value(member) {
			return false
		}
		if more, ok := s.sep('}'); !more {
			return ok
		}
	}
}

func (s *scan) array() bool {
	if !s.enter() {
		return false
	}
	s.i++ // [
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !s.value(nil) {
			return false
		}
		if more, ok := s.sep(']'); !more {
			return ok
		}
	}
}

// sep reads what follows a member or an element: a comma (more follow) or
// the closing bracket (the end of the object or array); ok is false for
// anything else.
func (s *scan) sep(closing byte) (more, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.space()
		return true, true
	case closing:
		s.i++
		s.depth--
		return false, true
	}
	return false, false
}

// str scans a string at s.i (its opening quote).
func (s *scan) str() bool {
	s.i++
	for s.i < len(s.b) {
		// The common case: a run of plain bytes.
		j := s.i
		for j < len(s.b) && plain[s.b[j]] {
			j++
		}
		s.i = j
		if j >= len(s.b) {
			return false
		}
		switch c := s.b[j]; {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		default: // backslash
			if j+1 >= len(s.b) {
				return false
			}
			switch s.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i = j + 2
			case 'u':
				if j+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[j+2 : j+6] {
					if !isHex(h) {
						return false
					}
				}
				s.i = j + 6
			default:
				return false
			}
		}
	}
	return false
}

// plain are the bytes a string holds as they are: not a quote, a backslash
// or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *scan) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scan) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return false
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scan) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// unescapeKey is the text of an object key with escapes, decoded as
// encoding/json decodes it.
func unescapeKey(raw []byte) string {
	var k string
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	if json.Unmarshal(quoted, &k) != nil {
		return ""
	}
	return k
}
