package dlq

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseAge parses a duration for "older than" and "since": a Go duration
// ("90m", "24h") or a whole number of days ("7d"). It must be positive.
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%w: duration %q: want e.g. 30m, 24h or 7d", ErrInvalidArgument, s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%w: duration %q: want e.g. 30m, 24h or 7d", ErrInvalidArgument, s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%w: duration %q: want a positive duration", ErrInvalidArgument, s)
	}
	return d, nil
}

// ParseSince parses a lower time bound: a duration back from now (see
// ParseAge: "24h", "7d"), an RFC 3339 time ("2026-05-01T12:00:00Z") or a
// date ("2026-05-01", midnight UTC).
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := ParseAge(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: since %q: want a duration (24h, 7d), an RFC 3339 time (2026-05-01T12:00:00Z) or a date (2026-05-01)",
			ErrInvalidArgument, s)
	}
	return now.Add(-d), nil
}
