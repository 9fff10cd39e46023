package listener

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestAcceptedWrite checks that the spelled-out answer is what echo's JSON
// serializer writes.
func TestAcceptedWrite(t *testing.T) {
	e := echo.New()
	for _, a := range []accepted{{}, {Accepted: 1}, {Duplicates: 1}, {Accepted: 6, Duplicates: 1}, {Accepted: 1000, Duplicates: 123456}} {
		got, want := httptest.NewRecorder(), httptest.NewRecorder()
		if err := a.write(e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), got)); err != nil {
			t.Fatal(err)
		}
		if err := e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), want).JSON(http.StatusOK, a); err != nil {
			t.Fatal(err)
		}
		if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("%+v: wrote %d %q %q, want %d %q %q", a, got.Code, got.Header().Get("Content-Type"), got.Body,
				want.Code, want.Header().Get("Content-Type"), want.Body)
		}
		var back accepted
		if err := json.Unmarshal(got.Body.Bytes(), &back); err != nil || back != a {
			t.Errorf("%+v: body decodes to %+v, %v", a, back, err)
		}
	}
}
