package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestQuantity(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		one, many string
		want      string
	}{
		{"none", 0, "record", "records", "0 records"},
		{"one", 1, "record", "records", "1 record"},
		{"two", 2, "record", "records", "2 records"},
		{"minus one", -1, "chat", "chats", "-1 chats"},
		{"two words", 1, "event file", "event files", "1 event file"},
		{"irregular plural", 2, "dead letter", "dead letters", "2 dead letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, quantity(tt.n, tt.one, tt.many))
		})
	}
}
