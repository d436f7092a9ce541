package testenv

import (
	"fmt"
	"net"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the caller binds it, so callers that
// can should retry with a new port when binding fails.
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
func FindFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	return port, nil
}
