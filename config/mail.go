package config

import (
	"crypto/x509"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"
)

// SMTP is the mail server the email action sends through. It is off
// (Host "") unless configured; then email actions are a rule load error.
type SMTP struct {
	// Host is the server's name or address. Required when smtp is given.
	Host string `yaml:"host"`
	// Port is the server's port. Default 587, or 465 with tls: tls. Port
	// 465 with another mode than tls, or 587 with tls, is warned of (see
	// PortWarning).
	Port int `yaml:"port"`
	// TLS is none (plain text, for a local relay only), starttls (default:
	// the connection must upgrade, or sending fails) or tls (implicit TLS
	// from the first byte).
	TLS string `yaml:"tls"`
	// Username and Password authenticate with SMTP AUTH (PLAIN or LOGIN,
	// whichever the server offers) when Username is set. The password never
	// appears in an error, a log line or the API.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// From is the sender, e.g. "Shop <shop@example.com>". Required when
	// smtp is given.
	From string `yaml:"from"`
	// CAFile is a PEM file of the CA certificates the server's certificate
	// must chain to, for a relay with a private CA; relative to the
	// configuration file. Default: the system's roots. Only with starttls
	// or tls; certificate verification cannot be turned off.
	CAFile string `yaml:"ca_file"`
}

// Mailjet holds the Mailjet API credentials the mailjet_* actions and
// `hookd mailjet` use. It is off (no APIKey) unless configured.
type Mailjet struct {
	// APIURL is the API's base URL. Default "https://api.mailjet.com"; the
	// US region uses "https://api.us.mailjet.com". A path is kept (for a
	// proxy) unless it holds a version such as /v3.1, an error.
	APIURL string `yaml:"api_url"`
	// APIKey and APISecret are the account's API key pair, sent as basic
	// authentication. Both or neither. The secret never appears in an
	// error, a log line or the API.
	APIKey    string `yaml:"api_key"`
	APISecret string `yaml:"api_secret"`
	// CheckInterval is how often serve reads the event callback URLs'
	// status from Mailjet and reports a dead one (a log line and the
	// hookd_mailjet_callbacks_dead gauge). Default 15m; only with keys.
	CheckInterval time.Duration `yaml:"check_interval"`
}

// Configured reports whether m has API keys.
func (m Mailjet) Configured() bool { return m.APIKey != "" }

// Mail defaults.
const (
	defaultSMTPTLS          = "starttls"
	defaultSMTPPort         = 587
	defaultSMTPSPort        = 465
	defaultMailjetURL       = "https://api.mailjet.com"
	defaultMailjetInterval  = 15 * time.Minute
	smtpTLSNone             = "none"
	smtpTLSStartTLS         = "starttls"
	smtpTLSImplicit         = "tls"
	minMailjetCheckInterval = time.Second
)

// setMailDefaults fills in the smtp and mailjet defaults. SMTP defaults
// apply only to a configured server, so that an absent smtp stays off.
func (c *Config) setMailDefaults() {
	if c.SMTP.Host != "" {
		setDefault(&c.SMTP.TLS, defaultSMTPTLS)
		if c.SMTP.TLS == smtpTLSImplicit {
			setDefault(&c.SMTP.Port, defaultSMTPSPort)
		}
		setDefault(&c.SMTP.Port, defaultSMTPPort)
	}
	setDefault(&c.Mailjet.APIURL, defaultMailjetURL)
	setDefault(&c.Mailjet.CheckInterval, defaultMailjetInterval)
}

// validateMail checks smtp and mailjet, never quoting a password or a
// secret.
func (v *validator) validateMail(c *Config) {
	s := c.SMTP
	if s != (SMTP{}) {
		if s.Host == "" {
			v.add("smtp.host", "required when smtp is given")
		} else if strings.ContainsAny(s.Host, "/: \t") && !strings.HasPrefix(s.Host, "[") {
			v.add("smtp.host", "want a host name or address, without scheme or port (set port)")
		}
		if s.Port < 0 || s.Port > 65535 || s.Host != "" && s.Port == 0 {
			v.add("smtp.port", "want a port from 1 to 65535")
		}
		switch s.TLS {
		case smtpTLSNone, smtpTLSStartTLS, smtpTLSImplicit:
		case "":
			if s.Host != "" {
				v.add("smtp.tls", "required")
			}
		default:
			v.add("smtp.tls", "unknown mode %q (want none, starttls or tls)", s.TLS)
		}
		if s.Password != "" && s.Username == "" {
			v.add("smtp.username", "required with password")
		}
		if s.CAFile != "" {
			if s.TLS == smtpTLSNone {
				v.add("smtp.ca_file", "only with tls starttls or tls")
			} else if err := checkCAFile(s.CAFile); err != nil {
				v.add("smtp.ca_file", "%v", err)
			}
		}
		if s.From == "" {
			v.add("smtp.from", "required when smtp is given")
		} else if _, err := parseAddress(s.From); err != nil {
			v.add("smtp.from", "not an address such as \"Shop <shop@example.com>\": %v", err)
		}
	}
	m := c.Mailjet
	if u, err := url.Parse(m.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		v.add("mailjet.api_url", "want an absolute http:// or https:// URL without credentials or query")
	} else if versioned(u.Path) {
		v.add("mailjet.api_url", "want the API's root without a version path such as /v3 or /v3.1 (hookd adds it): %s://%s", u.Scheme, u.Host)
	}
	switch {
	case m.APIKey == "" && m.APISecret != "":
		v.add("mailjet.api_key", "required with api_secret")
	case m.APIKey != "" && m.APISecret == "":
		v.add("mailjet.api_secret", "required with api_key")
	}
	if m.CheckInterval < minMailjetCheckInterval {
		v.add("mailjet.check_interval", "want at least %s", minMailjetCheckInterval)
	}
}

// PortWarning says why the smtp settings of c are likely a mistake that
// would fail only at the first email: the submission ports each speak one
// way (RFC 8314), 465 TLS from the first byte and 587 STARTTLS. "" when
// they agree, or use another port. A warning, not an error: a relay may
// be set up otherwise.
func PortWarning(s SMTP) string {
	switch {
	case s.Host == "":
		return ""
	case s.Port == defaultSMTPSPort && (s.TLS == smtpTLSStartTLS || s.TLS == smtpTLSNone):
		return fmt.Sprintf("smtp: port %d speaks TLS from the first byte: set tls: tls (or port: %d for %s), unless this relay is set up otherwise", s.Port, defaultSMTPPort, s.TLS)
	case s.Port == defaultSMTPPort && s.TLS == smtpTLSImplicit:
		return fmt.Sprintf("smtp: port %d upgrades with STARTTLS: set tls: starttls (or port: %d for tls), unless this relay is set up otherwise", s.Port, defaultSMTPSPort)
	}
	return ""
}

// versioned reports whether an api_url path holds one of Mailjet's
// version segments ("v3", "v3.1", "REST"), as a URL copied from
// Mailjet's documentation does. The actions append their own versioned
// paths, so such a URL would make every call a 404. Another path is
// kept: a proxy may serve the API under a prefix.
func versioned(path string) bool {
	for _, seg := range strings.Split(path, "/") {
		switch strings.ToLower(seg) {
		case "v3", "v3.1", "rest":
			return true
		}
	}
	return false
}

// checkCAFile checks that file holds at least one PEM certificate.
func checkCAFile(file string) error {
	pem, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("no PEM certificate in %s", file)
	}
	return nil
}

// parseAddress checks a From address. net/mail's errors quote at most
// the address, which is not a secret.
func parseAddress(s string) (*mail.Address, error) { return mail.ParseAddress(s) }
