package event

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckField(t *testing.T) {
	tests := []struct {
		name, v, wantErr string
	}{
		{name: "empty", v: ""},
		{name: "at the limit", v: strings.Repeat("x", 10)},
		{name: "one over", v: strings.Repeat("x", 11), wantErr: "f is 11 bytes; at most 10 allowed"},
		{name: "invalid UTF-8", v: "ab\xffc", wantErr: "f is not valid UTF-8"},
		{name: "replacement character is valid", v: "a\uFFFDb"},
		{name: "carriage return", v: "a\rb", wantErr: "f contains a control character (U+000D at byte 1)"},
		{name: "space and punctuation are fine", v: "a b.c*>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckField("f", tt.v, 10)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tt.wantErr)
			assert.True(t, errors.Is(err, ErrOutOfBounds))
		})
	}
}

func TestCheckBoundsNames(t *testing.T) {
	ev := &Event{Action: "a", Tenant: strings.Repeat("t", MaxTenantLen+1)}
	assert.EqualError(t, ev.CheckBounds(nil), "tenant is 129 bytes; at most 128 allowed")
	assert.EqualError(t, ev.CheckBounds(map[string]string{"tenant": "organization_id"}),
		"organization_id is 129 bytes; at most 128 allowed")
	assert.NoError(t, (&Event{Action: strings.Repeat("a", MaxActionLen), ChatID: strings.Repeat("c", MaxIDLen)}).CheckBounds(nil))
}
