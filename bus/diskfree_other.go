//go:build !(linux || darwin || freebsd)

package bus

import "errors"

// diskFree is not known on this system.
func diskFree(string) (int64, error) {
	return 0, errors.New("free disk space is not known on this system")
}
