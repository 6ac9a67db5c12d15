//go:build unix && !linux

package localstack

import (
	"errors"
	"syscall"
)

// sysProcAttr puts the child in its own process group, so that Stop can
// signal everything it runs. Only Linux can also have the kernel kill it
// when the parent dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// ownsListener cannot tell without /proc; callers trust the answer.
func ownsListener(pid, port int) (bool, error) {
	return false, errors.ErrUnsupported
}
