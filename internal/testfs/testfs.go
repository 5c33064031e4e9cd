// Package testfs gives tests small real filesystems to fill up or make
// read-only: a tmpfs of a given size mounted on a temporary directory. It
// needs root (CI runs as root); elsewhere the test is skipped, except under
// CI=true, where it fails, so that CI never passes without running it.
package testfs

import (
	"os"
	"testing"
)

// requireRoot skips t when the process is not root, or fails it under
// CI=true.
func requireRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s needs root, and CI runs tests as root: run it as root", what)
	}
	t.Skipf("%s needs root (CI runs it as root)", what)
}
