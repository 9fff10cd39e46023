package dashboard

import "time"

// ThrottleLen returns how many clients t remembers.
func ThrottleLen(t *Throttle) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.order.Len()
}

// ClientOf is clientOf, for the tests of package dashboard_test.
var ClientOf = clientOf

// SetSessionRecheck sets how often a request authorized by a session
// looks it up again, until the test ends.
func SetSessionRecheck(t interface{ Cleanup(func()) }, d time.Duration) {
	old := sessionRecheck
	sessionRecheck = d
	t.Cleanup(func() { sessionRecheck = old })
}
