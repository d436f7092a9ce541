package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// processOutputMax is how much of a process's output is kept: the tail,
// enough to see why it failed, bounded for processes that run for minutes.
const processOutputMax = 16 << 10

// Process is a child process (redis-server, `reliapi api`, `reliapi
// worker`): its output is kept, its end can be waited for.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *Buffer
	done chan struct{} // closed once the process has exited
	err  error         // cmd.Wait's result; read only after done is closed
}

// StartProcess starts bin with args in the environment env (nil: this
// process's) and collects its output. It does not stop it: that is the
// caller's job ([StartReliAPI] registers it with the test).
func StartProcess(name, bin string, env []string, args ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out := &Buffer{Max: processOutputMax}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second // do not hang on output pipes after a kill
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited returns an error saying how the process ended once it has, nil
// while it runs.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v", p.Name, p.err)
	default:
		return nil
	}
}

// Output is the tail of what the process has printed.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig, if the process still runs.
func (p *Process) Signal(sig os.Signal) {
	_ = p.cmd.Process.Signal(sig) // fails only if it already exited
}

// Kill kills the process (SIGKILL: a crash, no clean-up) and waits for it.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Terminate asks the process to shut down (SIGTERM), as an orchestrator
// would, and waits up to grace; it kills it if it has not exited by then.
// It returns an error unless the process exited cleanly within grace.
func (p *Process) Terminate(grace time.Duration) error {
	p.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.Kill()
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.Name, grace)
	}
	if p.err != nil {
		return fmt.Errorf("%s exited with %v after SIGTERM", p.Name, p.err)
	}
	return nil
}

// StartReliAPI runs the reliapi binary ([Binary]) with args in the
// environment env (nil: this process's). The process is killed when the
// test ends, and its output logged if the test failed.
func StartReliAPI(tb testing.TB, name string, env []string, args ...string) *Process {
	tb.Helper()
	p, err := StartProcess(name, Binary(tb), env, args...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("%s output (tail):\n%s", name, p.Output())
		}
	})
	return p
}

// AwaitReady polls url until it answers 200, and returns an error if p
// exits first or bound passes. It is WaitReady for programs that are not
// tests, such as the benchmark.
func AwaitReady(ctx context.Context, url string, p *Process, bound time.Duration) error {
	return Poll(ctx, bound, p.Name+" to be ready at "+url, func(ctx context.Context) error {
		if err := p.Exited(); err != nil {
			return Permanent(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return Permanent(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %d", url, resp.StatusCode)
		}
		return nil
	})
}

// WaitReady polls url until it answers 200, and fails the test, with p's
// output, if p exits first or 30 s pass.
func WaitReady(tb testing.TB, url string, p *Process) {
	tb.Helper()
	if err := AwaitReady(context.Background(), url, p, 30*time.Second); err != nil {
		tb.Fatalf("%v\n%s", err, p.Output())
	}
}
