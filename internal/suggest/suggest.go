// Package suggest finds the known name a misspelled one was meant to be,
// for errors that can say "did you mean".
package suggest

// Closest returns the name among known nearest to name, when it is at
// most two edits away (one for names of up to four letters) and nearer
// than every other; otherwise "". Letters compare as written: a case
// slip costs an edit, so "Email" finds "email".
func Closest(name string, known []string) string {
	limit := 2
	if len([]rune(name)) <= 4 {
		limit = 1
	}
	best, bestD, tie := "", limit+1, false
	for _, k := range known {
		if k == name {
			return ""
		}
		switch d := distance(name, k); {
		case d < bestD:
			best, bestD, tie = k, d, false
		case d == bestD:
			tie = true
		}
	}
	if best == "" || tie {
		return ""
	}
	return best
}

// distance is the optimal string alignment distance between a and b: the
// insertions, deletions, substitutions and swaps of two neighbours that
// turn one into the other, a swap being the commonest typo ("emial").
func distance(a, b string) int {
	r, s := []rune(a), []rune(b)
	d := make([][]int, len(r)+1)
	for i := range d {
		d[i] = make([]int, len(s)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(r); i++ {
		for j := 1; j <= len(s); j++ {
			cost := 1
			if r[i-1] == s[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && r[i-1] == s[j-2] && r[i-2] == s[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(r)][len(s)]
}
