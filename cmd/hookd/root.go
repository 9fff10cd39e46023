package main

import (
	"github.com/spf13/cobra"

	// Backends, providers and actions register themselves.
	_ "github.com/hookd/hookd/actions/exec"
	_ "github.com/hookd/hookd/actions/http"
	_ "github.com/hookd/hookd/actions/log"
	_ "github.com/hookd/hookd/eventlog/nats"
	_ "github.com/hookd/hookd/eventlog/postgres"
	_ "github.com/hookd/hookd/eventlog/sqlite"
	_ "github.com/hookd/hookd/listener/mailjet"
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
		newTestCmd(),
		newSendCmd(),
		newVersionCmd(),
	)
	return root
}
