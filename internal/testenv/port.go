package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that no other test process on the machine has been given (see
// FindFreePort). Another program may still take it before the caller binds
// it, so callers that can should retry with a new port when binding fails.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := FindFreePort()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return port
}

// FindFreePort is FreePort for programs that are not tests, such as the
// benchmark: it returns an error instead of failing a test.
//
// The kernel hands out a free port, then forgets it once the probe closes:
// with test binaries running in parallel, two of them were given one port
// in the same moment, and one's server answered the other's readiness
// probe. So a port is also reserved, for the life of this process, by a
// file named after it in a directory every test process shares; a port
// reserved by a process that is still alive is skipped.
func FindFreePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		reserved, err := reservePort(port)
		if cerr := l.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		if reserved {
			return port, nil
		}
	}
	return 0, errors.New("finding a free port: every port offered is reserved by another test process")
}

// portsDir holds a file per reserved port, holding its process's ID.
var portsDir = filepath.Join(os.TempDir(), "reliapi-test-ports")

// reservePort reserves port for this process; false when a live process
// holds it. The file of a process that is gone is taken over.
func reservePort(port int) (bool, error) {
	if err := os.MkdirAll(portsDir, 0o777); err != nil {
		return false, err
	}
	path := filepath.Join(portsDir, strconv.Itoa(port))
	for range 2 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
		if err == nil {
			_, err = f.WriteString(strconv.Itoa(os.Getpid()))
			return true, errors.Join(err, f.Close())
		}
		if !errors.Is(err, os.ErrExist) {
			return false, err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue // its holder is replacing it, or it was just removed
		}
		pid, err := strconv.Atoi(string(data))
		if err != nil || pid == os.Getpid() || alive(pid) {
			return false, nil // held (or being written)
		}
		os.Remove(path) // its process is gone
	}
	return false, nil
}

// alive reports whether a process with this ID exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
