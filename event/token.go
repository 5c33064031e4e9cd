package event

import (
	"crypto/sha256"
	"encoding/hex"
)

// Subject tokens and key-value keys built from payload values.
//
// A value that is already safe (1 to MaxTokenLen bytes of ASCII letters,
// digits, '-' and '_') is its own token, so every subject stored so far,
// and every nats CLI filter written for it, keeps working. Anything else
// (empty, other bytes, longer) is encoded as a readable prefix, the marker
// TokenMarker and 32 hex digits of the SHA-256 of the whole value:
//
//	a.b             -> a_b=<hash of "a.b">
//	4,100 x "A"     -> AAA…A (31 bytes)=<hash>
//
// Safe values never contain the marker, so an encoded token never equals an
// unchanged one, and two encoded tokens differ whenever their values do
// (short of a 128-bit hash collision): distinct values give distinct
// tokens. Every token is at most MaxTokenLen bytes of [A-Za-z0-9_=-], valid
// both as one NATS subject token and as a JetStream key-value key.
const (
	// MaxTokenLen bounds the length of every token Token and ActionToken
	// return, and is the longest value kept unchanged.
	MaxTokenLen = 64
	// TokenMarker separates an encoded token's readable prefix from its
	// hash. Safe values never contain it.
	TokenMarker = '='

	tokenHashLen   = 32 // hex digits: 128 bits of SHA-256
	tokenPrefixLen = MaxTokenLen - 1 - tokenHashLen
)

// Token makes s safe, bounded and unambiguous as one NATS subject token or
// key-value key: s itself when it is 1 to MaxTokenLen bytes of ASCII
// letters, digits, '-' and '_'; otherwise a readable prefix of s (unsafe
// bytes shown as '_'), TokenMarker and a hash of s. Distinct values give
// distinct tokens.
func Token(s string) string {
	if safeToken(s) {
		return s
	}
	return encodeToken(s)
}

// ActionToken is Token for the action position of a subject (events,
// dead letters). The documented webhook actions whose names hold dots
// (HelpCrunch's chat.new, message.chat.agent, ...) keep the token they
// have always been stored under (chat_new, message_chat_agent), so the
// subjects of stored events and the operators' filters stay valid; the
// safe values equal to one of those tokens are encoded instead, so that
// distinct actions still give distinct tokens.
func ActionToken(action string) string {
	if t, ok := legacyActionTokens[action]; ok {
		return t
	}
	if reservedActionTokens[action] {
		return encodeToken(action)
	}
	return Token(action)
}

// legacyActionTokens maps the known webhook actions that are not safe
// tokens to their historical token ('.' shown as '_');
// reservedActionTokens holds those tokens.
var legacyActionTokens, reservedActionTokens = func() (map[string]string, map[string]bool) {
	legacy, reserved := map[string]string{}, map[string]bool{}
	for _, actions := range webhookActions {
		for a := range actions {
			if safeToken(a) {
				continue
			}
			b := []byte(a)
			for i, c := range b {
				if !tokenByte(c) {
					b[i] = '_'
				}
			}
			legacy[a], reserved[string(b)] = string(b), true
		}
	}
	return legacy, reserved
}()

func safeToken(s string) bool {
	if s == "" || len(s) > MaxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			return false
		}
	}
	return true
}

func encodeToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	n := min(len(s), tokenPrefixLen)
	b := make([]byte, 0, n+1+tokenHashLen)
	for i := 0; i < n; i++ {
		c := s[i]
		if !tokenByte(c) {
			c = '_'
		}
		b = append(b, c)
	}
	b = append(b, TokenMarker)
	return string(hex.AppendEncode(b, sum[:tokenHashLen/2]))
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
