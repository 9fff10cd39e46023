//go:build !unix

package datalock

import "os"

// lock does nothing where flock is not available: hookd rebuild cannot
// tell that a server runs, and says so in its documentation.
func lock(*os.File) error { return nil }
