package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
)

// health is the seed's version probe.
func (s *Server) health(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok", "version": s.cfg.Version})
}

// healthz answers while the process serves HTTP.
func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "healthy"}) }

// livez answers while the process serves HTTP; a failing livez should get
// the process restarted, so it checks nothing external.
func (s *Server) livez(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "alive"}) }

// readyz answers 200 only when this replica can serve: not draining, and
// Redis answers.
func (s *Server) readyz(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	if s.draining.Load() {
		writeError(c, &reliapi.Error{Code: reliapi.CodeShuttingDown, Message: "Shutting down", Retryable: true}, m)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
	defer cancel()
	if err := s.cfg.Redis.Ping(ctx).Err(); err != nil {
		writeError(c, &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Redis does not answer", Retryable: true, Err: err}, m)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": gin.H{"redis": "ok", "config": "ok"}})
}
