package handlers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/chatwarden/chatwarden/console"
	"github.com/chatwarden/chatwarden/dlq"
)

// Console answers the web console's API; *console.Console implements it.
type Console interface {
	Overview(ctx context.Context) (*console.Overview, error)
	Recent(ctx context.Context, q console.RecentQuery) (*console.Page, error)
	Timeline(ctx context.Context, q console.TimelineQuery) (*console.Timeline, error)
	Rules(ctx context.Context, since time.Time) (*console.RuleSet, error)
}

var _ Console = (*console.Console)(nil)

// consoleTimeout bounds one console read. It follows the request: a reader
// who navigates away cancels the read.
const consoleTimeout = 30 * time.Second

// consoleHeaders are set on the console's static files: no inline script or
// style, no framing, nothing loaded from elsewhere, no referrer.
var consoleHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"X-Frame-Options":        "DENY",
	"Cache-Control":          "no-cache",
}

// consoleStatic serves the console's page (GET /ui/ and its files). The page
// carries no data, so it is served without the admin token; every call it
// makes to /admin/ sends it.
func consoleStatic(files fs.FS) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := path.Clean("/" + c.Param("*"))[1:]
		if name == "" {
			name = "index.html"
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return echo.NewHTTPError(http.StatusNotFound, "no such file in the console: "+strconv.Quote(name))
		}
		h := c.Response().Header()
		for k, v := range consoleHeaders {
			h.Set(k, v)
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = echo.MIMEOctetStream
		}
		return c.Blob(http.StatusOK, ct, data)
	}
}

// consoleOverview answers GET /admin/api/overview with a console.Overview.
func consoleOverview(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), consoleTimeout)
		defer cancel()
		o, err := d.Console.Overview(ctx)
		if err != nil {
			return consoleHTTPError(err)
		}
		return c.JSON(http.StatusOK, o)
	}
}

// consoleEvents answers GET /admin/api/events?limit=&platform=&action=&since=
// with a console.Page, newest first.
func consoleEvents(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := console.RecentQuery{Platform: c.QueryParam("platform"), Action: c.QueryParam("action")}
		if s := c.QueryParam("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > console.MaxLimit {
				return echo.NewHTTPError(http.StatusBadRequest,
					fmt.Sprintf("limit: want a number from 1 to %d, got %q", console.MaxLimit, s))
			}
			q.Limit = n
		}
		var err error
		if q.Since, err = sinceParam(c, d.Now(), time.Time{}); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), consoleTimeout)
		defer cancel()
		page, err := d.Console.Recent(ctx, q)
		if err != nil {
			return consoleHTTPError(err)
		}
		return c.JSON(http.StatusOK, page)
	}
}

// consoleTimeline answers GET /admin/api/timeline?chat_id=&platform=&since=
// with a console.Timeline, oldest first.
func consoleTimeline(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := console.TimelineQuery{ChatID: c.QueryParam("chat_id"), Platform: c.QueryParam("platform")}
		var err error
		if q.Since, err = sinceParam(c, d.Now(), time.Time{}); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), consoleTimeout)
		defer cancel()
		t, err := d.Console.Timeline(ctx, q)
		if err != nil {
			return consoleHTTPError(err)
		}
		return c.JSON(http.StatusOK, t)
	}
}

// consoleRules answers GET /admin/api/rules?since= with a console.RuleSet.
func consoleRules(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		since, err := sinceParam(c, d.Now(), d.Now().Add(-console.DefaultRulesWindow))
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), consoleTimeout)
		defer cancel()
		set, err := d.Console.Rules(ctx, since)
		if err != nil {
			return consoleHTTPError(err)
		}
		return c.JSON(http.StatusOK, set)
	}
}

// sinceParam reads ?since= as `dlq list --since` does: a duration back from
// now (24h, 7d), a date or an RFC 3339 time; def when absent.
func sinceParam(c echo.Context, now, def time.Time) (time.Time, error) {
	s := c.QueryParam("since")
	if s == "" {
		return def, nil
	}
	t, err := dlq.ParseSince(s, now)
	if err != nil {
		return time.Time{}, echo.NewHTTPError(http.StatusBadRequest, err.Error()).SetInternal(err)
	}
	return t, nil
}

// consoleHTTPError maps the console's errors: 400 bad parameter, 503 no
// stream or no rules, 500 anything else (logged).
func consoleHTTPError(err error) error {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, console.ErrInvalidArgument):
		code = http.StatusBadRequest
	case errors.Is(err, console.ErrNoStream), errors.Is(err, console.ErrNoRules):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	return echo.NewHTTPError(code, err.Error()).SetInternal(err)
}
