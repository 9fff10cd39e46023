package store

import "testing"

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"none", `SELECT 1`, `SELECT 1`},
		{"numbered in order", `SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) LIMIT $4`},
		{"string literal", `UPDATE t SET a = '?', b = ? WHERE c = 'it''s?'`, `UPDATE t SET a = '?', b = $1 WHERE c = 'it''s?'`},
		{"quoted identifier", `SELECT "a?" FROM t WHERE x = ?`, `SELECT "a?" FROM t WHERE x = $1`},
		{"comment", "-- why?\nSELECT ? -- and this?\n, ?", "-- why?\nSELECT $1 -- and this?\n, $2"},
		{"unterminated literal", `SELECT '?`, `SELECT '?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rebind(tc.in); got != tc.want {
				t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
