package listener_test

import (
	"net/url"
	"testing"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/listener"
)

func TestCallback(t *testing.T) {
	const token = "tok+en/0123456789abcdef"
	sources := []config.Source{
		{Name: "basic", Provider: "mailjet", Auth: config.Auth{Basic: &config.BasicAuth{User: "hookd", Password: "p@ss word"}}},
		{Name: "query", Provider: "mailjet", Path: "/in/query", Auth: config.Auth{Token: &config.TokenAuth{Value: token, Param: "key"}}},
		{Name: "segment", Provider: "mailjet", Auth: config.Auth{Token: &config.TokenAuth{Value: token}}},
		{Name: "open", Provider: "mailjet"},
	}
	tests := []struct {
		name, url string
		want      string // the source's name
		wantErr   string
	}{
		{name: "basic", url: "https://hookd:p%40ss%20word@hooks.example.com/hooks/basic", want: "basic"},
		{name: "basic, wrong password", url: "https://hookd:nope@hooks.example.com/hooks/basic", wantErr: `source "basic" refuses the URL's credentials`},
		{name: "basic, no credentials", url: "https://hooks.example.com/hooks/basic", wantErr: `source "basic" refuses the URL's credentials`},
		{name: "query token, encoded", url: "https://h.example.com/in/query?key=tok%2Ben%2F0123456789abcdef", want: "query"},
		{name: "query token pasted with its +", url: "https://h.example.com/in/query?key=tok+en/0123456789abcdef", want: "query"},
		{name: "query token under another name", url: "https://h.example.com/in/query?token=tok%2Ben%2F0123456789abcdef", wantErr: `source "query" refuses the URL's credentials`},
		{name: "path token", url: "https://h.example.com/hooks/segment/tok%2Ben%2F0123456789abcdef", want: "segment"},
		{name: "path token, wrong", url: "https://h.example.com/hooks/segment/0123456789abcdef0", wantErr: `source "segment" refuses the URL's credentials`},
		{name: "no auth, credentials in the URL are ignored", url: "https://a:b@h.example.com/hooks/open", want: "open"},
		{name: "a typo in the path", url: "https://h.example.com/hooks/mailjett", wantErr: "no source has the path /hooks/mailjett (/hooks/basic, /in/query, /hooks/segment, /hooks/open)"},
		{name: "a typo before a path token, which the error hides", url: "https://h.example.com/hooks/segmnt/tok%2Ben%2F0123456789abcdef", wantErr: "no source has the path /hooks/segmnt/xxxxx (/hooks/basic, /in/query, /hooks/segment, /hooks/open)"},
		{name: "a segment after a path without token auth", url: "https://h.example.com/hooks/open/x", wantErr: "no source has the path /hooks/open/x (/hooks/basic, /in/query, /hooks/segment, /hooks/open)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := listener.Callback(sources, u)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Callback(%s) = %q, %v; want error %s", tt.url, got.Name, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Name != tt.want {
				t.Fatalf("Callback(%s) = %q, %v; want %q", tt.url, got.Name, err, tt.want)
			}
		})
	}
	if _, err := listener.Callback(nil, &url.URL{Path: "/hooks/mailjet"}); err == nil {
		t.Error("Callback with no sources: no error")
	}
}
