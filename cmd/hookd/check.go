package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/tlsfile"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/rules"
)

func newCheckCmd() *cobra.Command {
	var flags config.Flags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration without starting anything",
		Long: `check loads the configuration as serve would, with the same flags, and
compiles its rule files, and reports every problem it finds with its file,
line, column and field, or prints a one-line summary. The rule files are
compiled after problems in the configuration too, unless rules, smtp or
mailjet, which they depend on, have one; and a problem that may only follow
from another (a missing provider where a misspelled provider key stands) is
left out. Without --config it checks the built-in default. Providers, event
log backends and actions must be ones compiled into this binary. A source
that anyone who knows its URL can post to (no auth, no signature) is named
in a warning on standard error, as serve logs it at start, and so is a basic
auth password shorter than 16 bytes, a provider setting that is valid but
weak (a Standard Webhooks secret shorter than 24 bytes), an admin listener
beyond loopback without admin.token, a TLS certificate that expires within
14 days or is not valid yet, an smtp port that speaks another way than smtp.tls (465 tls, 587
starttls), a rules pattern with wildcards that matches no file, a rule's
data.X that no event has (when every source is a Mailjet one, whose fields
are known), and a data directory serve would refuse (not a directory, or missing with its parent);
none fails the check, which may run on another machine than serve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, sound, err := flags.LoadPartial(knownNames())
			if err != nil {
				// The rule files are compiled all the same when what
				// they read of the configuration has no problem: which
				// files they are, and the smtp and mailjet settings
				// their actions are checked against. Their problems
				// come after the configuration's.
				if cfg != nil && sound("rules") && sound("smtp") && sound("mailjet") {
					if _, rerr := rules.Load(cmd.Context(), cfg.Rules, ruleOptions(cfg)); rerr != nil {
						err = errors.Join(err, rerr)
					}
				}
				return err
			}
			set, err := rules.Load(cmd.Context(), cfg.Rules, ruleOptions(cfg))
			if err != nil {
				return err
			}
			// serve logs the same warnings at start.
			for _, w := range set.Warnings() {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			for _, p := range rules.Unmatched(cfg.Rules, ruleOptions(cfg).Dir) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: rules: %s matches no file\n", p)
			}
			for _, src := range cfg.Sources {
				if listener.Unauthenticated(src) {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: source %q accepts unauthenticated requests: anyone who knows POST %s can post events\n", src.Name, src.Path)
				}
				for _, w := range listener.Warnings(src) {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: source %q: %s\n", src.Name, w)
				}
			}
			if p := dataProblem(cfg.Data); p != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", p)
			}
			for _, w := range settingWarnings(cfg, time.Now()) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			if adminExposed(cfg) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: admin listener %s is reachable beyond this machine without admin.token: anyone who reaches it can read every event and retry or delete\n", cfg.Admin.Listen)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s; %s)\n", cfg.Name(), summary(cfg), plural(len(set.Rules()), "rule"))
			return err
		},
	}
	flags.Register(cmd.Flags())
	return cmd
}

// knownNames lists the providers and event log backends registered in this
// binary, and checks sources' verify and map settings, for config
// validation.
func knownNames() config.Known {
	return config.Known{Providers: listener.Providers(), Backends: eventlog.Backends(), Source: listener.CheckSource}
}

// summary describes cfg in one line, e.g. "1 source: mailjet at POST
// /hooks/mailjet; log sqlite; store sqlite".
func summary(cfg *config.Config) string {
	sources := make([]string, len(cfg.Sources))
	for i, s := range cfg.Sources {
		sources[i] = fmt.Sprintf("%s at POST %s", s.Name, s.Path)
	}
	return fmt.Sprintf("%s: %s; log %s; store %s",
		plural(len(sources), "source"), strings.Join(sources, ", "), cfg.Log.Backend, cfg.Store.Driver)
}

// ruleOptions are the options cfg's rule files load with: relative to the
// configuration file (the working directory for the built-in default),
// each action checked against the actions compiled into this binary and
// the settings the configuration gives them, and, when every source's
// provider documents its events' data fields (Mailjet's), each data.X
// checked against them (listener.DataFields).
func ruleOptions(cfg *config.Config) rules.Options {
	opts := rules.Options{Action: actions.Validator(actionSettings(cfg, nil)), Check: actions.CheckerOf, Body: actions.Body, JSON: actions.JSONText, Args: actions.ArgumentsOf}
	if cfg.File != "" {
		opts.Dir = filepath.Dir(cfg.File)
	}
	if providers, fields := listener.DataFields(cfg.Sources); fields != nil {
		opts.Data = &rules.Data{Providers: providers, Fields: fields}
	}
	return opts
}

// plural returns "1 rule", "2 rules".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// adminExposed reports whether the admin listener listens beyond loopback
// without admin.token: the API then lists every recipient address, and
// changes state, for anyone who reaches the port.
func adminExposed(cfg *config.Config) bool {
	// A listen address that does not parse fails the start and says why.
	_, _, err := net.SplitHostPort(cfg.Admin.Listen)
	return cfg.Admin.Token == "" && err == nil && !cfg.Admin.Loopback()
}

// dataProblem says why serve would refuse to start on the data directory
// dir, which it makes when missing but not its parents; "" when it would
// not. Who may write it, and whether another serve holds it, serve finds
// out at start.
func dataProblem(dir string) string {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Sprintf("data %s is not a directory: serve would refuse to start", dir)
	case err == nil:
		return ""
	}
	parent := filepath.Dir(dir)
	if fi, err := os.Stat(parent); errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("data %s: %s does not exist, and serve makes the data directory, not its parents: it would refuse to start", dir, parent)
	} else if err != nil || !fi.IsDir() {
		return fmt.Sprintf("data %s: %s is not a directory: serve would refuse to start", dir, parent)
	}
	return ""
}

// settingWarnings says of each certificate of cfg that expires within
// tlsfile.RenewWithin of now when it does, of one not valid yet at now
// from when it is, and of an smtp port that speaks
// another way than smtp.tls (config.PortWarning); check prints them, serve
// logs them. A pair that does not load is the configuration's error, not
// one of these.
func settingWarnings(cfg *config.Config, now time.Time) []string {
	var warns []string
	if w := config.PortWarning(cfg.SMTP); w != "" {
		warns = append(warns, w)
	}
	for _, l := range []struct {
		field string
		t     config.TLS
	}{{"tls", cfg.TLS}, {"admin.tls", cfg.Admin.TLS}} {
		if !l.t.Enabled() {
			continue
		}
		cert, err := tlsfile.Load(l.t.Cert, l.t.Key, now)
		if err != nil {
			continue
		}
		// Warned of, not refused: the clients judge it by their clocks,
		// and it is this machine's that may be behind (or check's, on
		// another machine); a certificate issued ahead of its use
		// becomes valid on its own.
		if ahead := cert.Leaf.NotBefore.Sub(now); ahead > 0 {
			warns = append(warns, fmt.Sprintf("%s.cert: certificate %s is not valid before %s, in %s: clients refuse it until then, unless this machine's clock is behind (check it)",
				l.field, l.t.Cert, cert.Leaf.NotBefore.UTC().Format(time.DateTime+" MST"), until(ahead)))
		}
		if left := cert.Leaf.NotAfter.Sub(now); left < tlsfile.RenewWithin {
			warns = append(warns, fmt.Sprintf("%s.cert: certificate %s expires on %s, in %s: renew it (serve reloads it when the files change)",
				l.field, l.t.Cert, cert.Leaf.NotAfter.UTC().Format(time.DateTime+" MST"), daysLeft(left)))
		}
	}
	return warns
}

// until returns d in whole days, or under a day in minutes (rounded up).
func until(d time.Duration) string {
	if d >= 24*time.Hour {
		return daysLeft(d)
	}
	return plural(int((d+time.Minute-1)/time.Minute), "minute")
}

// daysLeft returns d in whole days, "less than a day" under one.
func daysLeft(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	if days < 1 {
		return "less than a day"
	}
	return plural(days, "day")
}
