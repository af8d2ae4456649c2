package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// maxFormBytes bounds a form body (the largest is a note or a mail reply).
const maxFormBytes = 1 << 20

// checkInput refuses, with 400, query strings and form bodies that do not
// parse, or whose names or values are not UTF-8 or hold control characters
// other than tab and line breaks (a NUL reaches Postgres as an error, not a
// value). Handlers then read c.QueryParam and c.FormValue without surprises.
func (s *Server) checkInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "the query string does not parse")
		}
		if err := checkValues(q); err != nil {
			return err
		}
		ct := r.Header.Get(echo.HeaderContentType)
		if unsafeMethod(r.Method) && strings.HasPrefix(ct, echo.MIMEApplicationForm) {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				return echo.NewHTTPError(http.StatusBadRequest, "the form does not parse")
			}
			if err := checkValues(r.PostForm); err != nil {
				return err
			}
		}
		return next(c)
	}
}

func checkValues(v url.Values) error {
	for k, vs := range v {
		if err := checkText(k); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("parameter name: %v", err))
		}
		for _, s := range vs {
			if err := checkText(s); err != nil {
				return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("parameter %q: %v", truncate(k, 40), err))
			}
		}
	}
	return nil
}

// checkText accepts UTF-8 text without control characters but tab, CR, LF.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not UTF-8 text")
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
			return fmt.Errorf("holds a control character")
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// queryInt reads an optional integer query parameter within [lo, hi]; absent
// gives def, anything else outside the range or not a number is a 400.
func queryInt(c echo.Context, name string, def, lo, hi int64) (int64, error) {
	v := strings.TrimSpace(c.QueryParam(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, &paramError{Field: name, Msg: fmt.Sprintf("must be a whole number from %d to %d", lo, hi)}
	}
	return n, nil
}

// paramError is a query parameter (or path part) that is not one the
// request can take: a 400 that names the parameter.
type paramError struct {
	Field, Msg string
}

func (e *paramError) Error() string { return e.Field + ": " + e.Msg }

// maxPage bounds page numbers, so an offset never overflows.
const maxPage = 1_000_000
