//go:build !linux

package invoke

import "syscall"

// sysProcAttr puts the emulator in its own process group, so that Stop
// ends the bootstrap it starts too. (The emulator itself runs on Linux
// only.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
