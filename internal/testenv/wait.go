package testenv

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond every few milliseconds until it holds, and fails
// the test when it still does not after bound. Tests wait with it (or on a
// signal), never with a bare sleep.
func Eventually(tb testing.TB, bound time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			tb.Fatalf("timed out after %v waiting for %s", bound, what)
		case <-tick.C:
		}
	}
}

// Buffer is a bytes.Buffer safe for concurrent use: a place for a process's
// output or a logger's lines that a test reads while they are written.
type Buffer struct {
	// Max, when above zero, keeps only the last Max bytes written.
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if over := b.buf.Len() - b.Max; b.Max > 0 && over > 0 {
		b.buf.Next(over)
	}
	return n, err
}

// String returns what has been written so far (its tail, with Max).
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
