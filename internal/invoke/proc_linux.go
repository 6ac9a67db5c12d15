package invoke

import "syscall"

// sysProcAttr puts the emulator in its own process group, so that Stop
// ends the bootstrap it starts too, and has the kernel kill it if this
// process dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
