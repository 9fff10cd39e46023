//go:build !unix

package exec

import "os/exec"

// ownGroup leaves cmd as it is: without process groups, only the program
// itself is killed when its context ends.
func ownGroup(*exec.Cmd) {}
