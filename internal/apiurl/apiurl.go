// Package apiurl validates the base URLs of the platform API clients.
package apiurl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Parse checks that u is an absolute http(s) URL with a host and without
// user info, query or fragment, and returns it with any trailing slash of its
// path removed, so that request paths can be appended. Errors say what is
// wrong, without naming the option (callers wrap them), and show the URL
// with any password redacted.
func Parse(u string) (*url.URL, error) {
	parsed, err := url.Parse(strings.TrimSpace(u))
	if err != nil {
		return nil, fmt.Errorf("not a valid URL: %v", errors.Unwrap(err))
	}
	shown := parsed.Redacted()
	switch {
	case parsed.Scheme != "http" && parsed.Scheme != "https":
		return nil, fmt.Errorf("%q: scheme must be http or https", shown)
	case parsed.Host == "":
		return nil, fmt.Errorf("%q: missing host", shown)
	case parsed.RawQuery != "" || parsed.Fragment != "" || parsed.User != nil:
		return nil, fmt.Errorf("%q: must not have user info, query or fragment", shown)
	}
	parsed.Path = strings.TrimRight(parsed.Path, "/")
	parsed.RawPath = ""
	return parsed, nil
}
