package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// monitorSample is MONITOR output around one sync call, shortened: the
// call's round trips mixed with the worker's idle polling and heartbeat.
const monitorSample = `+100.000000 [0 127.0.0.1:1] "evalsha" "c1" "1" "reliapi:job:{job_1}" "86400"
+100.000010 [0 lua] "EXISTS" "reliapi:job:{job_1}"
+100.000020 [0 lua] "HSET" "reliapi:job:{job_1}" "status" "queued"
+100.000300 [0 127.0.0.1:1] "zadd" "reliapi:tenant:{default}:jobs" "1" "job_1"
+100.000310 [0 127.0.0.1:2] "evalsha" "dq" "4" "asynq:{async}:pending" "asynq:{async}:paused"
+100.000315 [0 lua] "EXISTS" "asynq:{async}:paused"
+100.000320 [0 lua] "RPOPLPUSH" "asynq:{async}:pending" "asynq:{async}:active"
+100.000360 [0 127.0.0.1:1] "zremrangebyscore" "reliapi:tenant:{default}:jobs" "-inf" "(0"
+100.000365 [0 127.0.0.1:1] "expire" "reliapi:tenant:{default}:jobs" "90000"
+100.000600 [0 127.0.0.1:1] "evalsha" "enq" "2" "asynq:{sync}:t:11111111-2222-3333-4444-555555555555" "asynq:{sync}:pending" "\n\x0creliapi:http\x12{\"job_id\":\"job_1\"}"
+100.000610 [0 lua] "LPUSH" "asynq:{sync}:pending" "11111111-2222-3333-4444-555555555555"
+100.001000 [0 127.0.0.1:2] "evalsha" "dq" "4" "asynq:{sync}:pending" "asynq:{sync}:paused"
+100.001010 [0 lua] "RPOPLPUSH" "asynq:{sync}:pending" "asynq:{sync}:active"
+100.001020 [0 lua] "HGET" "asynq:{sync}:t:11111111-2222-3333-4444-555555555555" "msg"
+100.001500 [0 127.0.0.1:3] "zadd" "asynq:servers" "1" "asynq:servers:{vm}"
+100.002000 [0 127.0.0.1:2] "evalsha" "done" "5" "asynq:{sync}:active" "asynq:{sync}:lease" "asynq:{sync}:t:11111111-2222-3333-4444-555555555555"
+100.002010 [0 lua] "LREM" "asynq:{sync}:active" "0" "11111111-2222-3333-4444-555555555555"
+100.002100 [0 127.0.0.1:1] "hgetall" "reliapi:job:{job_1}"`

func TestCallSteps(t *testing.T) {
	var lines []monitorLine
	for _, text := range strings.Split(monitorSample, "\n") {
		l, ok := parseMonitorLine(text)
		if !ok {
			t.Fatalf("parseMonitorLine(%q) failed", text)
		}
		lines = append(lines, l)
	}
	if l := lines[0]; l.addr != "127.0.0.1:1" || l.args[0] != "evalsha" || l.ts != 100 {
		t.Fatalf("first line parsed as %+v", l)
	}

	steps := callSteps(lines, "job_1")
	var got []string
	for _, s := range steps {
		got = append(got, s.cmd+" +"+strings.Join(s.piped, ",")+" lua:"+strings.Join(s.inLua, ","))
	}
	want := []string{
		"EVALSHA reliapi:job:{<job>} + lua:EXISTS,HSET",
		// Three commands < 100 µs apart with idle polling in between.
		"ZADD reliapi:tenant:{default}:jobs +ZREMRANGEBYSCORE,EXPIRE lua:",
		"EVALSHA asynq:{sync}:t:<task> + lua:LPUSH",
		"EVALSHA asynq:{sync}:pending + lua:RPOPLPUSH,HGET",
		"EVALSHA asynq:{sync}:active + lua:LREM",
		"HGETALL reliapi:job:{<job>} + lua:",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if steps[0].at != 0 || steps[len(steps)-1].at != 2100*time.Microsecond {
		t.Errorf("times %v … %v, want 0 … 2.1ms", steps[0].at, steps[len(steps)-1].at)
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i))
	}
	if p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99); p50 != 50 || p99 != 99 {
		t.Errorf("p50, p99 = %d, %d; want 50, 99", p50, p99)
	}
	if got := percentile(lat[:1], 0.99); got != 1 {
		t.Errorf("p99 of one sample = %d, want 1", got)
	}
}
