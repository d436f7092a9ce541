package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
)

// Context keys set by the middleware.
const (
	ctxRequestID = "reliapi.request_id"
	ctxLogger    = "reliapi.logger"
	ctxTenant    = "reliapi.tenant"
	ctxCaller    = "reliapi.caller"
	ctxStart     = "reliapi.start"
	// ctxLabels holds the metric labels a handler learned (target, mode).
	ctxLabels = "reliapi.labels"
)

// validRequestID is what a client-supplied X-Request-ID must look like to
// be echoed; anything else is replaced, so logs never carry odd bytes.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// newRequestID returns "req_" and 16 random hex digits, as the seed did.
func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// requestContext assigns the request ID, the request's logger and the
// tenant, and echoes X-Request-ID.
func (s *Server) requestContext(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !validRequestID.MatchString(id) {
		id = newRequestID()
	}
	c.Set(ctxStart, time.Now())
	c.Set(ctxRequestID, id)
	c.Header("X-Request-ID", id)
	c.Set(ctxLogger, s.log)
	c.Next()
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }
func tenant(c *gin.Context) string    { return c.GetString(ctxTenant) }

// logAt writes one log line about the request, tagged with its request_id.
// The line is only built when its level is enabled: this runs on every
// request.
func logAt(c *gin.Context, level slog.Level, msg string, args ...any) {
	l, _ := c.Value(ctxLogger).(*slog.Logger)
	if l == nil {
		l = slog.Default()
	}
	if !l.Enabled(c, level) {
		return
	}
	l.Log(c, level, msg, append([]any{"request_id", requestID(c)}, args...)...)
}

// labels are the metric labels of one request.
type labels struct{ target, mode string }

func setLabels(c *gin.Context, target, mode string) { c.Set(ctxLabels, labels{target, mode}) }

// observe records the request in the metrics and the access log.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	l, _ := c.Get(ctxLabels)
	lb, _ := l.(labels)
	if lb.mode == "" {
		// Health, metrics and unknown routes are not API traffic.
		return
	}
	status := strconv.Itoa(c.Writer.Status())
	elapsed := time.Since(start)
	s.metrics.requests.WithLabelValues(lb.target, status, lb.mode).Inc()
	s.metrics.duration.WithLabelValues(lb.mode).Observe(elapsed.Seconds())
	logAt(c, slog.LevelInfo, "request",
		"method", c.Request.Method, "path", c.FullPath(), "status", c.Writer.Status(),
		"tenant", tenant(c), "target", lb.target, "mode", lb.mode, "duration_ms", elapsed.Milliseconds())
}

// recoverPanic turns a panic into a 500 envelope; its text goes to the log,
// never to the caller.
func recoverPanic(c *gin.Context, v any) {
	logAt(c, slog.LevelError, "panic while serving request", "panic", v)
	writeError(c, &reliapi.Error{Code: reliapi.CodeInternal, Message: "Internal server error", Retryable: true}, meta{RequestID: requestID(c)})
}

// limitBody caps request bodies at server.max_body_bytes.
func (s *Server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > s.maxBody {
		writeError(c, tooLarge(s.maxBody), meta{RequestID: requestID(c)})
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.maxBody)
	c.Next()
}

func tooLarge(limit int64) *reliapi.Error {
	return reliapi.Errorf(reliapi.CodePayloadTooLarge, "Request body is larger than %d bytes", limit)
}
