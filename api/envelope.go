package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/render"
)

// The contract's bodies, rendered by package render.
type (
	envelope    = render.Envelope
	meta        = render.Meta
	errorBody   = render.ErrorBody
	jobResource = render.Job
)

// writeResult answers a synchronous call with its finished job.
func writeResult(c *gin.Context, j *reliapi.Job, idempotentHit bool) {
	env, status := render.ResultEnvelope(j, requestID(c), idempotentHit)
	c.Header("X-Retries", strconv.Itoa(env.Meta.Retries))
	c.Header("X-Duration-MS", strconv.FormatInt(env.Meta.DurationMS, 10))
	c.Header("X-Cache-Hit", "false")
	setRetryAfter(c, env.Error)
	c.JSON(status, env)
}

// writeJob answers with a job resource. A job that is not finished yet
// carries Retry-After, the polite polling interval.
func writeJob(c *gin.Context, status int, j *reliapi.Job) {
	if !j.Status.Terminal() {
		c.Header("Retry-After", "1")
	}
	c.JSON(status, render.NewJob(j))
}

// writeAccepted answers 202 with the job and where to poll it.
func writeAccepted(c *gin.Context, j *reliapi.Job) {
	c.Header("Location", "/v1/jobs/"+j.ID)
	writeJob(c, http.StatusAccepted, j)
}
