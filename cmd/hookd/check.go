package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
)

func newCheckCmd() *cobra.Command {
	var flags config.Flags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration without starting anything",
		Long: `check loads the configuration as serve would, with the same flags, and
reports every problem it finds with its file, line, column and field, or
prints a one-line summary. Without --config it checks the built-in default.
Providers and event log backends must be ones compiled into this binary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.Load(knownNames())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s)\n", cfg.Name(), summary(cfg))
			return err
		},
	}
	flags.Register(cmd.Flags())
	return cmd
}

// knownNames lists the providers and event log backends registered in this
// binary, for config validation.
func knownNames() config.Known {
	return config.Known{Providers: listener.Providers(), Backends: eventlog.Backends()}
}

// summary describes cfg in one line, e.g. "1 source: mailjet at POST
// /hooks/mailjet; log sqlite; store sqlite".
func summary(cfg *config.Config) string {
	sources := make([]string, len(cfg.Sources))
	for i, s := range cfg.Sources {
		sources[i] = fmt.Sprintf("%s at POST %s", s.Name, s.Path)
	}
	noun := "sources"
	if len(sources) == 1 {
		noun = "source"
	}
	return fmt.Sprintf("%d %s: %s; log %s; store %s",
		len(sources), noun, strings.Join(sources, ", "), cfg.Log.Backend, cfg.Store.Driver)
}
