package testenv

import (
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
