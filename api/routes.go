package api

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reliapi/reliapi"
)

// routes builds the engine with every route: the operators' (health,
// metrics, docs, admin), RapidAPI's webhook, and the tenants'.
func (s *Server) routes() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	// The client IP is the socket's peer, unless the peer is a trusted
	// proxy: then X-Forwarded-For (read from the right, skipping trusted
	// proxies) or X-Real-IP names it. Gin trusts every peer by default.
	if err := r.SetTrustedProxies(s.settings.Server.TrustedProxies); err != nil {
		return nil, fmt.Errorf("api: server.trusted_proxies: %w", err)
	}
	r.RemoteIPHeaders = []string{"X-Forwarded-For", "X-Real-IP"}
	r.Use(s.requestContext, gin.CustomRecovery(recoverPanic), limitHeaders, s.observe)
	s.operatorRoutes(r)
	// RapidAPI's webhook authenticates by its signature.
	r.POST("/v1/webhooks/rapidapi", s.rapidAPIWebhook)
	r.POST("/webhooks/rapidapi", s.rapidAPIWebhook)
	// Every other route serves a tenant, found from its API key.
	s.tenantRoutes(r.Group("", s.authenticate))
	r.NoRoute(func(c *gin.Context) {
		writeError(c, reliapi.Errorf(reliapi.CodeNotFound, "No route %s %s", c.Request.Method, c.Request.URL.Path), meta{RequestID: requestID(c)})
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, reliapi.Errorf(reliapi.CodeMethodNotAllowed, "Method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path), meta{RequestID: requestID(c)})
	})
	return r, nil
}

// operatorRoutes are health, metrics, docs and the admin routes.
func (s *Server) operatorRoutes(r *gin.Engine) {
	r.GET("/health", s.health)
	r.GET("/healthz", s.healthz)
	r.GET("/livez", s.livez)
	r.GET("/readyz", s.readyz)
	r.GET("/openapi.json", s.openapi)
	r.GET("/docs", s.docsHTML)
	r.GET("/redoc", s.redocHTML)
	r.GET(docsAssetsPath+"/*file", s.docsAsset)
	r.GET("/metrics", s.requireAdminIfSet, gin.WrapH(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))
	r.POST("/v1/targets/:target/keys/:id/enable", s.requireAdmin, s.enableKey)
	r.GET("/v1/admin/queues", s.requireAdmin, s.adminQueues)
	r.POST("/v1/admin/jobs/:id/run", s.requireAdmin, s.adminRunJob)
	r.GET(queueUIPath, func(c *gin.Context) { c.Redirect(http.StatusFound, queueUIPath+"/") })
	r.Any(queueUIPath+"/*page", s.requireAdminBrowser, s.queueUI)
}

// tenantRoutes are the proxy, OpenAI-compatible, jobs and account routes.
func (s *Server) tenantRoutes(t *gin.RouterGroup) {
	t.GET("/v1/rapidapi/status", s.rapidAPIStatus)
	t.GET("/rapidapi/status", s.rapidAPIStatus)
	for _, prefix := range []string{"/v1", ""} {
		t.POST(prefix+"/proxy/http", s.limitBody, s.admit, s.proxyHTTP)
		t.POST(prefix+"/proxy/llm", s.limitBody, s.admit, s.proxyLLM)
	}
	// The OpenAI-compatible API, at both base URLs SDKs are pointed at.
	for _, base := range []string{"/v1", "/proxy/llm"} {
		t.POST(base+"/chat/completions", s.limitBody, s.admit, s.chatCompletions)
		t.GET(base+"/models", s.listModels)
	}
	v1 := t.Group("/v1")
	v1.POST("/jobs", s.limitBody, s.admit, s.createJob)
	v1.GET("/jobs", s.listJobs)
	v1.GET("/jobs/:id", s.getJob)
	v1.GET("/jobs/:id/events", s.streamEvents)
	v1.POST("/jobs/:id/cancel", s.cancelJob)
	v1.POST("/jobs/:id/webhook/replay", s.admit, s.replayWebhook)
	v1.GET("/webhooks/failed", s.failedWebhooks)
	v1.GET("/targets", s.listTargets)
	v1.GET("/usage", s.usage)
}
