// Package exec is the "exec" action: it runs a program with arguments
// rendered from the event, directly and never through a shell, with the
// event's JSON on its standard input. Import it for its side effect; it
// registers itself with the actions package.
//
// Parameters:
//
//	command  required; the program, written literally (a template is
//	         refused): an absolute path, or a bare name looked up in PATH
//	         when the job runs. A relative path such as ./notify is refused,
//	         since hookd's working directory is no place to rely on.
//	args     a list of arguments, each a template over the event. Each is
//	         passed as one argument as rendered: spaces, quotes and $ mean
//	         nothing, as no shell reads them. One rendered from the
//	         event may start with -: write "--" before such arguments
//	         when the program takes options (rules warn otherwise).
//	timeout  how long the program may run, default 30s.
//	env      a mapping of environment variables (values may be templates)
//	         added to the base environment below.
//
// An argument or variable the kernel would refuse on every attempt, one
// that holds a NUL byte or is longer than MaxArg bytes (NAME=value for a
// variable), or arguments and variables longer than MaxArgs bytes
// together, fails the rule on the event it was rendered for, as a
// template error does (actions.Checker): no job is made, which would be
// dead-lettered and suspend the target "exec COMMAND" that the jobs of
// every other event share.
//
// The program does not inherit hookd's environment, which holds the
// secrets the configuration expands (${VAR}): only PATH, HOME, USER,
// LOGNAME, TZ, TMPDIR, LANG and the LC_* variables pass, as hookd has
// them. A program that needs another passes it through env, e.g.
// env: { AWS_PROFILE: "${AWS_PROFILE}" }.
//
// The program also finds in its environment HOOKD_IDEMPOTENCY_KEY (the
// job's key, the same on every attempt: use it to make the effect happen
// once), HOOKD_ATTEMPT (1 on the first attempt), HOOKD_RULE and
// HOOKD_EVENT_ID; the key and the event's id are percent-escaped should
// they hold a control character (a sender's id with a NUL in it), as the
// http action's Idempotency-Key is. It runs in hookd's working directory.
//
// Exit status 0 is success. Exit status 65 (EX_DATAERR) refuses the event:
// the job is dead-lettered at once and its target runs on
// (actions.Refused). Any other exit, or death by a signal, is
// retried by the job's policy, with the end of the program's output
// (standard output and standard error together) in the error, each value
// of env of four bytes or more in it blanked: a script under set -x, or
// curl -v, prints the token it was given, and the error is shown where
// env is redacted (the API, the dashboard, the log). A program
// that is missing or cannot be executed is a permanent failure: it
// dead-letters the job at once and suspends the target; parameters that
// do not parse dead-letter the job alone (actions.Refused). When the timeout passes or the job is
// cancelled, the program's whole process group is killed, so children it
// started die with it (a child that moved to a session or group of its own
// is out of reach); so is what is left of the group after the program
// failed, so that the children of a failed attempt do not run beside the
// retry's. A background child that outlives a program which exited 0 is
// left running. hookd waits at most a second after the program ended for
// children that hold its output, then stops reading it: the error of a
// failed attempt ends with what the program and its children wrote until
// then.
//
// On Linux, when hookd itself dies mid-attempt (kill -9, a crash), the
// kernel kills the program too (SIGKILL, its parent-death signal), so that
// the attempt the restarted hookd makes never runs beside an orphaned one.
// That signal reaches the program only: children it started (the commands
// of sh -c, say) run on to their end, though the program that waits for
// them is gone. A program whose children must die with it runs its last
// command with exec, or gives its children a parent-death signal of their
// own (setpriv --pdeathsig KILL). Elsewhere the program outlives hookd.
//
// The job's target is "exec COMMAND", as the rule writes it. Where hookd
// shows a job's parameters (the API, the dashboard, hookd test), the
// values of env read "[redacted]": the environment is where a program is
// given a token.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/internal/param"
)

// Name is the name the action is registered under.
const Name = "exec"

// DefaultTimeout is how long a program may run when the rule gives no
// timeout.
const DefaultTimeout = 30 * time.Second

// outputLen bounds how much of a failed program's output its error keeps:
// the end, where the reason usually is.
const outputLen = 2 << 10

// waitDelay is how long, after the program exited or was killed, hookd
// waits for children that inherited its output to close it.
const waitDelay = time.Second

func init() {
	actions.Register(Name, kind{})
}

// Interface guards.
var (
	_ actions.Kind      = kind{}
	_ actions.Redacter  = kind{}
	_ actions.Checker   = kind{}
	_ actions.Arguments = kind{}
	_ actions.Action    = action{}
)

// MaxArg is the length of the longest argument, or NAME=value of env, that
// a program is given: one less than Linux's MAX_ARG_STRLEN (32 pages of 4
// KiB, the string's terminating NUL included). execve refuses a longer one
// with E2BIG, which no retry changes.
const MaxArg = 32<<12 - 1

// MaxArgs bounds the arguments and env together, in bytes: Linux gives
// them, hookd's own variables and the program's path a quarter of the
// stack limit, 2 MiB by default.
const MaxArgs = 1 << 20

// reserved are the environment variables hookd sets.
var reserved = []string{"HOOKD_IDEMPOTENCY_KEY", "HOOKD_ATTEMPT", "HOOKD_RULE", "HOOKD_EVENT_ID"}

// passed are the variables of hookd's environment a program gets: what
// finding programs and files, the user and the locale take, and none of
// the secrets a configuration's ${VAR} reads.
var passed = []string{"PATH", "HOME", "USER", "LOGNAME", "TZ", "TMPDIR", "LANG"}

// baseEnv returns the variables of passed, and LC_*, that hookd has.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(passed, k) || strings.HasPrefix(k, "LC_") {
			env = append(env, kv)
		}
	}
	return env
}

// params are an exec action's parameters, read and checked.
type params struct {
	command string
	args    []string
	timeout time.Duration
	env     map[string]string
}

func parse(ps map[string]any) (*params, error) {
	if err := param.Known(ps, "command", "args", "timeout", "env"); err != nil {
		return nil, err
	}
	var p params
	var ok bool
	var err error
	p.command, ok, err = param.Literal(ps, "command", "the program is fixed in the rule")
	if err != nil {
		return nil, err
	}
	switch {
	case !ok || p.command == "":
		return nil, param.Errorf("command", "required")
	case !filepath.IsAbs(p.command) && strings.ContainsRune(p.command, filepath.Separator):
		return nil, param.Errorf("command", "want an absolute path or a name to look up in PATH, not a relative path")
	}
	if p.args, err = param.Texts(ps, "args"); err != nil {
		return nil, err
	}
	total := 0
	for i, a := range p.args {
		switch {
		case strings.IndexByte(a, 0) >= 0:
			return nil, param.Errorf(fmt.Sprintf("args[%d]", i), "holds a NUL byte")
		case len(a) > MaxArg:
			return nil, param.Errorf(fmt.Sprintf("args[%d]", i), "%d bytes long, more than a program can be given (%d)", len(a), MaxArg)
		}
		total += len(a) + 1
	}
	if p.timeout, err = param.Duration(ps, "timeout", DefaultTimeout); err != nil {
		return nil, err
	}
	if p.env, err = param.TextMap(ps, "env"); err != nil {
		return nil, err
	}
	for name, v := range p.env {
		switch {
		case name == "" || strings.ContainsAny(name, "=\x00"):
			return nil, param.Errorf("env."+name, "not a valid variable name")
		case slices.Contains(reserved, name):
			return nil, param.Errorf("env."+name, "set by hookd")
		case strings.IndexByte(v, 0) >= 0:
			return nil, param.Errorf("env."+name, "holds a NUL byte")
		case len(name)+1+len(v) > MaxArg:
			return nil, param.Errorf("env."+name, "%d bytes long, more than a program can be given (%d)", len(name)+1+len(v), MaxArg)
		}
		total += len(name) + 1 + len(v) + 1
	}
	if total > MaxArgs {
		return nil, param.Errorf("args", "args and env are %d bytes together, more than a program is given (%d)", total, MaxArgs)
	}
	return &p, nil
}

// kind is the registered Kind.
type kind struct{}

// Validate checks the parameters as a rule writes them. It does not look
// for the program: `hookd check` may run where the program is not
// installed.
func (kind) Validate(ps map[string]any) error {
	_, err := parse(ps)
	return err
}

// Check checks the parameters as rendered for an event as Validate checks
// them as written: an argument or a variable rendered from the event's
// data may hold a NUL byte or be too long for any attempt to run.
func (k kind) Check(ps map[string]any, _ string) error { return k.Validate(ps) }

// Arguments names args, the program's arguments: rules warn of one
// rendered from the event before any "--". It names none when the command
// is a shell given -c SCRIPT first: the arguments after the script are
// its positional parameters ($0, $1 ...), which the shell never reads as
// options, the way to hand a script the event's values safely.
func (kind) Arguments(ps map[string]any) string {
	cmd, _ := ps["command"].(string)
	args, _ := ps["args"].([]any)
	if shells[filepath.Base(cmd)] && len(args) > 0 && args[0] == "-c" {
		return ""
	}
	return "args"
}

// shells are the programs that take -c SCRIPT and then the script's
// positional parameters.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "ash": true}

// Target returns "exec COMMAND".
func (kind) Target(ps map[string]any) string {
	p, err := parse(ps)
	if err != nil {
		return "exec (invalid parameters)"
	}
	return "exec " + p.command
}

// Redact replaces the values of env with actions.Redacted.
func (kind) Redact(ps map[string]any) map[string]any {
	out := maps.Clone(ps)
	param.Blank(out, "env")
	return out
}

// Action returns the action that runs the programs.
func (kind) Action() actions.Action { return action{} }

// action runs one program per call.
type action struct{}

// Do runs the program and waits for it.
func (action) Do(ctx context.Context, call actions.Call) error {
	p, err := parse(call.Params)
	if err != nil {
		return actions.Refused(fmt.Errorf("exec: %w", err))
	}
	name := "exec " + p.command
	path := p.command
	if !filepath.IsAbs(path) {
		if path, err = exec.LookPath(path); err != nil {
			return actions.Permanent(fmt.Errorf("%s: %w", name, err))
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, path, p.args...)
	cmd.Stdin = bytes.NewReader(call.Event)
	out := &tail{max: outputLen}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = baseEnv()
	for k, v := range p.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env,
		// An event's id is its sender's to choose: a NUL in it would
		// fail every attempt to start the program.
		"HOOKD_IDEMPOTENCY_KEY="+param.Escaped(call.Key),
		"HOOKD_ATTEMPT="+strconv.Itoa(call.Attempt),
		"HOOKD_RULE="+call.Rule,
		"HOOKD_EVENT_ID="+param.Escaped(call.EventID),
	)
	ownGroup(cmd)
	cmd.WaitDelay = waitDelay

	startErr, err := run(cmd)
	if startErr != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", name, ctx.Err())
		}
		err = fmt.Errorf("%s: start: %w", name, startErr)
		if cannotRun(err) {
			return actions.Permanent(err)
		}
		return err
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		// A failed attempt is retried: what its program left running
		// must not run beside the next attempt's, nor pile up, one per
		// attempt. (A cancelled or timed-out one was killed already.)
		_ = killGroup(cmd)
	}
	var exit *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		// Exit status 0, even if a child of the program still holds its
		// output (ErrWaitDelay): the program's work is done.
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w (process group killed)", name, ctx.Err())
	case runCtx.Err() != nil:
		return fmt.Errorf("%s: timed out after %s (process group killed)%s", name, p.timeout, out.suffix(p.env))
	case errors.As(err, &exit) && exit.ExitCode() == exitDataErr:
		return actions.Refused(fmt.Errorf("%s: %w (EX_DATAERR: the program refuses this event)%s", name, err, out.suffix(p.env)))
	case errors.As(err, &exit):
		return fmt.Errorf("%s: %w%s", name, err, out.suffix(p.env))
	default:
		return fmt.Errorf("%s: %w%s", name, err, out.suffix(p.env))
	}
}

// exitDataErr is EX_DATAERR of sysexits(3), "the input data was
// incorrect": a program exits with it to refuse one event (one it cannot
// take, which no retry changes), so the job is dead-lettered at once and
// the target runs its other jobs on, where any other failing exit is
// retried and, its retries spent, suspends the target.
const exitDataErr = 65

// cannotRun reports whether err, from starting a program, means it can
// never run: missing, not executable, not a program.
func cannotRun(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.ENOEXEC) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	return len(p), nil
}

// suffix returns the output kept, quoted, for the end of an error, with
// each value of env blanked (see blank); "" for none.
func (t *tail) suffix(env map[string]string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := blank(string(t.buf), t.truncated, env)
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if s == "" {
		return ""
	}
	if t.truncated {
		s = "..." + s
	}
	return fmt.Sprintf("; output: %q", s)
}

// minSecret is the length of the shortest value of env that blank
// blanks: a shorter one (a count, a flag) is no secret worth garbling the
// output for.
const minSecret = 4

// blank replaces with actions.Redacted each value of env, of minSecret
// bytes or more, in out, a program's output; and, when cut (out is the
// end of the output, its start cut off), a start of out that is the end
// of such a value, minSecret bytes or more of it, which the cut left.
func blank(out string, cut bool, env map[string]string) string {
	for _, v := range env {
		if len(v) < minSecret {
			continue
		}
		out = strings.ReplaceAll(out, v, actions.Redacted)
		if !cut {
			continue
		}
		for n := len(v) - 1; n >= minSecret; n-- {
			if rest, ok := strings.CutPrefix(out, v[len(v)-n:]); ok {
				out = actions.Redacted + rest
				break
			}
		}
	}
	return out
}
