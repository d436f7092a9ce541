package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// cacheResult compares answers from the response cache with uncached
// synchronous calls at the same concurrency.
type cacheResult struct {
	conc     int
	hits     stats
	uncached stats
	// commands per hit, idle polling taken away as in measureCommands
	// (Redis counts the commands a script runs).
	commandsPerHit float64
}

// measureCache fills one cache entry, then measures n hits on it at
// concurrency conc, next to n uncached synchronous calls at the same
// concurrency, and counts the Redis commands a hit costs.
func (e *env) measureCache(ctx context.Context, n, conc int, idlePerSec float64) (cacheResult, error) {
	if _, err := e.cached(ctx, false); err != nil {
		return cacheResult{}, err
	}
	uncached, err := runLoad(ctx, n, conc, func(ctx context.Context, _ int) error {
		_, err := e.proxySync(ctx, "cache-uncached")
		return err
	})
	if err != nil {
		return cacheResult{}, err
	}
	before, err := e.counters(ctx)
	if err != nil {
		return cacheResult{}, err
	}
	hits, err := runLoad(ctx, n, conc, func(ctx context.Context, _ int) error {
		_, err := e.cached(ctx, true)
		return err
	})
	if err != nil {
		return cacheResult{}, err
	}
	after, err := e.counters(ctx)
	if err != nil {
		return cacheResult{}, err
	}
	idle := idlePerSec * after.at.Sub(before.at).Seconds()
	return cacheResult{
		conc: conc, hits: summarize(hits), uncached: summarize(uncached),
		commandsPerHit: (float64(after.total-before.total) - idle) / float64(n),
	}, nil
}

// cached makes one call to the cached target; wantHit says whether it must
// have been answered from the cache.
func (e *env) cached(ctx context.Context, wantHit bool) (bool, error) {
	body := `{"target":"cached","method":"GET","path":"/get","query":{"phase":"cache"}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.apiURL+"/v1/proxy/http", bytes.NewBufferString(body))
	if err != nil {
		return false, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ans proxyEnvelope
	if err := json.Unmarshal(raw, &ans); err != nil || resp.StatusCode != http.StatusOK || ans.Meta.CacheHit != wantHit {
		return false, fmt.Errorf("cached call answered %d %s (want cache_hit %v)", resp.StatusCode, raw, wantHit)
	}
	return ans.Meta.CacheHit, nil
}

func (r *report) printCache(p printer) {
	c := r.cache
	p("## 6. Response cache")
	p("")
	p("%d requests each at concurrency %d: hits on one cached GET next to uncached synchronous GETs of the same upstream.", c.hits.n, c.conc)
	p("")
	p("| path | p50 | p99 | req/s | Redis commands per request |")
	p("|---|---:|---:|---:|---:|")
	p("| uncached sync (api → worker → upstream) | %s | %s | %.0f | %.1f (section 4) |", ms(c.uncached.p50), ms(c.uncached.p99), c.uncached.perSecond, r.cmds.perRequest)
	p("| cache hit (api only, one Lua lookup) | %s | %s | %.0f | %.1f |", ms(c.hits.p50), ms(c.hits.p99), c.hits.perSecond, c.commandsPerHit)
	p("")
	p("**hits / uncached = %.1f×** requests per second.", c.hits.perSecond/c.uncached.perSecond)
	p("")
}
