package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},            // no collection yet
		{4 * mib, 300},      // a busy worker: goal 16 MiB
		{5 * mib, 220},      // a busy api
		{8 * mib, 100},      // twice the live heap reaches the floor
		{100 * mib, 100},    // never below the default
		{1 * mib / 2, 3100}, // an idle process
	} {
		if got := gcPercentFor(c.live, heapFloor); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live/mib, got, c.want)
		}
	}
}

// TestHeapFloorFollowsCollections checks that the tuner runs after each
// collection: it sets GOGC, and sets it again after a collection once
// someone else changed it.
func TestHeapFloorFollowsCollections(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	keepHeapFloor(func(string) string { return "" })
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	for range 2 {
		debug.SetGCPercent(100)
		for i := 0; ; i++ {
			runtime.GC()
			if metrics.Read(gogc); gogc[0].Value.Uint64() > 100 {
				break // this test process's live heap is far below half the floor
			}
			if i == 100 {
				t.Fatalf("GOGC still %d after %d collections", gogc[0].Value.Uint64(), i)
			}
		}
	}
}
