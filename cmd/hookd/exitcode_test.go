package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes checks that a command called wrongly exits 2, one that
// fails exits 1, and one that did its work 0, so that a script can tell
// them apart.
func TestExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"version", []string{"version"}, 0},
		{"unknown command", []string{"bogus"}, exitUsage},
		{"unknown subcommand", []string{"deadletters", "bogus"}, exitUsage},
		{"help", []string{"help", "events"}, 0},
		{"help of a subcommand", []string{"help", "deadletters", "retry"}, 0},
		{"help of an unknown command", []string{"help", "bogus"}, exitUsage},
		{"help of an unknown subcommand", []string{"help", "deadletters", "bogus"}, exitUsage},
		{"unknown flag", []string{"events", "--bogus"}, exitUsage},
		{"flag without its value", []string{"events", "--limit"}, exitUsage},
		{"flag value of the wrong type", []string{"events", "--limit", "many"}, exitUsage},
		{"missing argument", []string{"explain"}, exitUsage},
		{"argument given empty", []string{"explain", "--data", missing, ""}, exitUsage},
		{"extra argument", []string{"check", "extra"}, exitUsage},
		{"flag value out of range", []string{"events", "--limit", "0"}, exitUsage},
		{"malformed time", []string{"events", "--since", "last tuesday"}, exitUsage},
		{"flags that do not go together", []string{"send", "--group-size", "5", "--generate", "1", "http://127.0.0.1:9/"}, exitUsage},
		{"required flag missing", []string{"test"}, exitUsage},
		{"bad log format", []string{"serve", "--log-format", "xml"}, exitUsage},
		{"one of a flag group required", []string{"send", "http://127.0.0.1:9/"}, exitUsage},
		{"flags of a group together", []string{"send", "--file", "x.json", "--generate", "1", "http://127.0.0.1:9/"}, exitUsage},
		{"malformed id", []string{"deadletters", "retry", "seven"}, exitUsage},
		// Left out, each of these would select more: every rule, every action.
		{"replay rule given empty", []string{"replay", "--data", missing, "--since", "1h", "--rule", ""}, exitUsage},
		{"replay until given empty", []string{"replay", "--data", missing, "--since", "1h", "--until", ""}, exitUsage},
		{"retry rule given empty", []string{"deadletters", "--data", missing, "retry", "--since", "2h", "--rule", ""}, exitUsage},
		{"retry action given empty", []string{"deadletters", "--data", missing, "retry", "--rule", "r", "--action", ""}, exitUsage},
		{"resume since given empty", []string{"deadletters", "--data", missing, "resume", "--action", "http", "--since", ""}, exitUsage},
		{"not an http URL", []string{"send", "--generate", "1", "ftp://127.0.0.1/"}, exitUsage},
		{"rate not a number", []string{"send", "--generate", "1", "--rate", "NaN", "http://127.0.0.1:9/"}, exitUsage},
		{"rate too low to pace", []string{"send", "--generate", "2", "--rate", "1e-12", "http://127.0.0.1:9/"}, exitUsage},
		{"until before since", []string{"backtest", "--data", missing, "--rules", "x.yaml", "--since", "2025-03-02", "--until", "2025-03-01"}, exitUsage},
		{"malformed address", []string{"suppressions", "remove", "--data", missing, "nobody"}, exitUsage},
		{"malformed listen address", []string{"check", "--listen", "abc"}, exitUsage},
		{"malformed admin port", []string{"serve", "--admin-listen", ":x", "--data", missing}, exitUsage},
		{"listen given empty", []string{"serve", "--listen", "", "--data", missing}, exitUsage},
		{"listeners on one port", []string{"check", "--listen", "127.0.0.1:8080", "--admin-listen", "127.0.0.1:8080"}, exitUsage},
		{"config file missing", []string{"check", "--config", missing}, exitFailure},
		{"data directory missing", []string{"events", "--data", missing}, exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runHookd(t, tc.args...)
			got := 0
			if err != nil {
				got = exitCode(err)
			}
			if got != tc.want {
				t.Errorf("hookd %s: exit code %d (%v), want %d", strings.Join(tc.args, " "), got, err, tc.want)
			}
			// main prints "hookd: " before the error.
			if err != nil && strings.HasPrefix(err.Error(), "hookd") {
				t.Errorf("hookd %s: error %q names hookd again", strings.Join(tc.args, " "), err)
			}
		})
	}
}

// TestUsageExit runs the built binary as a user's shell does: a usage
// error exits 2 and says where the usage is.
func TestUsageExit(t *testing.T) {
	for _, tc := range []struct {
		args []string
		hint string
	}{
		{[]string{"bogus"}, "Run 'hookd --help' for usage."},
		{[]string{"deadletters", "retry"}, "Run 'hookd deadletters retry --help' for usage."},
		{[]string{"send", "http://127.0.0.1:9/"}, "hookd: send: at least one of the flags in the group [file generate] is required\n"},
		{[]string{"send", "--file", "x.json", "--generate", "1", "http://127.0.0.1:9/"}, "hookd: send: if any flags in the group [file generate] are set"},
	} {
		out, err := exec.Command(hookdBinary(t), tc.args...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitUsage || !strings.Contains(string(out), tc.hint) {
			t.Errorf("hookd %s: %v, output:\n%s\nwant exit code %d and %q", strings.Join(tc.args, " "), err, out, exitUsage, tc.hint)
		}
	}
}
