package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// redisStartTimeout bounds how long one redis-server start may take to
	// answer PING.
	redisStartTimeout = 10 * time.Second
	// redisStartAttempts bounds the retries when the chosen port is taken
	// between choosing and binding it.
	redisStartAttempts = 5
	// redisPollInterval is how often a starting redis-server is probed.
	redisPollInterval = 10 * time.Millisecond
)

// errPortInUse reports that redis-server exited because its port was taken.
var errPortInUse = errors.New("port already in use")

// Redis is a redis-server process started for one test on a free
// 127.0.0.1 port. By default it keeps no data on disk, so Restart starts
// empty; started with an append-only file (see [StartRedisWith]), it keeps
// one in its working directory and Restart replays it.
type Redis struct {
	// Addr is the server's address, "127.0.0.1:PORT".
	Addr string

	bin   string   // path of redis-server
	dir   string   // working directory for redis-server, its "dir"
	extra []string // more redis-server arguments, kept for Restart

	mu   sync.Mutex
	proc *Process // nil while stopped
}

// StartRedis starts redis-server on a free loopback port with persistence
// off and a temporary working directory, waits until it answers PING, and
// registers a cleanup that stops it. If redis-server is not installed, it
// fails the test and tells the user to run `make test`, which installs it.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	return StartRedisWith(tb)
}

// StartRedisWith is StartRedis with more redis-server arguments, which
// override the defaults. For example, StartRedisWith(tb, "--appendonly",
// "yes", "--appendfsync", "everysec") keeps an append-only file in the
// server's temporary working directory, which survives Stop and which
// Restart replays.
func StartRedisWith(tb testing.TB, args ...string) *Redis {
	tb.Helper()
	r, err := StartRedisProcess(tb.TempDir(), args...)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(r.Stop)
	return r
}

// StartRedisProcess is StartRedisWith for programs that are not tests, such
// as the benchmark report: it starts redis-server on a free loopback port
// with dir as its working directory and args after the defaults (persistence
// off), and waits until it answers PING. The caller must call Stop; dir is
// left in place.
func StartRedisProcess(dir string, args ...string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed (%v); run `make test`, which installs it", err)
	}
	return startRedis(bin, dir, args...)
}

// startRedis starts redis-server on a free port, choosing another port when
// the chosen one is taken before redis-server binds it.
func startRedis(bin, dir string, extra ...string) (*Redis, error) {
	var lastErr error
	for range redisStartAttempts {
		port, err := FindFreePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		proc, err := startRedisProcess(bin, dir, port, extra...)
		if err == nil {
			return &Redis{Addr: addr, bin: bin, dir: dir, extra: extra, proc: proc}, nil
		}
		if !errors.Is(err, errPortInUse) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("starting redis-server: gave up after %d attempts: %w", redisStartAttempts, lastErr)
}

// URL returns the server's URL for database 0, "redis://127.0.0.1:PORT/0".
func (r *Redis) URL() string {
	return "redis://" + r.Addr + "/0"
}

// Client returns a new go-redis client for the server, with default options,
// and registers a cleanup that closes it.
func (r *Redis) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server (SIGKILL) and waits for it to exit, so that
// connections to Addr fail until Restart. It simulates a crash: nothing is
// saved on the way down, though with an append-only file on, what the
// server had written to it stays. Stopping a stopped server does nothing.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.Kill()
		r.proc = nil
	}
}

// Restart starts the server again on the same port, with the same
// arguments and working directory, stopping it first if it is running, and
// waits until it answers PING. With persistence off (the default) the new
// server starts empty; with an append-only file it has loaded the file
// before it answers. If the port stays taken by another process, Restart
// fails the test.
func (r *Redis) Restart(tb testing.TB) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.Kill()
		r.proc = nil
	}
	port, err := r.port()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	for attempt := 1; ; attempt++ {
		proc, err := startRedisProcess(r.bin, r.dir, port, r.extra...)
		if err == nil {
			r.proc = proc
			return
		}
		if !errors.Is(err, errPortInUse) || attempt == redisStartAttempts {
			tb.Fatalf("testenv: restarting redis-server on %s: %v", r.Addr, err)
		}
	}
}

// port returns the port of r.Addr.
func (r *Redis) port() (int, error) {
	_, portText, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return 0, fmt.Errorf("bad Redis address %q: %w", r.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return 0, fmt.Errorf("bad Redis address %q: %w", r.Addr, err)
	}
	return port, nil
}

// startRedisProcess starts redis-server on port and waits until it answers.
// extra follows the defaults, so it overrides them (a later config line
// wins). It returns an error wrapping errPortInUse if the port was taken.
func startRedisProcess(bin, dir string, port int, extra ...string) (*Process, error) {
	p, err := StartProcess("redis-server", bin, nil, append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "no",
		"--dir", dir,
	}, extra...)...)
	if err != nil {
		return nil, err
	}
	if err := waitRedisReady(p, port); err != nil {
		p.Kill()
		return nil, fmt.Errorf("%w\nredis-server output:\n%s", err, p.Output())
	}
	return p, nil
}

// waitRedisReady polls until the server on port is p and answers, p
// exits, or redisStartTimeout passes.
func waitRedisReady(p *Process, port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.NewTimer(redisStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(redisPollInterval)
	defer tick.Stop()
	var probeErr error
	for {
		pid, err := probeRedis(addr)
		switch {
		case err != nil:
			probeErr = err
		case pid == p.Pid():
			return nil
		default:
			// Another process answers on the port; ours will fail to bind
			// and exit, which the next select sees.
			probeErr = fmt.Errorf("%s is served by another process (pid %d)", addr, pid)
		}
		select {
		case <-p.Done():
			if strings.Contains(p.Output(), "Address already in use") {
				return fmt.Errorf("redis-server on %s: %w", addr, errPortInUse)
			}
			return fmt.Errorf("redis-server on %s exited before answering: %v", addr, p.err)
		case <-deadline.C:
			return fmt.Errorf("redis-server on %s did not answer within %v: %v", addr, redisStartTimeout, probeErr)
		case <-tick.C:
		}
	}
}

// probeRedis sends PING and INFO server to the server at addr and, if PING
// answers PONG, returns the server's process id. It speaks RESP directly so
// that probing a starting server logs nothing.
func probeRedis(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return 0, err
	}
	const cmds = "*1\r\n$4\r\nPING\r\n" + "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"
	if _, err := conn.Write([]byte(cmds)); err != nil {
		return 0, err
	}
	rd := bufio.NewReader(conn)
	line, err := readLine(rd)
	if err != nil {
		return 0, err
	}
	if line != "+PONG" {
		return 0, fmt.Errorf("PING answered %q", line)
	}
	line, err = readLine(rd)
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(line, "$") {
		return 0, fmt.Errorf("INFO answered %q", line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("INFO answered %q", line)
	}
	info := make([]byte, n)
	if _, err := io.ReadFull(rd, info); err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(info), "\r\n") {
		if v, ok := strings.CutPrefix(l, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
}

// readLine reads one RESP line without its CRLF.
func readLine(rd *bufio.Reader) (string, error) {
	line, err := rd.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// ExampleRedis starts a private redis-server for a runnable Example, which
// has no testing.TB, and returns a client on it and a function that closes
// the client, stops the server and removes its directory.
func ExampleRedis() (*redis.Client, func(), error) {
	dir, err := os.MkdirTemp("", "reliapi-example-")
	if err != nil {
		return nil, nil, err
	}
	srv, err := StartRedisProcess(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	return rdb, func() {
		rdb.Close()
		srv.Stop()
		os.RemoveAll(dir)
	}, nil
}
