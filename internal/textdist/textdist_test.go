package textdist

import "testing"

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
