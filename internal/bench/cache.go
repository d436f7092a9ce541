package main

import (
	"context"
	"fmt"
	"net/http"
)

// cached makes one call to the cached target; wantHit says whether it must
// have been answered from the cache.
func (e *env) cached(ctx context.Context, wantHit bool) (bool, error) {
	a, err := e.post(ctx, call{phase: "cache", target: "cached"})
	if err != nil {
		return false, err
	}
	if a.status != http.StatusOK || a.Meta.CacheHit != wantHit {
		return false, fmt.Errorf("cached call answered %d %s (want cache_hit %v)", a.status, a.raw, wantHit)
	}
	return a.Meta.CacheHit, nil
}

func (r *report) printCache(p printer) {
	hits, uncached := r.peak(modeCached), r.peak(modeSync)
	p("## 6. Response cache and idempotent replays")
	p("")
	p("Highest throughput of each path over the concurrencies of section 1 (a cache hit and a replay are answered by the api alone; the sync call goes through the worker and the upstream):")
	p("")
	p("| path | peak req/s | Redis commands per call (section 4) |")
	p("|---|---:|---:|")
	p("| uncached sync | %.0f | %.1f |", uncached, r.cmds.perRequest)
	p("| cache hit | %.0f | %.1f |", hits, r.pathCost("cache hit"))
	p("| idempotent replay | %.0f | %.1f |", r.peak(modeReplay), r.pathCost("idempotent replay"))
	p("")
	p("**cache hits / uncached = %.1f×** requests per second.", hits/uncached)
	p("")
}

// pathCost returns the Redis commands per call of the named path.
func (r *report) pathCost(name string) float64 {
	for _, c := range r.paths {
		if c.path == name {
			return c.perCall
		}
	}
	return 0
}
