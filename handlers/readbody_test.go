package handlers

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReadBody(t *testing.T) {
	const limit = 8
	for _, tc := range []struct {
		name          string
		body          string
		contentLength int64 // -1: chunked (length unknown)
		want          string
		tooLarge      bool
		err           bool
	}{
		{name: "declared, within the limit", body: "12345", contentLength: 5, want: "12345"},
		{name: "declared, at the limit", body: "12345678", contentLength: 8, want: "12345678"},
		{name: "declared, empty", body: "", contentLength: 0, want: ""},
		{name: "declared, over the limit: not read", body: "123456789", contentLength: 9, tooLarge: true},
		{name: "declared longer than sent", body: "123", contentLength: 5, err: true},
		{name: "chunked, within the limit", body: "1234", contentLength: -1, want: "1234"},
		{name: "chunked, at the limit", body: "12345678", contentLength: -1, want: "12345678"},
		{name: "chunked, over the limit", body: "123456789", contentLength: -1, tooLarge: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/webhooks/livechat", io.NopCloser(strings.NewReader(tc.body)))
			r.ContentLength = tc.contentLength
			body, tooLarge, err := readBody(r, limit)
			assert.Equal(t, tc.tooLarge, tooLarge, "tooLarge")
			assert.Equal(t, tc.err, err != nil, "error: %v", err)
			if !tc.tooLarge && !tc.err {
				assert.Equal(t, tc.want, string(body))
			}
		})
	}
}
