// Package textdist measures how far apart two words are, for the "did you
// mean" hints of the configuration and rule file checks.
package textdist

import (
	"iter"
	"strings"
)

// Levenshtein is the edit distance of a and b, in bytes: how many single-byte
// insertions, deletions and substitutions turn a into b.
func Levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Closest returns the candidate nearest to word, or "" when none is close:
// at most a third of word's letters may differ. Words are compared after
// lowering case and dropping '_', '-', '.' and spaces, so "webhook-secrets"
// is "webhook_secrets". Ties go to the candidate that sorts first.
func Closest(word string, candidates iter.Seq[string]) string {
	norm := func(s string) string { return strings.ToLower(separators.Replace(s)) }
	w := norm(word)
	best, bestDist := "", max(1, len(w)/3)+1
	for c := range candidates {
		d := Levenshtein(w, norm(c))
		if d < bestDist || d == bestDist && c < best {
			best, bestDist = c, d
		}
	}
	return best
}

var separators = strings.NewReplacer("_", "", "-", "", ".", "", " ", "")
