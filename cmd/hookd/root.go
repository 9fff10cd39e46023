package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	// Backends, providers and actions register themselves.
	_ "github.com/hookd/hookd/actions/email"
	_ "github.com/hookd/hookd/actions/exec"
	_ "github.com/hookd/hookd/actions/http"
	_ "github.com/hookd/hookd/actions/log"
	_ "github.com/hookd/hookd/actions/mailjetsend"
	_ "github.com/hookd/hookd/actions/mailjetunsub"
	_ "github.com/hookd/hookd/actions/suppress"
	_ "github.com/hookd/hookd/eventlog/nats"
	_ "github.com/hookd/hookd/eventlog/postgres"
	_ "github.com/hookd/hookd/eventlog/sqlite"
	_ "github.com/hookd/hookd/listener/generic"
	_ "github.com/hookd/hookd/listener/mailgun"
	_ "github.com/hookd/hookd/listener/mailjet"
	_ "github.com/hookd/hookd/listener/postmark"
	_ "github.com/hookd/hookd/listener/sendgrid"
	_ "github.com/hookd/hookd/listener/ses"
	_ "github.com/hookd/hookd/listener/standardwebhooks"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "hookd",
		Short:         "hookd receives email provider webhooks, stores every event and runs rules on them",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(),
		newCheckCmd(),
		newEventsCmd(),
		newDeadLettersCmd(),
		newSuppressionsCmd(),
		newMailjetCmd(),
		newTestCmd(),
		newExplainCmd(),
		newBacktestCmd(),
		newReplayCmd(),
		newRebuildCmd(),
		newBackupCmd(),
		newSendCmd(),
		newVersionCmd(),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%s%w", where(c), err)}
	})
	strictHelp(root)
	usageArgs(root)
	return root
}

// strictHelp makes "hookd help COMMAND" fail as a usage error when there
// is no such command, where cobra's help command printed the usage and
// exited 0, as if the help had been found.
func strictHelp(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() != "help" || c.Run == nil {
			continue
		}
		run := c.Run
		c.Run = nil
		c.RunE = func(c *cobra.Command, args []string) error {
			// Find stops at the last command it knows and returns the
			// rest, which names no command.
			if target, rest, err := c.Root().Find(args); target == nil || err != nil || len(rest) > 0 {
				return usageError{fmt.Errorf("help: unknown command %q", strings.Join(args, " "))}
			}
			run(c, args)
			return nil
		}
	}
}

// usageArgs makes the argument checks of c and its subcommands return
// usageErrors.
func usageArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
	if check := c.Args; check != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{fmt.Errorf("%s%w", where(c), err)}
			}
			return nil
		}
	}
}

// where starts an error of c, which main prints after "hookd: ": c's path
// without hookd, then ": "; nothing for hookd itself.
func where(c *cobra.Command) string {
	if !c.HasParent() {
		return ""
	}
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ") + ": "
}
