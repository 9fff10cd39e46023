package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/store"
)

// suppressionsResponse is the body of GET /suppressions.
type suppressionsResponse struct {
	Suppressions []store.Suppression `json:"suppressions"`
	Next         string              `json:"next"`
}

// suppressions serves GET /suppressions: one page of hookd's suppression
// list (the addresses the email and mailjet_send actions skip), in address
// order.
//
// Parameters, both optional: limit, the page size, 100 by default and at
// most 1000; cursor, the next of the previous page.
//
// The body is {"suppressions": [{"email","reason","rule","event_id","created"}],
// "next": "CURSOR"}, next empty on the last page.
func (h *handler) suppressions(c echo.Context) error {
	p, err := params(c, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := parseLimit(p["limit"])
	if err != nil {
		return err
	}
	page, err := h.st.Suppressions(c.Request().Context(), limit, p["cursor"])
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, suppressionsResponse{Suppressions: page.Suppressions, Next: page.Next})
}

// unsuppress serves DELETE /suppressions/:email: the address (any case,
// percent-escaped as needed) leaves the list, so email and mailjet_send
// send to it again. The body is {"removed": "EMAIL"}, or 404 when the
// address is not on the list.
func (h *handler) unsuppress(c echo.Context) error {
	if _, err := params(c); err != nil {
		return err
	}
	email, err := url.PathUnescape(c.Param("email"))
	if err != nil {
		return badRequest("email: %v", err)
	}
	if email == "" || !strings.Contains(email, "@") {
		return badRequest("email: %q is not an address", email)
	}
	if err := h.st.Unsuppress(c.Request().Context(), email); errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("%s is not suppressed", strings.ToLower(email)))
	} else if err != nil {
		return err
	}
	h.logger.Info("suppression removed", "email", strings.ToLower(email), "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, map[string]string{"removed": strings.ToLower(email)})
}
