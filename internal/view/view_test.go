package view

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"text", []byte(`{"a":1}`)},
		{"invalid UTF-8", []byte{0xff, 0x00, 'x'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, string(tc.in), String(tc.in))
		})
	}
	b := []byte("abc")
	s := String(b)
	b[0] = 'x'
	assert.Equal(t, "xbc", s, "shares the slice's memory (no copy)")
}
