package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
)

// Provider makes the adapter of one configured source. Provider packages
// (listener/mailjet, listener/sendgrid, ...) register one under their name
// from init, with an interface guard; import them for that side effect.
type Provider interface {
	// New reads src's provider-specific settings (src.Verify, src.Map)
	// and returns its adapter. It has no side effect, so hookd check can
	// call it with a zero Env to validate a configuration. A setting that
	// is wrong is a *config.Error whose Field is relative to the source
	// ("verify.public_key"); several are joined with errors.Join. Errors
	// never quote a secret.
	New(src config.Source, env Env) (Adapter, error)
}

// Adapter verifies and decodes the deliveries of one source. It is safe for
// concurrent use.
type Adapter interface {
	// Verify checks that a request comes from the provider, over the raw
	// body as received and the request's headers, before anything is
	// decoded. An error refuses the request: 401 unless the error carries
	// another status (StatusCoder; e.g. 503 when a certificate cannot be
	// fetched, so the provider retries). Its message is shown to the
	// client, so it says what is wrong (missing header, stale timestamp,
	// no matching signature) but never the expected signature or a secret.
	// ctx is the request's; Verify returns when it ends.
	Verify(ctx context.Context, r *http.Request, body []byte) error
	// Decode turns a verified body into events, as Decoder.Decode does;
	// h are the request's headers. It must never panic, must not keep
	// body, and must set Category (and BounceClass for bounces) wherever
	// the provider's type has a counterpart. An error means the whole
	// body is malformed: it is answered 400 and quarantined, and none of
	// its events is stored.
	Decode(h http.Header, body []byte) ([]event.Event, error)
}

// Controller is implemented by adapters whose provider also sends control
// messages that carry no events, such as SNS subscription confirmations.
// The listener calls Control after Verify succeeded and before Decode; when
// it returns handled, the request is answered 200 with no events.
type Controller interface {
	Control(ctx context.Context, h http.Header, body []byte) (handled bool, err error)
}

// Env is what the listener gives adapters at run time. Every field may be
// zero when New is only validating a configuration.
type Env struct {
	// Logger is the listener's logger; nil discards.
	Logger *slog.Logger
	// Nonces remembers replay tokens durably; nil only when validating.
	Nonces Nonces
	// Client is the HTTP client for outgoing requests (certificates,
	// subscription confirmations); nil means a default with a timeout.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Clock returns env.Now, or time.Now when it is nil.
func (env Env) Clock() func() time.Time {
	if env.Now != nil {
		return env.Now
	}
	return time.Now
}

// Log returns env.Logger, or a logger that discards when it is nil.
func (env Env) Log() *slog.Logger {
	if env.Logger != nil {
		return env.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Nonces remembers single-use tokens (Mailgun's token) for as long as a
// request carrying them could be accepted.
type Nonces interface {
	// Use records that nonce of scope was used by a request whose body
	// has digest binding, until expires. It reports reused when the nonce
	// was recorded before with another binding: a replay of the token on
	// a different body. The same nonce with the same binding is a retry
	// of the same delivery and is not reused. Use is safe for concurrent
	// use and durable when it returns nil.
	Use(ctx context.Context, scope, nonce, binding string, expires time.Time) (reused bool, err error)
}

// Decoder turns the raw body of one delivery into events.
//
// Decode must not keep body after it returns, must never panic on any input,
// and must fill every normalized field it can (ID, Provider, Type, Time,
// Email, Domain, MessageID, Campaign, Category, BounceClass, Data); the
// listener fills Source and Received. An error means the body is malformed:
// the listener answers 400 and quarantines the body. Implementations are
// safe for concurrent use.
type Decoder interface {
	Decode(body []byte) ([]event.Event, error)
}

// DecoderFunc adapts a function to Decoder.
type DecoderFunc func(body []byte) ([]event.Event, error)

// Decode calls f.
func (f DecoderFunc) Decode(body []byte) ([]event.Event, error) { return f(body) }

// Unsigned is the Provider of a provider that signs nothing: its sources
// authenticate with auth (basic or token) only, and any verify or map
// setting is an error.
type Unsigned struct {
	// Name is the provider's name, for error messages.
	Name string
	// Decoder decodes its bodies.
	Decoder Decoder
	// Fields, when set, are the top-level fields that the provider
	// documents for the objects its events' Data hold (see DataFielder).
	Fields []string
}

var (
	_ Provider    = Unsigned{}
	_ DataFielder = Unsigned{}
)

// DataFields implements DataFielder: u.Fields.
func (u Unsigned) DataFields() []string { return u.Fields }

// DataFielder is implemented by providers that document every top-level
// field of the objects their events' Data hold, so that a rule reading
// data.X of a field none has (a typo: data.hardbounce) can be warned of.
type DataFielder interface {
	// DataFields returns those fields, or nil when they are not known.
	DataFields() []string
}

// DataFields returns the providers of sources and the top-level fields the
// Data of their events may have, sorted, when every source's provider
// documents its fields (DataFielder); otherwise nil and nil, since a
// generic source's events, or another provider's, may have any field.
func DataFields(sources []config.Source) (providers, fields []string) {
	for _, src := range sources {
		p, err := Lookup(src.Provider)
		if err != nil {
			return nil, nil
		}
		df, ok := p.(DataFielder)
		if !ok || df.DataFields() == nil {
			return nil, nil
		}
		if !slices.Contains(providers, src.Provider) {
			providers = append(providers, src.Provider)
		}
		for _, f := range df.DataFields() {
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
	}
	slices.Sort(providers)
	slices.Sort(fields)
	return providers, fields
}

// New implements Provider.
func (u Unsigned) New(src config.Source, _ Env) (Adapter, error) {
	var errs []error
	if !reflect.ValueOf(src.Verify).IsZero() {
		errs = append(errs, &config.Error{Field: "verify", Err: fmt.Errorf("%s signs nothing: authenticate it with auth (basic or token)", u.Name)})
	}
	if err := src.Map.Unused(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return unsigned{u.Decoder}, nil
}

type unsigned struct{ d Decoder }

func (unsigned) Verify(context.Context, *http.Request, []byte) error { return nil }

func (u unsigned) Decode(_ http.Header, body []byte) ([]event.Event, error) { return u.d.Decode(body) }

// ErrUnknownProvider is returned for a provider no package registered.
var ErrUnknownProvider = errors.New("unknown provider")

var (
	mu        sync.RWMutex
	providers = map[string]Provider{}
)

// Register makes a provider available under name. Provider packages call
// it from init; it panics on a name registered twice.
func Register(name string, p Provider) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := providers[name]; ok {
		panic("listener: provider registered twice: " + name)
	}
	providers[name] = p
}

// Providers lists the registered provider names, sorted.
func Providers() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(providers))
	for n := range providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the provider registered under name.
func Lookup(name string) (Provider, error) {
	mu.RLock()
	p, ok := providers[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("provider %q: %w (registered: %v)", name, ErrUnknownProvider, Providers())
	}
	return p, nil
}

// Warner is implemented by providers whose settings can be valid yet weak,
// such as a secret shorter than the provider's specification asks for.
// hookd check prints the warnings and serve logs them at start; neither
// fails, so that a configuration that worked keeps starting.
type Warner interface {
	// Warnings returns what is weak in src's provider-specific settings,
	// each a sentence naming the setting and never quoting a secret; none
	// for settings New refuses, since its error says more.
	Warnings(src config.Source) []string
}

// Warnings returns what is valid yet weak in src's settings, each a
// sentence naming the setting: a basic auth password shorter than
// MinPassword, then the warnings of src's provider (Warner). hookd check
// prints them and serve logs them at start.
func Warnings(src config.Source) []string {
	var out []string
	if src.Auth.Basic != nil && len(src.Auth.Basic.Password) < MinPassword {
		out = append(out, fmt.Sprintf("auth.basic.password is shorter than %d bytes: refused requests are not throttled, so a short one can be guessed", MinPassword))
	}
	if src.Auth.Basic != nil && bareVar(src.Auth.Basic.Password) {
		out = append(out, bareVarWarning("auth.basic.password"))
	}
	if src.Auth.Token != nil && bareVar(src.Auth.Token.Value) {
		out = append(out, bareVarWarning("auth.token.value"))
	}
	if p, err := Lookup(src.Provider); err == nil {
		if w, ok := p.(Warner); ok {
			out = append(out, w.Warnings(src)...)
		}
	}
	return out
}

// bareVarRE matches a whole value that is "$" and an environment
// variable's name, as a shell writes it.
var bareVarRE = regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_]*$`)

// bareVar reports whether secret reads as $NAME: the configuration
// expands only ${NAME}, so the secret is those characters themselves,
// which is far likelier a slip than a chosen password.
func bareVar(secret string) bool { return bareVarRE.MatchString(secret) }

// bareVarWarning is the warning for a field whose value is $NAME; it
// never quotes the value, which may be the secret.
func bareVarWarning(field string) string {
	return field + ` is "$" and a name, which is taken as it is, not read from the environment: write ${NAME} for an environment variable`
}

// CheckSource validates src's provider-specific settings the way New will
// read them, without side effects. It is config.Known.Source for hookd's
// commands. An unknown provider is left to config's own check.
func CheckSource(src config.Source) error {
	p, err := Lookup(src.Provider)
	if err != nil {
		return nil
	}
	_, err = p.New(src, Env{})
	return err
}

// Unauthorized returns the error of a request that failed verification:
// 401 with msg, which must not contain a secret or an expected signature.
func Unauthorized(msg string) error { return &verifyError{msg: msg} }

type verifyError struct{ msg string }

func (e *verifyError) Error() string   { return e.msg }
func (e *verifyError) StatusCode() int { return http.StatusUnauthorized }

// Unavailable returns the error of a request that cannot be verified now
// (a certificate that cannot be fetched): 503, so the provider retries.
// cause is logged, never shown.
func Unavailable(msg string, cause error) error {
	return &unavailableError{msg: msg, cause: cause}
}

type unavailableError struct {
	msg   string
	cause error
}

func (e *unavailableError) Error() string   { return e.msg }
func (e *unavailableError) Unwrap() error   { return e.cause }
func (e *unavailableError) StatusCode() int { return http.StatusServiceUnavailable }
