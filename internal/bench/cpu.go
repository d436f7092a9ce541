package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// On a small machine every process of the benchmark competes for the same
// cores, so the CPU each one spends per call explains much of the latency
// under load. It is read from /proc (Linux); elsewhere it is left out.

// cpuProcs are the processes whose CPU time is reported, in table order.
var cpuProcs = []string{"api", "worker", "redis", "bench"}

// cpuUsage is CPU time (user + system) per process, in cpuProcs order.
type cpuUsage [4]time.Duration

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; it is 100 on
// every mainstream Linux.
const clockTicks = 100

// cpuPIDs finds the process IDs to watch. redis-server's comes from INFO.
func (e *env) cpuPIDs(ctx context.Context) error {
	info, err := e.rdb.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("INFO server: %w", err)
	}
	redisPID := 0
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			redisPID, _ = strconv.Atoi(v)
		}
	}
	e.pids = [4]int{e.api.Pid(), e.worker.Pid(), redisPID, os.Getpid()}
	return nil
}

// cpu reads the watched processes' CPU time; ok is false when /proc is not
// there to read.
func (e *env) cpu() (u cpuUsage, ok bool) {
	for i, pid := range e.pids {
		d, err := procCPU(pid)
		if err != nil {
			return cpuUsage{}, false
		}
		u[i] = d
	}
	return u, true
}

// procCPU returns utime + stime of a process from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start with field 3, so utime (14) and stime (15)
	// are at indexes 11 and 12.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// cpuMeter measures the CPU spent between start and stop, per call.
type cpuMeter struct {
	e     *env
	start cpuUsage
	ok    bool
}

func (e *env) startCPU() cpuMeter {
	u, ok := e.cpu()
	return cpuMeter{e: e, start: u, ok: ok}
}

// perCall returns the CPU each process spent since start divided by calls,
// or nil when /proc could not be read.
func (m cpuMeter) perCall(calls int) *cpuUsage {
	end, ok := m.e.cpu()
	if !m.ok || !ok {
		return nil
	}
	var u cpuUsage
	for i := range u {
		u[i] = (end[i] - m.start[i]) / time.Duration(calls)
	}
	return &u
}

// total is the CPU of all watched processes together.
func (u cpuUsage) total() time.Duration {
	var t time.Duration
	for _, d := range u {
		t += d
	}
	return t
}
