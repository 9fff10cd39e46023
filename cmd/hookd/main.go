// Command hookd receives webhooks from email providers, keeps every event in a
// durable log, and runs rules over them. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/send"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful stop; a second one ends the
	// process at once, as if hookd did not handle signals.
	go func() {
		<-ctx.Done()
		stop()
	}()
	cmd, err := newRootCmd().ExecuteContextC(ctx)
	if err == nil {
		return
	}
	if cobraUsage(err.Error()) && !strings.HasPrefix(err.Error(), where(cmd)) {
		// Cobra's checks of flag groups and required flags do not say
		// which command they are about, as every other error does.
		err = fmt.Errorf("%s%w", where(cmd), err)
	}
	fmt.Fprintln(os.Stderr, "hookd:", err)
	code := exitCode(err)
	if code == exitUsage {
		fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	os.Exit(code)
}

// Exit codes: 0 when the command did what it was asked, exitUsage when it
// was asked wrongly, exitFailure when it failed.
const (
	exitFailure = 1
	exitUsage   = 2
)

// exitCode returns the exit code for a command's error.
func exitCode(err error) int {
	var (
		u  usageError
		ue *send.URLError
	)
	if errors.As(err, &u) || errors.As(err, &ue) || cobraUsage(err.Error()) || badFlag(err) {
		return exitUsage
	}
	return exitFailure
}

// badFlag tells whether err, or one of the errors it joins, is a problem
// the configuration found in the value of a flag (--listen, --admin-listen,
// --data, --config given empty), which names the flag, not the file: the
// command line is then to be fixed, as for any malformed flag value.
func badFlag(err error) bool {
	var ce *config.Error
	if errors.As(err, &ce) && strings.HasPrefix(ce.Field, "--") {
		return true
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		return slices.ContainsFunc(joined.Unwrap(), badFlag)
	}
	return false
}

// cobraUsage tells the usage errors cobra returns without a type of their
// own: an unknown command, a required flag missing, and flags marked as a
// group (one of them required, or not together).
func cobraUsage(msg string) bool {
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "required flag(s) ") ||
		strings.Contains(msg, "flags in the group [")
}

// usageError is a mistake in how a command was called, as opposed to a
// failure of what it was asked to do: an unknown flag, a missing or
// malformed argument or flag value, flags that do not go together.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// usagef returns a usageError of fmt.Errorf(format, a...).
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }
