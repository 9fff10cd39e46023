package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// ruleJSON is the JSON of one loaded rule.
type ruleJSON struct {
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	When        string       `json:"when"`
	Once        string       `json:"once,omitempty"`
	Cooldown    string       `json:"cooldown,omitempty"`
	Actions     []actionJSON `json:"actions"`
	File        string       `json:"file"`
	Line        int          `json:"line"`
}

// actionJSON is the JSON of one action of a rule.
type actionJSON struct {
	Type  string `json:"type"`
	Retry string `json:"retry"`
	Line  int    `json:"line"`
}

// ruleErrorJSON is the JSON of one problem that keeps the rule files from
// loading.
type ruleErrorJSON struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Rule    string `json:"rule,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// rulesResponse is the body of GET /rules.
type rulesResponse struct {
	Rules   []ruleJSON      `json:"rules"`
	Errors  []ruleErrorJSON `json:"errors"`
	Loaded  time.Time       `json:"loaded,omitzero"`
	Checked time.Time       `json:"checked,omitzero"`
}

// rules serves GET /rules: the rules the server runs and why the rule
// files as last read do not load, if they do not.
//
// It takes no parameters. The body is {"rules": [{"name", "description",
// "when", "once", "cooldown", "actions": [{"type", "retry", "line"}],
// "file", "line"}], "errors": [{"file", "line", "column", "rule", "field",
// "message"}], "loaded": TIME, "checked": TIME}: rules in load order;
// errors empty when the running rules are the files' current contents;
// loaded when the running rules were loaded, checked when the files were
// last read. Without rules configured it is {"rules": [], "errors": []}.
func (h *handler) rules(c echo.Context) error {
	if _, err := params(c); err != nil {
		return err
	}
	resp := rulesResponse{Rules: []ruleJSON{}, Errors: []ruleErrorJSON{}}
	if h.rulesStatus == nil {
		return c.JSON(http.StatusOK, resp)
	}
	st := h.rulesStatus()
	resp.Loaded, resp.Checked = st.Loaded.UTC(), st.Checked.UTC()
	if st.Set != nil {
		for _, r := range st.Set.Rules() {
			rj := ruleJSON{
				Name: r.Name, Description: r.Description, When: r.When, Once: r.Once,
				Actions: make([]actionJSON, len(r.Actions)), File: r.File, Line: r.Line,
			}
			if r.Cooldown > 0 {
				rj.Cooldown = r.Cooldown.String()
			}
			for i, a := range r.Actions {
				rj.Actions[i] = actionJSON{Type: a.Type, Retry: a.Retry.String(), Line: a.Line}
			}
			resp.Rules = append(resp.Rules, rj)
		}
	}
	for _, e := range st.Errors {
		msg := e.Err.Error() + e.Snippet
		resp.Errors = append(resp.Errors, ruleErrorJSON{
			File: e.File, Line: e.Line, Column: e.Column, Rule: e.Rule, Field: e.Field, Message: msg,
		})
	}
	return c.JSON(http.StatusOK, resp)
}
