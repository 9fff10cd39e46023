package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hookd/hookd/internal/mjapi"
)

// mjCall is one request the Mailjet stand-in received.
type mjCall struct {
	Method, Path, Body string
}

func (c mjCall) String() string { return c.Method + " " + c.Path + " " + c.Body }

// mjStandIn stands in for Mailjet's API on loopback: it keeps event
// callback URLs (GET, POST, PUT, DELETE /v3/REST/eventcallbackurl), accepts
// /v3.1/send (each message a success), managecontact and contact updates,
// checks basic auth against key:secret, and records every request.
type mjStandIn struct {
	*httptest.Server
	key, secret string

	mu        sync.Mutex
	calls     []mjCall
	callbacks []mjapi.Callback
	nextID    int64
	// fail, when set, answers a request with its code and body instead.
	fail func(method, path, body string) (code int, answer string)
}

func newMJStandIn(t *testing.T, key, secret string) *mjStandIn {
	t.Helper()
	m := &mjStandIn{key: key, secret: secret, nextID: 100}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

// Calls returns the requests so far, in order.
func (m *mjStandIn) Calls() []mjCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mjCall(nil), m.calls...)
}

// Reset forgets the requests so far.
func (m *mjStandIn) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = nil
}

func (m *mjStandIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, mjCall{r.Method, path, string(body)})
	w.Header().Set("Content-Type", "application/json")
	if u, p, ok := r.BasicAuth(); !ok || u != m.key || p != m.secret {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"ErrorInfo":"","ErrorMessage":"API key authentication/authorization failure","StatusCode":401}`)
		return
	}
	if m.fail != nil {
		if code, b := m.fail(r.Method, r.URL.Path, string(body)); code != 0 {
			w.WriteHeader(code)
			io.WriteString(w, b)
			return
		}
	}
	switch {
	case r.Method == "GET" && r.URL.Path == mjapi.CallbackPath:
		json.NewEncoder(w).Encode(map[string]any{"Count": len(m.callbacks), "Data": m.callbacks, "Total": len(m.callbacks)})
	case r.Method == "POST" && r.URL.Path == mjapi.CallbackPath:
		var cb mjapi.Callback
		json.Unmarshal(body, &cb)
		m.nextID++
		cb.ID = m.nextID
		if cb.Status == "" {
			cb.Status = "alive"
		}
		m.callbacks = append(m.callbacks, cb)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"Count": 1, "Data": []mjapi.Callback{cb}, "Total": 1})
	case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, mjapi.CallbackPath+"/"):
		id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, mjapi.CallbackPath+"/"), 10, 64)
		for i := range m.callbacks {
			if m.callbacks[i].ID == id {
				var upd map[string]any
				json.Unmarshal(body, &upd)
				// As Mailjet's Event API guide tells: a suspended
				// record is reactivated by a new URL, not by a PUT of
				// its Status alone.
				if v, ok := upd["Url"].(string); ok && v != m.callbacks[i].URL {
					m.callbacks[i].URL = v
					m.callbacks[i].Status = "alive"
				}
				if v, ok := upd["Version"].(float64); ok {
					m.callbacks[i].Version = int(v)
				}
				if v, ok := upd["Status"].(string); ok && v == "dead" {
					m.callbacks[i].Status = v
				}
				json.NewEncoder(w).Encode(map[string]any{"Count": 1, "Data": []mjapi.Callback{m.callbacks[i]}, "Total": 1})
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"ErrorMessage":"Object not found","StatusCode":404}`)
	case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, mjapi.CallbackPath+"/"):
		id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, mjapi.CallbackPath+"/"), 10, 64)
		i := slices.IndexFunc(m.callbacks, func(cb mjapi.Callback) bool { return cb.ID == id })
		if i < 0 {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"ErrorMessage":"Object not found","StatusCode":404}`)
			return
		}
		m.callbacks = slices.Delete(m.callbacks, i, i+1)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == "POST" && r.URL.Path == "/v3.1/send":
		var req struct{ Messages []json.RawMessage }
		json.Unmarshal(body, &req)
		var out []string
		for i := range req.Messages {
			out = append(out, fmt.Sprintf(`{"Status":"success","To":[{"MessageID":%d}]}`, 1000+i))
		}
		fmt.Fprintf(w, `{"Messages":[%s]}`, strings.Join(out, ","))
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/v3/REST/contactslist/") && strings.HasSuffix(r.URL.Path, "/managecontact"):
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"Count":1,"Data":[%s],"Total":1}`, body)
	case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/v3/REST/contact/"):
		fmt.Fprintf(w, `{"Count":1,"Data":[%s],"Total":1}`, body)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"ErrorMessage":"no such resource in the stand-in","StatusCode":404}`)
	}
}
