package procstat

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseResident(t *testing.T) {
	for name, tc := range map[string]struct {
		status string
		want   int64
		ok     bool
	}{
		"linux status": {status: "Name:\tcat\nVmPeak:\t  8000 kB\nVmRSS:\t    1234 kB\nRssAnon:\t 100 kB\n", want: 1234 << 10, ok: true},
		"no VmRSS":     {status: "Name:\tkthreadd\nState:\tS (sleeping)\n"},
		"garbled":      {status: "VmRSS:\tlots kB\n"},
		"negative":     {status: "VmRSS:\t-5 kB\n"},
		"empty":        {},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := ParseResident(tc.status)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestResident(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	self := Resident(Self)
	assert.Greater(t, self, int64(1<<20), "this test process uses more than 1 MB")
	assert.InDelta(t, self, Resident(os.Getpid()), float64(self)/2, "by pid, the same process")
	assert.Zero(t, Resident(1<<30), "no such process")
}
