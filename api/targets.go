package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reliapi/reliapi/reliability/breaker"
)

// targetView is one entry of GET /v1/targets.
type targetView struct {
	Name    string      `json:"name"`
	Circuit circuitView `json:"circuit"`
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
		out = append(out, targetView{Name: name, Circuit: circuitView{
			State: st.State, Failures: st.Failures, RetryInS: st.RetryIn.Seconds(),
		}})
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
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
