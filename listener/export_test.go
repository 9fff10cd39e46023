package listener

// Queued returns how many requests wait in l's group commit queue, behind
// the commit in progress.
func Queued(l *Listener) int { return len(l.commit.in) }

// Serving returns how many hook requests l is serving, each in one of its
// MaxConcurrent slots.
func Serving(l *Listener) int { return len(l.slots) }
