//go:build !linux

package chaos_test

import "os/exec"

// dieWithParent: only Linux can tie a child's life to its parent's; elsewhere
// the test's cleanups stop the worker processes.
func dieWithParent(*exec.Cmd) {}
