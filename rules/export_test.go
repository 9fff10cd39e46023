package rules

import "time"

// SetFailureClock makes en's log of rule failures read the time from now.
func SetFailureClock(en *Engine, now func() time.Time) { en.failures.now = now }
