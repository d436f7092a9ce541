package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/reliability/breaker"
	"github.com/reliapi/reliapi/reliability/keypool"
)

// targetView is one entry of GET /v1/targets.
type targetView struct {
	Name    string      `json:"name"`
	Circuit circuitView `json:"circuit"`
	// Pool is the target's key pool; keys are named by id, never by secret.
	Pool *poolView `json:"key_pool"`
}

type poolView struct {
	Name string    `json:"name"`
	Keys []keyView `json:"keys"`
}

type keyView struct {
	ID        string         `json:"id"`
	Status    keypool.Status `json:"status"`
	RestsForS float64        `json:"rests_for_s"`
	InFlight  int            `json:"in_flight"`
	ErrorRate float64        `json:"error_rate"`
}

type circuitView struct {
	State    breaker.State `json:"state"`
	Failures int           `json:"failures"`
	RetryInS float64       `json:"retry_in_s"`
}

// listTargets serves GET /v1/targets: each configured target with the
// shared state of its circuit breaker.
func (s *Server) listTargets(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	statuses, err := s.breakers.Statuses(ctx, s.targetNames, s.cooldown)
	if err != nil {
		writeError(c, err, m)
		return
	}
	out := make([]targetView, 0, len(s.targetNames))
	for _, name := range s.targetNames {
		st := statuses[name]
		v := targetView{Name: name, Circuit: circuitView{
			State: st.State, Failures: st.Failures, RetryInS: st.RetryIn.Seconds(),
		}}
		if p := s.pools[name]; p != nil {
			keys, err := p.Statuses(ctx)
			if err != nil {
				writeError(c, err, m)
				return
			}
			v.Pool = &poolView{Name: p.Name()}
			for _, k := range keys {
				v.Pool.Keys = append(v.Pool.Keys, keyView{ID: k.ID, Status: k.Status, RestsForS: k.RestsFor.Seconds(), InFlight: k.InFlight, ErrorRate: k.ErrorRate})
			}
		}
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
}

// enableKey serves POST /v1/targets/{target}/keys/{id}/enable: an operator
// brings a quarantined or resting key back into use.
func (s *Server) enableKey(c *gin.Context) {
	m := meta{RequestID: requestID(c), Target: c.Param("target")}
	p := s.pools[c.Param("target")]
	if p == nil {
		writeError(c, reliapi.Errorf(reliapi.CodeNotFound, "Target %q has no key pool", c.Param("target")), m)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := p.Enable(ctx, c.Param("id")); err != nil {
		if !p.Has(c.Param("id")) {
			err = reliapi.Errorf(reliapi.CodeNotFound, "Pool %s has no key %q", p.Name(), c.Param("id"))
		}
		writeError(c, err, m)
		return
	}
	logAt(c, slog.LevelInfo, "pool key enabled", "pool", p.Name(), "key_id", c.Param("id"))
	c.JSON(http.StatusOK, gin.H{"object": "key", "pool": p.Name(), "id": c.Param("id"), "status": keypool.Active})
}

// poolKeys reports every pool key's status at scrape time, one series per
// pool and status with the number of keys in it.
type poolKeys struct{ s *Server }

var poolKeysDesc = prometheus.NewDesc("reliapi_key_pool_keys",
	"Pool keys by provider (pool) and status (active, cooling, quarantined).", []string{"provider", "status"}, nil)

// Describe implements prometheus.Collector.
func (p poolKeys) Describe(ch chan<- *prometheus.Desc) { ch <- poolKeysDesc }

// Collect implements prometheus.Collector; a Redis failure reports nothing.
func (p poolKeys) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	seen := map[string]bool{}
	for _, name := range p.s.targetNames {
		pool := p.s.pools[name]
		if pool == nil || seen[pool.Name()] {
			continue
		}
		seen[pool.Name()] = true
		keys, err := pool.Statuses(ctx)
		if err != nil {
			return
		}
		count := map[keypool.Status]int{keypool.Active: 0, keypool.Cooling: 0, keypool.Quarantined: 0}
		for _, k := range keys {
			count[k.Status]++
		}
		for st, n := range count {
			ch <- prometheus.MustNewConstMetric(poolKeysDesc, prometheus.GaugeValue, float64(n), pool.Name(), string(st))
		}
	}
}

func (s *Server) cooldown(target string) time.Duration {
	return s.settings.Targets[target].Circuit.Cooldown()
}

// breakerStates reports every target's breaker at scrape time: 0 closed,
// 1 half-open, 2 open. Read from Redis, so every replica reports the same.
type breakerStates struct{ s *Server }

var breakerStateDesc = prometheus.NewDesc("reliapi_circuit_breaker_state",
	"Circuit breaker state per target: 0 closed, 1 half-open, 2 open.", []string{"target"}, nil)

// Describe implements prometheus.Collector.
func (b breakerStates) Describe(ch chan<- *prometheus.Desc) { ch <- breakerStateDesc }

// Collect implements prometheus.Collector; a Redis failure reports nothing.
func (b breakerStates) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	statuses, err := b.s.breakers.Statuses(ctx, b.s.targetNames, b.s.cooldown)
	if err != nil {
		return
	}
	for _, name := range b.s.targetNames {
		v := 0.0
		switch statuses[name].State {
		case breaker.HalfOpen:
			v = 1
		case breaker.Open:
			v = 2
		}
		ch <- prometheus.MustNewConstMetric(breakerStateDesc, prometheus.GaugeValue, v, name)
	}
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
