package dashboard

// ThrottleLen returns how many clients t remembers.
func ThrottleLen(t *Throttle) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.order.Len()
}

// ClientOf is clientOf, for the tests of package dashboard_test.
var ClientOf = clientOf
