package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/dlq"
)

// DeadLetters are the dead-letter operations the admin API exposes;
// *dlq.Store implements them, and so the CLI and the API behave the same.
type DeadLetters interface {
	List(ctx context.Context, f dlq.Filter) ([]dlq.DeadLetter, error)
	Get(ctx context.Context, ref string) (*dlq.Detail, error)
	Retry(ctx context.Context, ref string, dryRun bool) (dlq.Result, error)
	RetryAll(ctx context.Context, f dlq.Filter, dryRun bool) (*dlq.Report, error)
	Purge(ctx context.Context, ref string, dryRun bool) (dlq.Result, error)
	PurgeOlderThan(ctx context.Context, age time.Duration, dryRun bool) (*dlq.Report, error)
}

var _ DeadLetters = (*dlq.Store)(nil)

// adminTimeout bounds one admin operation. It is detached from the request,
// so a client that hangs up does not interrupt a retry between the republish
// and the removal of the dead letter.
const adminTimeout = 30 * time.Second

// adminDisabled is the answer of every /admin/ route when no token is set.
const adminDisabled = "the admin API is disabled: set admin.token (e.g. token: \"${CHATWARDEN_ADMIN_TOKEN}\" under admin:) to enable it"

// adminAuth admits requests carrying "Authorization: Bearer <token>". The
// token is compared in constant time (over SHA-256 digests, so its length
// does not leak either). Without a token configured every admin request is
// refused with 403 and a message saying how to enable the API; a missing or
// wrong token is answered 401.
func adminAuth(token string, logger *zap.Logger) echo.MiddlewareFunc {
	want := sha256.Sum256([]byte(token))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if token == "" {
				return echo.NewHTTPError(http.StatusForbidden, adminDisabled)
			}
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			const scheme = "bearer "
			var got [sha256.Size]byte
			ok := len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme)
			if ok {
				got = sha256.Sum256([]byte(strings.TrimSpace(h[len(scheme):])))
			}
			if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				logger.Warn("admin request refused: missing or wrong bearer token",
					zap.String("method", c.Request().Method), zap.String("path", c.Request().URL.Path),
					zap.String("remote", c.RealIP()))
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="chatwarden admin"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong bearer token: send Authorization: Bearer <admin.token>")
			}
			return next(c)
		}
	}
}

// listDeadLetters answers GET /admin/dlq?reason=&since= with a dlq.Listing.
func listDeadLetters(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		f, err := dlqFilter(c, d.Now())
		if err != nil {
			return err
		}
		ctx, cancel := contextWithTimeout(c, adminTimeout)
		defer cancel()
		dls, err := d.DeadLetters.List(ctx, f)
		if err != nil {
			return dlqHTTPError(err)
		}
		return c.JSON(http.StatusOK, dlq.NewListing(dls))
	}
}

// getDeadLetter answers GET /admin/dlq/:id with a dlq.Detail.
func getDeadLetter(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := contextWithTimeout(c, adminTimeout)
		defer cancel()
		det, err := d.DeadLetters.Get(ctx, c.Param("id"))
		if err != nil {
			return dlqHTTPError(err)
		}
		return c.JSON(http.StatusOK, det)
	}
}

// retryDeadLetter answers POST /admin/dlq/:id/retry?dry_run= with a
// dlq.Result.
func retryDeadLetter(d Deps) echo.HandlerFunc { return oneDeadLetter(d.DeadLetters.Retry) }

// oneDeadLetter answers an operation on the dead letter :id (with the
// dry_run parameter) with its dlq.Result.
func oneDeadLetter(op func(ctx context.Context, ref string, dryRun bool) (dlq.Result, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		dryRun, err := dryRunParam(c)
		if err != nil {
			return err
		}
		ctx, cancel := contextWithTimeout(c, adminTimeout)
		defer cancel()
		res, err := op(ctx, c.Param("id"), dryRun)
		if err != nil {
			return dlqHTTPError(err)
		}
		return c.JSON(http.StatusOK, res)
	}
}

// retryAllDeadLetters answers POST /admin/dlq/retry?dry_run=&reason=&since=
// with a dlq.Report.
func retryAllDeadLetters(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		dryRun, err := dryRunParam(c)
		if err != nil {
			return err
		}
		f, err := dlqFilter(c, d.Now())
		if err != nil {
			return err
		}
		ctx, cancel := contextWithTimeout(c, adminTimeout)
		defer cancel()
		rep, err := d.DeadLetters.RetryAll(ctx, f, dryRun)
		return reportAnswer(c, d.Logger, rep, err)
	}
}

// purgeDeadLetter answers DELETE /admin/dlq/:id?dry_run= with a dlq.Result.
func purgeDeadLetter(d Deps) echo.HandlerFunc { return oneDeadLetter(d.DeadLetters.Purge) }

// purgeOldDeadLetters answers DELETE /admin/dlq?older_than=&dry_run= with a
// dlq.Report. older_than is required, so a bare DELETE never empties the
// stream.
func purgeOldDeadLetters(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		dryRun, err := dryRunParam(c)
		if err != nil {
			return err
		}
		raw := c.QueryParam("older_than")
		if raw == "" {
			return echo.NewHTTPError(http.StatusBadRequest,
				"older_than is required (e.g. DELETE /admin/dlq?older_than=24h); to remove one dead letter use DELETE /admin/dlq/{seq}")
		}
		age, err := dlq.ParseAge(raw)
		if err != nil {
			return dlqHTTPError(err)
		}
		ctx, cancel := contextWithTimeout(c, adminTimeout)
		defer cancel()
		rep, err := d.DeadLetters.PurgeOlderThan(ctx, age, dryRun)
		return reportAnswer(c, d.Logger, rep, err)
	}
}

// reportAnswer answers a bulk operation: 200 with the report, or, when it
// stopped at a failure, 500 with the report so far and the error.
func reportAnswer(c echo.Context, logger *zap.Logger, rep *dlq.Report, err error) error {
	if rep == nil {
		return dlqHTTPError(err)
	}
	if err != nil {
		logger.Error("admin dead-letter operation stopped", zap.String("path", c.Path()), zap.Error(err))
		return c.JSON(http.StatusInternalServerError, struct {
			*dlq.Report
			Error string `json:"error"`
		}{rep, err.Error()})
	}
	return c.JSON(http.StatusOK, rep)
}

func dlqFilter(c echo.Context, now time.Time) (dlq.Filter, error) {
	f := dlq.Filter{Reason: c.QueryParam("reason")}
	if s := c.QueryParam("since"); s != "" {
		t, err := dlq.ParseSince(s, now)
		if err != nil {
			return f, dlqHTTPError(err)
		}
		f.Since = t
	}
	if err := f.Validate(); err != nil {
		return f, dlqHTTPError(err)
	}
	return f, nil
}

func dryRunParam(c echo.Context) (bool, error) {
	s := c.QueryParam("dry_run")
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, echo.NewHTTPError(http.StatusBadRequest, "dry_run: want true or false, got "+strconv.Quote(s))
	}
	return v, nil
}

// dlqHTTPError maps the dlq package's errors to statuses: 400 bad input,
// 404 unknown dead letter, 409 ambiguous or not retryable, 503 no stream,
// 500 anything else (logged).
func dlqHTTPError(err error) error {
	code := http.StatusInternalServerError
	msg := err.Error()
	switch {
	case errors.Is(err, dlq.ErrInvalidArgument):
		code = http.StatusBadRequest
	case errors.Is(err, dlq.ErrNotFound):
		code, msg = http.StatusNotFound, msg+"; see GET /admin/dlq"
	case errors.Is(err, dlq.ErrAmbiguous), errors.Is(err, dlq.ErrNotRetryable):
		code = http.StatusConflict
	case errors.Is(err, dlq.ErrNoStream):
		code = http.StatusServiceUnavailable
	}
	return echo.NewHTTPError(code, msg).SetInternal(err)
}
