package main

import (
	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/config"
)

// actionSettings are the settings cfg gives actions: its smtp and mailjet
// sections, when configured, and sup as the suppression list (nil where
// nothing runs, as in check and test).
func actionSettings(cfg *config.Config, sup actions.Suppressions) actions.Settings {
	s := actions.Settings{Suppressions: sup}
	if c := cfg.SMTP; c.Host != "" {
		s.SMTP = &actions.SMTP{Host: c.Host, Port: c.Port, TLS: c.TLS, Username: c.Username, Password: c.Password, From: c.From, CAFile: c.CAFile}
	}
	if c := cfg.Mailjet; c.Configured() {
		s.Mailjet = &actions.Mailjet{APIURL: c.APIURL, APIKey: c.APIKey, APISecret: c.APISecret}
	}
	return s
}
