package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/render"
)

// writeError answers with the error envelope. Any error becomes one: coded
// errors keep their code, Redis trouble is REDIS_UNAVAILABLE, everything
// else INTERNAL_ERROR without its Go text (which goes to the log instead).
func writeError(c *gin.Context, err error, m meta) {
	e := toCoded(err)
	if e.Code == reliapi.CodeInternal || e.Code == reliapi.CodeRedisUnavailable {
		logAt(c, slog.LevelError, "request failed", "code", string(e.Code), "error", err)
	}
	body := render.NewErrorBody(e, m.Target)
	setRetryAfter(c, body)
	c.AbortWithStatusJSON(body.StatusCode, envelope{Success: false, Error: body, Meta: m})
}

func toCoded(err error) *reliapi.Error {
	var e *reliapi.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, reliapi.ErrNotFound):
		return reliapi.Errorf(reliapi.CodeNotFound, "Not found")
	case redisUnavailable(err):
		return &reliapi.Error{Code: reliapi.CodeRedisUnavailable, Message: "Storage is unavailable; try again shortly", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}
	default:
		return &reliapi.Error{Code: reliapi.CodeInternal, Message: "Internal server error", Retryable: true, Source: reliapi.SourceReliAPI, Err: err}
	}
}

// redisUnavailable reports whether err means Redis could not be reached,
// did not answer in time, or is still loading its data after a restart
// (LOADING), as opposed to a bug in a command.
func redisUnavailable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) ||
		redis.IsLoadingError(err)
}

// setRetryAfter sets the Retry-After header, in whole seconds, for an error
// that advertises a wait.
func setRetryAfter(c *gin.Context, b *errorBody) {
	if b != nil && b.RetryAfterS != nil {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(*b.RetryAfterS))))
	}
}
