//go:build !unix

package exec

import "os/exec"

// ownGroup leaves cmd as it is: without process groups, only the program
// itself is killed when its context ends, and it outlives a hookd that
// dies mid-attempt.
func ownGroup(*exec.Cmd) {}

// killGroup does nothing: without process groups, the program's children
// are out of reach.
func killGroup(*exec.Cmd) error { return nil }

// run starts cmd and waits for it.
func run(cmd *exec.Cmd) (start, wait error) {
	if err := cmd.Start(); err != nil {
		return err, nil
	}
	return nil, cmd.Wait()
}
