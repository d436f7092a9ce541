package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
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
// collection: it sets GOGC for the live heap that collection found, and
// sets it again after a later collection once someone else changed it.
func TestHeapFloorFollowsCollections(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	keepHeapFloor(func(string) string { return "" })
	const notTuned = 99 // below the default: gcPercentFor never returns it
	m := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/live:bytes"}}
	for range 2 {
		debug.SetGCPercent(notTuned)
		runtime.GC()
		testenv.Eventually(t, 10*time.Second, "GOGC set for the live heap after a collection", func() bool {
			metrics.Read(m)
			gogc := m[0].Value.Uint64()
			return gogc != notTuned && int(gogc) == gcPercentFor(m[1].Value.Uint64(), heapFloor)
		})
	}
}
