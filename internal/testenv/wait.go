package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// pollInterval is how often Poll checks: often enough that a test sees a
// state that lasts a few milliseconds, as Eventually always has.
const pollInterval = 5 * time.Millisecond

// Poll calls check every few milliseconds until it returns nil, and then
// returns nil. It gives up, with an error saying what it waited for, when
// check returns a Permanent error, when bound passes or when ctx ends (with
// the last error of a check that the end did not cut short). It is Eventually for programs that are not
// tests, such as the benchmark.
func Poll(ctx context.Context, bound time.Duration, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last error // what check said, before the bound cut a check short
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		var p permanentError
		if errors.As(err, &p) {
			return fmt.Errorf("waiting for %s: %w", what, p.error)
		}
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, context.Cause(ctx), last)
		case <-tick.C:
		}
	}
}

// permanentError marks a failure that Poll reports at once.
type permanentError struct{ error }

// Permanent marks err as one that Poll must report at once instead of
// polling on: a process that exited will not come up.
func Permanent(err error) error { return permanentError{err} }

// errNotYet is what Eventually's check returns while cond does not hold.
var errNotYet = errors.New("not yet")

// Eventually polls cond every few milliseconds until it holds, and fails
// the test when it still does not after bound. Tests wait with it (or on a
// signal), never with a bare sleep.
func Eventually(tb testing.TB, bound time.Duration, what string, cond func() bool) {
	tb.Helper()
	err := Poll(context.Background(), bound, what, func(context.Context) error {
		if cond() {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		tb.Fatalf("timed out after %v waiting for %s", bound, what)
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
