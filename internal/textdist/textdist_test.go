package textdist

import (
	"slices"
	"testing"
)

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "chat_deactivated", "chat_deactivated", 0},
		{"one deleted", "chat_deactivated", "chat_deactivatd", 1},
		{"one substituted", "partitions", "partitiona", 1},
		{"one inserted", "addr", "adddr", 1},
		{"from empty", "", "abc", 3},
		{"to empty", "abc", "", 3},
		{"transposition is two", "ab", "ba", 2},
		{"unrelated", "kitten", "sitting", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Levenshtein(tt.a, tt.b); got != tt.want {
				t.Errorf("Levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Levenshtein(tt.b, tt.a); got != tt.want {
				t.Errorf("Levenshtein(%q, %q) = %d, want %d (symmetric)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}

func TestClosest(t *testing.T) {
	actions := []string{"chat_deactivated", "incoming_chat", "chat_transferred", "incoming_event"}
	tests := []struct {
		name, word string
		candidates []string
		want       string
	}{
		{"one letter missing", "chat_deactivatd", actions, "chat_deactivated"},
		{"separators and case do not count", "Webhook-Secrets", []string{"webhook_secrets", "api_url"}, "webhook_secrets"},
		{"too far", "zendesk_ticket", actions, ""},
		{"ties go to the first in order", "ab", []string{"ad", "ac"}, "ac"},
		{"no candidates", "addr", nil, ""},
		{"exact", "incoming_chat", actions, "incoming_chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Closest(tt.word, slices.Values(tt.candidates)); got != tt.want {
				t.Errorf("Closest(%q) = %q, want %q", tt.word, got, tt.want)
			}
		})
	}
}
