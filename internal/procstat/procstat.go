// Package procstat reads a process's resident memory from Linux's /proc, for
// the benchmarks that report it.
package procstat

import (
	"os"
	"strconv"
	"strings"
)

// Self is the pid argument of Resident that names the calling process.
const Self = 0

// Resident returns the resident set size in bytes of process pid (Self: this
// process), or 0 where it cannot be read (not Linux, the process is gone).
func Resident(pid int) int64 {
	name := "self"
	if pid != Self {
		name = strconv.Itoa(pid)
	}
	data, err := os.ReadFile("/proc/" + name + "/status")
	if err != nil {
		return 0
	}
	n, _ := ParseResident(string(data))
	return n
}

// ParseResident returns the VmRSS line of a /proc/<pid>/status text in bytes,
// and whether there was a readable one.
func ParseResident(status string) (int64, bool) {
	for line := range strings.SplitSeq(status, "\n") {
		v, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil || kb < 0 {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}
