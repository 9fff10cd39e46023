package log_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/hookd/hookd/actions"
	logaction "github.com/hookd/hookd/actions/log"
	"github.com/hookd/hookd/rules"
)

func TestDo(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		want   map[string]any // the line's JSON without time; nil: no line
	}{
		{
			name:   "defaults",
			params: map[string]any{},
			want:   map[string]any{"level": "INFO", "msg": "rule matched", "rule": "bounces", "key": "bounces/0/ev1", "event_id": "ev1"},
		},
		{
			name: "message, level and fields",
			params: map[string]any{
				"message": "a@example.com bounced",
				"level":   "warn",
				"fields": map[string]any{
					"email": "a@example.com", "list": json.Number("12345678901234567890"), "hard": true,
					"tags": []any{"bounce", "hard"}, "none": nil, "nested": map[string]any{"code": "5.1.1"},
				},
			},
			want: map[string]any{
				"level": "WARN", "msg": "a@example.com bounced", "rule": "bounces", "key": "bounces/0/ev1", "event_id": "ev1",
				"email": "a@example.com", "list": json.Number("12345678901234567890"), "hard": true,
				"tags": []any{"bounce", "hard"}, "none": nil, "nested": map[string]any{"code": "5.1.1"},
			},
		},
		{
			name:   "error",
			params: map[string]any{"level": "error", "message": "bounce"},
			want:   map[string]any{"level": "ERROR", "msg": "bounce", "rule": "bounces", "key": "bounces/0/ev1", "event_id": "ev1"},
		},
		{
			name:   "below the logger's level",
			params: map[string]any{"level": "debug"},
		},
	}
	kind, err := actions.Lookup(logaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			err := kind.Action().Do(t.Context(), actions.Call{
				Key: "bounces/0/ev1", Attempt: 1, Rule: "bounces", EventID: "ev1",
				Params: tt.params, Event: json.RawMessage(`{"id":"ev1"}`), Logger: logger,
			})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if tt.want == nil {
				if buf.Len() != 0 {
					t.Fatalf("logged %s, want nothing", buf.String())
				}
				return
			}
			if n := strings.Count(buf.String(), "\n"); n != 1 {
				t.Fatalf("logged %d lines, want 1:\n%s", n, buf.String())
			}
			var got map[string]any
			dec := json.NewDecoder(&buf)
			dec.UseNumber()
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if _, ok := got["time"]; !ok {
				t.Error("the line has no time")
			}
			delete(got, "time")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("line = %v\nwant   %v", got, tt.want)
			}
		})
	}
}

// TestDoWithoutLogger checks that a call without a logger logs nowhere
// and succeeds.
func TestDoWithoutLogger(t *testing.T) {
	kind, _ := actions.Lookup(logaction.Name)
	if err := kind.Action().Do(t.Context(), actions.Call{Key: "k", Params: map[string]any{"message": "x"}}); err != nil {
		t.Fatalf("Do: %v", err)
	}
}

func TestTarget(t *testing.T) {
	kind, _ := actions.Lookup(logaction.Name)
	if got := kind.Target(map[string]any{"message": "x"}); got != "log" {
		t.Errorf("Target = %q, want log", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		params    map[string]any
		wantParam string // "": valid
		wantErr   string
	}{
		{"none", map[string]any{}, "", ""},
		{"everything", map[string]any{"message": "{{ .email }} bounced", "level": "WARN", "fields": map[string]any{"email": "{{ .email }}", "n": int64(1)}}, "", ""},
		{"message not text", map[string]any{"message": []any{"a"}}, "message", "want text"},
		{"level", map[string]any{"level": "fatal"}, "level", "want debug, info, warn or error"},
		{"level template", map[string]any{"level": "{{ .level }}"}, "level", "must not be a template"},
		{"fields not a mapping", map[string]any{"fields": []any{"a"}}, "fields", "want a mapping"},
		{"reserved field", map[string]any{"fields": map[string]any{"rule": "x"}}, "fields.rule", "reserved"},
		{"slog's field", map[string]any{"fields": map[string]any{"msg": "x"}}, "fields.msg", "reserved"},
		{"unknown", map[string]any{"tags": []any{"a"}}, "tags", "unknown parameter (want message, level, fields)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := actions.Validate(logaction.Name, tt.params)
			if tt.wantParam == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var pe *rules.ParamError
			if !errors.As(err, &pe) || pe.Param != tt.wantParam || !strings.Contains(pe.Err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want a ParamError at %s containing %q", err, tt.wantParam, tt.wantErr)
			}
		})
	}
}
