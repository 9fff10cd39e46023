package listener

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/internal/redact"
)

// Callback returns the source of sources that a delivery to u reaches,
// routed and authenticated as the listener does: u is a callback URL as
// registered with a provider, its user:pass@ standing for the
// Authorization header the provider sends. The error says why none takes
// it: no source's route is u's path (the provider would get 404), or the
// source refuses u's credentials (401). Signatures are not checked: they
// come with each delivery, not with the URL.
func Callback(sources []config.Source, u *url.URL) (config.Source, error) {
	if len(sources) == 0 {
		return config.Source{}, errors.New("no source to take it")
	}
	e := echo.New()
	var (
		got   config.Source
		paths []string
	)
	for _, src := range sources {
		auth, err := newAuth(src)
		if err != nil {
			return config.Source{}, err
		}
		h := func(c echo.Context) error {
			got = src
			if auth == nil {
				return nil
			}
			return auth.check(c)
		}
		path := pathOf(src)
		paths = append(paths, path)
		e.POST(path, h)
		if src.Auth.Token != nil {
			e.POST(tokenPath(path), h)
		}
	}
	req := &http.Request{
		Method: http.MethodPost,
		URL:    &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Header: http.Header{},
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		req.SetBasicAuth(u.User.Username(), pw)
	}
	c := e.NewContext(req, echo.NewResponse(discard{}, e))
	e.Router().Find(http.MethodPost, echo.GetPath(req), c)
	if err := c.Handler()(c); err != nil {
		if got.Name == "" {
			return config.Source{}, fmt.Errorf("no source has the path %s (%s)", shownPath(u, sources), strings.Join(paths, ", "))
		}
		return got, fmt.Errorf("source %q refuses the URL's credentials", got.Name)
	}
	return got, nil
}

// shownPath is u's path as an error may show it: a segment that is the
// token of one of sources, or looks like a token (an old one, say), is
// redact.Mask, since a URL whose path has a typo before the token still
// carries it.
func shownPath(u *url.URL, sources []config.Source) string {
	var tokens []string
	for _, src := range sources {
		if src.Auth.Token != nil {
			tokens = append(tokens, src.Auth.Token.Value)
		}
	}
	return redact.Path(u.EscapedPath(), tokens)
}

// discard is a ResponseWriter that keeps nothing: Callback's answers are
// its errors.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
