package listener

// arrayLen returns the number of elements of body when body, after JSON
// white space, starts a JSON array, and -1 otherwise. It only scans, at
// about a nanosecond a byte and without allocating: it counts the values
// at the array's own level, skipping strings and nested values, and
// never says whether body is valid JSON, which the decoder decides. It
// lets a request with too many events be refused before they are decoded.
func arrayLen(body []byte) int {
	i := 0
	for i < len(body) && isSpace(body[i]) {
		i++
	}
	if i == len(body) || body[i] != '[' {
		return -1
	}
	n, depth, inValue := 0, 0, false
	for ; i < len(body); i++ {
		c := body[i]
		if depth == 1 && !inValue && !isSpace(c) && c != ',' && c != ']' {
			n++
			inValue = true
		}
		switch c {
		case '"':
			// Skip the string, escapes and all.
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return n
			}
		case ',':
			if depth == 1 {
				inValue = false
			}
		}
	}
	return n
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
