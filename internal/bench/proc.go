package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is one child process (`reliapi api` or `reliapi worker`).
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed once the process has exited
	err  error         // cmd.Wait's result; read only after done is closed
}

// startProc starts bin with args and env, collecting its output.
func startProc(name, bin string, env []string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second // do not hang on output pipes after a kill
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting reliapi %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited returns an error once the process has exited, nil while it runs.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("reliapi %s exited: %v", p.name, p.err)
	default:
		return nil
	}
}

// stop kills the process and waits for it. The bench keeps no state in it,
// so there is nothing to shut down gracefully.
func (p *proc) stop() {
	_ = p.cmd.Process.Kill() // fails only if it already exited
	<-p.done
}

// terminate asks the process to shut down (SIGTERM), as an orchestrator
// would, so that a worker finishes its tasks and leaves asynq's server
// list; it kills it if it has not exited within grace.
func (p *proc) terminate(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails only if it already exited
	select {
	case <-p.done:
	case <-time.After(grace):
		p.stop()
	}
}

// output returns the tail of what the process printed.
func (p *proc) output() string { return p.out.String() }

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

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
