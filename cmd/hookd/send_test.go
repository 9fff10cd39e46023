package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookd/hookd/send"
)

// hookServer answers every request with status and counts requests and the
// events in them (1 for an object, n for an array of n).
func hookServer(t *testing.T, status int) (url string, requests, events *atomic.Int64) {
	t.Helper()
	requests, events = new(atomic.Int64), new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		requests.Add(1)
		var group []json.RawMessage
		if json.Unmarshal(body, &group) == nil {
			events.Add(int64(len(group)))
		} else {
			events.Add(1)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks/mailjet", requests, events
}

const threeEvents = `[
 {"event":"open","time":1433103519,"MessageID":19421777396190490,"email":"a@mailjet.com"},
 {"event":"open","time":1433103519,"MessageID":19421777396190490,"email":"b@mailjet.com"},
 {"event":"click","time":1433103519,"MessageID":19421777396190490,"email":"c@mailjet.com","url":"https://mailjet.com"}
]`

func TestSendCommand(t *testing.T) {
	file := writeFile(t, "events.json", threeEvents)
	tests := []struct {
		name         string
		args         []string // the URL is appended
		wantRequests int64
		wantEvents   int64
		want         []string // lines stdout must contain
	}{
		{"file, one event per request", []string{"send", "--file", file}, 3, 3, []string{"200: 3\n", "3 requests, 3 events", "requests/s: ", "latency p50: "}},
		{"file grouped", []string{"send", "--file", file, "--group", "--group-size", "2"}, 2, 3, []string{"200: 2\n", "2 requests, 3 events"}},
		{"generate", []string{"send", "--generate", "40", "--type", "bounce", "--concurrency", "3", "--rate", "0"}, 40, 40, []string{"200: 40\n"}},
		{"generate grouped", []string{"send", "--generate", "250", "--group"}, 3, 250, []string{"200: 3\n", "3 requests, 250 events"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, requests, events := hookServer(t, http.StatusOK)
			stdout, _, err := runHookd(t, append(tt.args, url)...)
			if err != nil {
				t.Fatalf("send: %v\n%s", err, stdout)
			}
			if requests.Load() != tt.wantRequests || events.Load() != tt.wantEvents {
				t.Errorf("server got %d requests, %d events; want %d, %d", requests.Load(), events.Load(), tt.wantRequests, tt.wantEvents)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestSendCommandJSON(t *testing.T) {
	url, _, _ := hookServer(t, http.StatusOK)
	stdout, _, err := runHookd(t, "send", "--generate", "20", "--json", "--url", url)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Requests int            `json:"requests"`
		Events   int            `json:"events"`
		Failed   int            `json:"failed"`
		Status   map[string]int `json:"status"`
		P99      *float64       `json:"latency_p99_ms"`
		Rate     *float64       `json:"events_per_second"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if rep.Requests != 20 || rep.Events != 20 || rep.Failed != 0 || rep.Status["200"] != 20 || rep.P99 == nil || rep.Rate == nil {
		t.Errorf("report %s", stdout)
	}
}

func TestSendCommandFails(t *testing.T) {
	url, _, _ := hookServer(t, http.StatusServiceUnavailable)
	withAuth := strings.Replace(url, "http://", "http://hookd:hunter2@", 1)
	stdout, _, err := runHookd(t, "send", "--generate", "5", withAuth)
	if !errors.Is(err, send.ErrFailed) {
		t.Fatalf("send error %v, want ErrFailed", err)
	}
	if !strings.Contains(stdout, "503: 5\n") || !strings.Contains(stdout, "hookd:xxxxx@") {
		t.Errorf("output lacks the 503 count or the redacted URL:\n%s", stdout)
	}
	// Every request failed: no rate or latency to mistake for the receiver's.
	if strings.Contains(stdout, "requests/s") || strings.Contains(stdout, "latency") {
		t.Errorf("output has rates or latencies of failed requests:\n%s", stdout)
	}
	if strings.Contains(stdout+err.Error(), "hunter2") {
		t.Errorf("the password is printed:\n%s\n%v", stdout, err)
	}
	if strings.Count(stdout+err.Error(), "first") != 1 {
		t.Errorf("the first failure is not shown exactly once:\n%s\n%v", stdout, err)
	}

	// A token in the query is as secret as a password, also when the
	// receiver cannot be reached.
	for _, u := range []string{url + "?token=s3cret-token-0123456789", "http://127.0.0.1:1/hooks/x?token=s3cret-token-0123456789"} {
		stdout, stderr, err := runHookd(t, "send", "--generate", "2", u)
		if err == nil {
			t.Fatalf("send %s: no error", u)
		}
		if all := stdout + stderr + err.Error(); strings.Contains(all, "s3cret") || !strings.Contains(all, "token=xxxxx") {
			t.Errorf("send %s: the token is printed or not redacted:\n%s\n%s\n%v", u, stdout, stderr, err)
		}
	}
}

func TestSendCommandUsage(t *testing.T) {
	file := writeFile(t, "events.json", threeEvents)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no URL", []string{"send", "--generate", "1"}, "no URL"},
		{"URL twice", []string{"send", "--generate", "1", "--url", "http://a", "http://b"}, "not both"},
		{"no events", []string{"send", "http://localhost"}, "file generate"},
		{"file and generate", []string{"send", "--file", file, "--generate", "1", "http://localhost"}, "file generate"},
		{"type with file", []string{"send", "--file", file, "--type", "click", "http://localhost"}, "--type"},
		{"group size alone", []string{"send", "--generate", "1", "--group-size", "5", "http://localhost"}, "--group-size needs --group"},
		{"zero concurrency", []string{"send", "--generate", "1", "--concurrency", "0", "http://localhost"}, "--concurrency"},
		{"missing file", []string{"send", "--file", file + ".missing", "http://localhost"}, "no such file"},
		{"not a hook URL", []string{"send", "--generate", "1", "ftp://localhost"}, "want http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runHookd(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
