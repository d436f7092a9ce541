package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// traceStep is one round trip to Redis made for a traced call: a command
// sent by a client, with the commands it ran inside Redis if it was a
// script.
type traceStep struct {
	at     time.Duration // since the call's first command, Redis clock
	client string        // "api", "worker", or the client address
	cmd    string        // command and first key, IDs shortened
	piped  []string      // further commands sent in the same pipeline
	inLua  []string      // commands the script ran
}

// pipelineGap is the most time between two commands of one client that
// still counts them as one pipeline. Redis runs a pipeline's commands
// microseconds apart (more when it reads the pipeline in two pieces or is
// descheduled on a busy machine), while a new round trip needs the reply to
// reach the Go client and the next command to come back, which took well
// over 100 µs in every trace seen here. It is a heuristic, and the report
// says so.
const pipelineGap = 100 * time.Microsecond

// monitorLine is one line of MONITOR output, split up.
type monitorLine struct {
	ts   float64 // seconds, Redis clock
	addr string  // client address, or "lua" inside a script
	args []string
}

// taskKey finds the asynq task ID in a task's key.
var taskKey = regexp.MustCompile(`asynq:\{[^}]+\}:t:([0-9a-f-]{36})`)

// traceCall makes one synchronous call, call, which returns its job ID,
// while MONITOR records everything Redis executes, and returns the round
// trips that belong to that call, in order: from the first one naming its
// job, those touching our own keys ("reliapi:…", the asynq payload's type
// "reliapi:http" included) or its asynq task. The worker's idle polling
// touches neither, so it drops out.
func (e *env) traceCall(ctx context.Context, call func(context.Context) (string, error)) ([]traceStep, error) {
	mon, err := startMonitor(ctx, e.redis.Addr)
	if err != nil {
		return nil, err
	}
	defer mon.close()
	jobID, err := call(ctx)
	if err != nil {
		return nil, err
	}
	// After the api has answered, the worker removes the job's asynq task
	// (the wake-up lane ran the job: the task's ZREM from the scheduled
	// set), or asynq acknowledges it (LREM from the active list, when the
	// task ran it); wait until that is recorded too.
	var steps []traceStep
	err = testenv.Poll(ctx, 5*time.Second, "the traced call's last step", func(context.Context) error {
		steps = callSteps(mon.lines(), jobID)
		for _, s := range steps {
			if slices.Contains(s.inLua, "LREM") || slices.Contains(s.inLua, "ZREM") {
				return nil
			}
		}
		return fmt.Errorf("not seen yet (%d steps)", len(steps))
	})
	if err != nil {
		return nil, err
	}
	// MONITOR lines arrive in the order Redis ran the commands, but the
	// api's last read may have run after that acknowledgement. A marker
	// sent now runs after every command of the call, so once it is seen
	// the trace is complete.
	const marker = "bench-trace-end"
	if err := e.rdb.Echo(ctx, marker).Err(); err != nil {
		return nil, err
	}
	err = testenv.Poll(ctx, 5*time.Second, "the end of the MONITOR trace", func(context.Context) error {
		lines := mon.lines()
		for _, l := range lines {
			if slices.Contains(l.args, marker) {
				steps = callSteps(lines, jobID)
				return nil
			}
		}
		return errors.New("marker not seen yet")
	})
	if err != nil {
		return nil, err
	}
	owners := e.connOwners()
	for i := range steps {
		if name, ok := owners[steps[i].client]; ok {
			steps[i].client = name
		}
	}
	return steps, nil
}

// groupLines groups MONITOR lines into round trips: each client command
// with the commands it pipelined after it and those its script ran.
func groupLines(lines []monitorLine) []*group {
	var (
		groups   []*group
		cur      *group                    // the group of the last client command
		byClient = make(map[string]*group) // each client's latest group
	)
	for _, l := range lines {
		switch prev := byClient[l.addr]; {
		case l.addr == "lua":
			// A script's commands follow its call at once: scripts are atomic.
			if cur == nil {
				continue
			}
			cur.lua = append(cur.lua, l)
		case prev != nil && micros(l.ts-prev.lastTS()) < pipelineGap:
			prev.piped = append(prev.piped, l)
			cur = prev
		default:
			cur = &group{head: l}
			groups = append(groups, cur)
			byClient[l.addr] = cur
		}
		cur.text += " " + strings.Join(l.args, " ")
	}
	return groups
}

// callSteps groups MONITOR lines into round trips and keeps those of the
// call; see traceCall.
func callSteps(lines []monitorLine, jobID string) []traceStep {
	groups := groupLines(lines)
	taskID := ""
	for _, g := range groups {
		if m := taskKey.FindStringSubmatch(g.text); m != nil && strings.Contains(g.text, jobID) {
			taskID = m[1]
			break
		}
	}
	shorten := strings.NewReplacer(jobID, "<job>")
	if taskID != "" {
		shorten = strings.NewReplacer(jobID, "<job>", taskID, "<task>")
	}
	var steps []traceStep
	var t0 float64
	for _, g := range groups {
		if len(steps) == 0 && !strings.Contains(g.text, jobID) {
			continue // before the call
		}
		if !strings.Contains(g.text, "reliapi:") && (taskID == "" || !strings.Contains(g.text, taskID)) {
			continue // background: polling, heartbeats, forwarding
		}
		if len(steps) == 0 {
			t0 = g.head.ts
		}
		s := traceStep{
			at:     micros(g.head.ts - t0),
			client: g.head.addr,
			cmd:    shorten.Replace(describe(g.head.args)),
		}
		for _, l := range g.piped {
			s.piped = append(s.piped, strings.ToUpper(l.args[0]))
		}
		for _, l := range g.lua {
			s.inLua = append(s.inLua, strings.ToUpper(l.args[0]))
		}
		steps = append(steps, s)
	}
	return steps
}

// group is one round trip in MONITOR lines: a client's command, the
// commands it pipelined after it, and the commands its script ran.
type group struct {
	head  monitorLine
	piped []monitorLine
	lua   []monitorLine
	text  string // every argument, to search for IDs
}

// lastTS is when the group's last command ran: a client command, or one
// its script ran (a command pipelined after a script runs once the script
// is done).
func (g *group) lastTS() float64 {
	last := g.head.ts
	if n := len(g.piped); n > 0 {
		last = max(last, g.piped[n-1].ts)
	}
	if n := len(g.lua); n > 0 {
		last = max(last, g.lua[n-1].ts)
	}
	return last
}

// micros converts a difference of MONITOR timestamps, which have
// microsecond resolution, to a duration.
func micros(seconds float64) time.Duration {
	return time.Duration(math.Round(seconds*1e6)) * time.Microsecond
}

// describe is a command with its first key: for EVALSHA the key after
// numkeys, otherwise the first argument.
func describe(args []string) string {
	name := strings.ToUpper(args[0])
	switch {
	case (name == "EVALSHA" || name == "EVAL") && len(args) > 3:
		return name + " " + args[3]
	case len(args) > 1:
		return name + " " + args[1]
	default:
		return name
	}
}

// monitor is a raw MONITOR connection whose lines are collected in the
// background. It speaks RESP itself: MONITOR only sends simple strings.
type monitor struct {
	conn net.Conn
	mu   sync.Mutex
	got  []monitorLine
	done chan struct{}
}

func startMonitor(ctx context.Context, addr string) (*monitor, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	rd := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		conn.Close()
		return nil, err
	}
	if line, err := rd.ReadString('\n'); err != nil || strings.TrimSpace(line) != "+OK" {
		conn.Close()
		return nil, fmt.Errorf("MONITOR answered %q, %v", line, err)
	}
	m := &monitor{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return // closed
			}
			if l, ok := parseMonitorLine(strings.TrimSuffix(line, "\r\n")); ok {
				m.mu.Lock()
				m.got = append(m.got, l)
				m.mu.Unlock()
			}
		}
	}()
	return m, nil
}

// lines returns a copy of what was recorded so far.
func (m *monitor) lines() []monitorLine {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]monitorLine(nil), m.got...)
}

func (m *monitor) close() {
	m.conn.Close()
	<-m.done
}

// parseMonitorLine parses `+1795782246.989731 [0 127.0.0.1:40000] "cmd" "arg"`.
func parseMonitorLine(line string) (monitorLine, bool) {
	ts, rest, ok := strings.Cut(strings.TrimPrefix(line, "+"), " [")
	if !ok {
		return monitorLine{}, false
	}
	client, rest, ok := strings.Cut(rest, "] ")
	if !ok {
		return monitorLine{}, false
	}
	_, addr, _ := strings.Cut(client, " ") // drop the db number
	var l monitorLine
	l.ts, _ = strconv.ParseFloat(ts, 64)
	l.addr = addr
	// Arguments are double-quoted with backslash escapes; the quoted text
	// is kept as is, which is enough to search it for IDs.
	for _, a := range strings.Split(rest, `" "`) {
		l.args = append(l.args, strings.Trim(a, `"`))
	}
	return l, len(l.args) > 0 && l.args[0] != ""
}

// connOwners maps the client address of every TCP connection to Redis
// ("127.0.0.1:PORT") to the process that holds it, from /proc (Linux; an
// empty map elsewhere).
func (e *env) connOwners() map[string]string {
	_, redisPort, _ := net.SplitHostPort(e.redis.Addr)
	byInode := make(map[string]string) // socket inode -> client address
	b, _ := os.ReadFile("/proc/net/tcp")
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		local, remote := f[1], f[2] // hex "0100007F:9C40"
		if hexPort(remote) == redisPort {
			byInode[f[9]] = "127.0.0.1:" + hexPort(local)
		}
	}
	owners := make(map[string]string)
	for i, name := range cpuProcs {
		if name == "redis" {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", e.pids[i]))
		for _, fd := range fds {
			link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", e.pids[i], fd.Name()))
			if inode, ok := strings.CutPrefix(link, "socket:["); ok {
				if addr, ok := byInode[strings.TrimSuffix(inode, "]")]; ok {
					owners[addr] = name
				}
			}
		}
	}
	return owners
}

// hexPort returns the decimal port of a /proc/net/tcp address.
func hexPort(addr string) string {
	_, h, _ := strings.Cut(addr, ":")
	p, err := strconv.ParseUint(h, 16, 16)
	if err != nil {
		return ""
	}
	return strconv.FormatUint(p, 10)
}
