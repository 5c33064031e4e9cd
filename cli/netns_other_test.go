//go:build !linux

package cli

import (
	"errors"
	"testing"
)

// runInNetNS reports that network namespaces are Linux's only.
func runInNetNS(t *testing.T, name string) (started bool, output string, err error) {
	return false, "", errors.New("network namespaces are Linux only")
}

// loopbackUp is never called outside Linux: runInNetNS starts nothing there.
func loopbackUp() error { return errors.New("network namespaces are Linux only") }

// portHolder cannot tell outside Linux.
func portHolder(int) string { return "unknown (not Linux)" }
