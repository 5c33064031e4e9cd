package chaos_test

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes a worker process end when the test process does, even
// when the test binary is killed (go test -timeout) before its cleanups run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
