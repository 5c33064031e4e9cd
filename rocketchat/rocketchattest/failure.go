package rocketchattest

import (
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/rocketchat"
)

// Failure is an injected fault, armed with Server.FailNext.
//
// Hang, when set, delays the answer first. Then, if Status, Error or RawBody
// is set, the call is answered {"success":false,"error":Error,
// "errorType":ErrorType} with Status (400 when 0; 200 makes a success:false
// answer); otherwise it is served normally.
type Failure struct {
	Status    int
	Error     string
	ErrorType string
	// RetryAfter, when positive, is sent as Retry-After (and, on a 429, as
	// X-RateLimit-Reset with X-RateLimit-Remaining 0).
	RetryAfter time.Duration
	Hang       time.Duration
	// RawBody is sent verbatim (502 unless Status says otherwise).
	RawBody string
}

func (f Failure) isError() bool { return f.Status != 0 || f.Error != "" || f.RawBody != "" }

// TooManyRequests is the REST limiter's 429, resetting after wait.
func TooManyRequests(wait time.Duration) Failure {
	return Failure{Status: http.StatusTooManyRequests, RetryAfter: wait,
		Error: "Error, too many requests. Please slow down. You must wait a while before trying this endpoint again. [" +
			rocketchat.TypeTooManyRequests + "]"}
}

// ServerError is a 500.
func ServerError() Failure {
	return Failure{Status: http.StatusInternalServerError, Error: "Internal server error"}
}

// ServiceUnavailable is a proxy's 503 page.
func ServiceUnavailable() Failure {
	return Failure{Status: http.StatusServiceUnavailable, RawBody: "<html><body>503 Service Unavailable</body></html>"}
}

// Hang delays the answer by d, then serves the call normally.
func Hang(d time.Duration) Failure { return Failure{Hang: d} }

// InvalidParams is a 400 invalid-params with msg.
func InvalidParams(msg string) Failure {
	return Failure{Status: http.StatusBadRequest, Error: msg + " [invalid-params]", ErrorType: rocketchat.TypeInvalidParams}
}

// Error is a 400 whose "error" is errType alone, as room.closeByUser answers
// ({"success":false,"error":"error-room-already-closed"}).
func Error(errType string) Failure { return Failure{Status: http.StatusBadRequest, Error: errType} }

// SuccessFalse is a 200 whose body says success:false, error errType.
func SuccessFalse(errType string) Failure {
	return Failure{Status: http.StatusOK, Error: errType}
}
