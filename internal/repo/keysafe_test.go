package repo

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"
)

// TestKeySafeAgreesWithItsPattern: the hand-written check accepts exactly
// what the documented pattern does, on edge cases and random names.
func TestKeySafeAgreesWithItsPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	names := []string{"", "a", "Z", "0", ".", "_a", "-a", "a.", "a_b-c.d", "a b", "a/b", "é", "a\x00",
		strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("a", 129), "prod-db.eu_1"}
	alphabet := "aZ09._-/ é\x00"
	rnd := rand.New(rand.NewSource(1))
	for range 20000 {
		b := make([]byte, rnd.Intn(6))
		for i := range b {
			b[i] = alphabet[rnd.Intn(len(alphabet))]
		}
		names = append(names, string(b))
	}
	for _, n := range names {
		if got, want := KeySafe(n), pattern.MatchString(n); got != want {
			t.Errorf("KeySafe(%q) = %v, the pattern says %v", n, got, want)
		}
	}
}
