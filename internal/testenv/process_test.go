package testenv

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestBufferKeepsTail(t *testing.T) {
	b := &Buffer{Max: 4}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	if got := b.String(); got != "defg" {
		t.Fatalf("tail = %q, want %q", got, "defg")
	}
	all := &Buffer{}
	all.Write([]byte("abc"))
	all.Write([]byte("defg"))
	if got := all.String(); got != "abcdefg" {
		t.Fatalf("without Max = %q, want everything", got)
	}
}

// TestProcessTerminate: Terminate reports a process that SIGTERM ended
// uncleanly, Exited says it has ended, and its output is kept.
func TestProcessTerminate(t *testing.T) {
	p, err := StartProcess("sh", "/bin/sh", nil, "-c", "echo started; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	Eventually(t, 10*time.Second, "the process's output", func() bool { return p.Output() == "started\n" })
	if err := p.Exited(); err != nil {
		t.Fatalf("running process: Exited = %v", err)
	}
	err = p.Terminate(10 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Fatalf("Terminate of a process SIGTERM kills = %v, want an error saying so", err)
	}
	if p.Exited() == nil {
		t.Fatal("Exited = nil after Terminate")
	}
	p.Kill() // harmless once it has exited
}

// TestAwaitReady: AwaitReady returns once url answers 200, and gives up at
// once, saying so, when the process has exited.
func TestAwaitReady(t *testing.T) {
	t.Parallel()
	u := StartUpstream(t)
	p, err := StartProcess("sh", "/bin/sh", nil, "-c", "exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if err := AwaitReady(context.Background(), u.URL+"/get", p, 10*time.Second); err != nil {
		t.Fatalf("AwaitReady on a 200: %v", err)
	}
	if err := AwaitReady(context.Background(), u.URL+"/status/503", p, 2*time.Second); err == nil || !strings.Contains(err.Error(), "answered 503") {
		t.Fatalf("AwaitReady on a 503 = %v, want a timeout naming the 503", err)
	}
	p.Kill()
	start := time.Now()
	if err := AwaitReady(context.Background(), u.URL+"/get", p, 10*time.Second); err == nil || !strings.Contains(err.Error(), "sh exited") {
		t.Fatalf("AwaitReady after the process exited = %v, want its exit", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("AwaitReady took %v to see the exit", took)
	}
}
