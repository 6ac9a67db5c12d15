package localstack

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr puts the child in its own process group, so that Stop can
// signal everything it runs and a Ctrl-C meant for the parent does not
// reach it first, and has the kernel kill it when the parent dies.
//
// Pdeathsig fires when the OS thread that forked the child exits; the Go
// runtime only ends threads that a goroutine locked and never unlocked,
// which the goroutines calling Start do not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// tcpListener is a listening TCP socket from /proc/net/tcp{,6}.
type tcpListener struct {
	Addr  netip.Addr
	inode string
}

// tcpListeners returns the sockets of this network namespace that listen
// on port.
func tcpListeners(port int) ([]tcpListener, error) {
	var out []tcpListener
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return nil, err
		}
		lines := strings.Split(string(b), "\n")
		for _, line := range lines[1:] {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A is TCP_LISTEN
				continue
			}
			host, portHex, ok := strings.Cut(f[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseUint(portHex, 16, 16); err != nil || int(p) != port {
				continue
			}
			addr, err := parseProcAddr(host)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			out = append(out, tcpListener{Addr: addr, inode: f[9]})
		}
	}
	return out, nil
}

// parseProcAddr decodes an address as /proc/net/tcp{,6} prints it: hex of
// 32-bit words, each in host (little-endian) byte order.
func parseProcAddr(s string) (netip.Addr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr.Unmap(), nil
}

// ownsListener reports whether process pid holds a socket listening on port.
func ownsListener(pid, port int) (bool, error) {
	ls, err := tcpListeners(port)
	if err != nil {
		return false, err
	}
	if len(ls) == 0 {
		return false, nil
	}
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return false, err
	}
	inodes := make(map[string]bool)
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if inode, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	for _, l := range ls {
		if inodes[l.inode] {
			return true, nil
		}
	}
	return false, nil
}
