package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// heapFloor is how large the heap may grow before the garbage collector
// runs, however small the live heap is.
//
// ReliAPI's live heap is small: about 5 MiB on a busy api, 4 MiB on a busy
// worker. The runtime's default goal is twice the live heap, so under load
// these processes collected about 20 times a second, and each collection
// scans every goroutine stack (the runners, the connections): a tenth to a
// fifth of their CPU. With 16 MiB they collect about three times less
// often (82 and 47 collections in a 10,000-job async run, against 24 and
// 14), and an async job costs a tenth less CPU in all. A larger floor
// saves little more and costs the quiet path: with 32 MiB, a sync call
// made one at a time took 0.1–0.3 ms longer (its allocations walk through
// more memory than the caches hold; with 64 MiB the api also faulted a
// thousand pages a second back in). A process whose live heap grows past
// half the floor collects as the default would. docs/benchmarks.md has
// the figures.
const heapFloor = 16 << 20

// keepHeapFloor keeps the heap goal at heapFloor or above for the rest of
// the process, unless the environment sets GOGC or GOMEMLIMIT (an
// operator's own choice). Later calls do nothing.
func keepHeapFloor(getenv func(string) string) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	heapFloorOnce.Do(func() {
		t := &heapTuner{live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
		t.tune()
		t.arm()
	})
}

var heapFloorOnce sync.Once

// heapTuner sets GOGC from the live heap once per collection, from the
// cleanup of an object that only the next collection frees. It follows the
// live heap as closely as the collector does, and costs nothing while no
// collection runs.
type heapTuner struct {
	live []metrics.Sample // read into after each collection
}

// arm makes the next collection call tune, and then arm again. Cleanups
// may run concurrently, but each tune ends before the next sentinel
// exists, so two tunes never overlap.
func (t *heapTuner) arm() {
	// 16 bytes: a smaller object without pointers would come from the tiny
	// allocator, whose blocks other objects share and keep alive.
	sentinel := new([16]byte)
	runtime.AddCleanup(sentinel, func(t *heapTuner) {
		t.tune()
		t.arm()
	}, t)
}

// tune sets GOGC for the live heap the last collection found.
func (t *heapTuner) tune() {
	metrics.Read(t.live)
	if t.live[0].Value.Kind() == metrics.KindUint64 {
		debug.SetGCPercent(gcPercentFor(t.live[0].Value.Uint64(), heapFloor))
	}
}

// gcPercentFor is the GOGC that puts the heap goal of a live heap of live
// bytes at floor: the default, 100, once twice the live heap reaches it.
// The runtime adds stacks and globals to the live heap for its goal, so
// the goal lands a little above floor.
func gcPercentFor(live, floor uint64) int {
	if live == 0 || 2*live >= floor {
		return 100
	}
	return int((floor - live) * 100 / live)
}
