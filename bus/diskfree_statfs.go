//go:build linux || darwin || freebsd

package bus

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// diskFree is the space available to this (unprivileged) process on the
// filesystem holding dir, in bytes.
func diskFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil //nolint:gosec // a filesystem's size fits in int64
}
