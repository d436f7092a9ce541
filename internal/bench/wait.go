package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// permanentError marks a failure that waitFor must report at once instead
// of polling on (a process that exited will not come up).
type permanentError struct{ error }

func permanent(err error) error { return permanentError{err} }

// waitFor polls check every 10 ms until it succeeds, fails permanently, or
// bound passes.
func waitFor(ctx context.Context, bound time.Duration, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		var p permanentError
		if errors.As(err, &p) {
			return fmt.Errorf("waiting for %s: %w", what, p.error)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, context.Cause(ctx), err)
		case <-tick.C:
		}
	}
}
