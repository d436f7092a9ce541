package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/render"
)

// Streamed answers: the worker writes a streamed completion's pieces to
// the job's event stream in Redis as they arrive, and the api relays them
// as server-sent events. Every event's id is "<job id>:<entry id>", so a
// client that lost the connection reconnects with Last-Event-ID (on the
// same route, or GET /v1/jobs/{id}/events) and goes on where it stopped,
// without a second upstream call.

// streamWriter writes one route's SSE format.
type streamWriter interface {
	// event writes one of j's events; sseID is the id to give it.
	event(c *gin.Context, j *reliapi.Job, sseID string, e jobs.Event)
	// failed answers a stream that ended in error before it began (nothing
	// has been written yet).
	failed(c *gin.Context, j *reliapi.Job, e *reliapi.Error)
	// accepted hands over, as a job to follow, a stream that has not begun
	// when this replica stops relaying.
	accepted(c *gin.Context, j *reliapi.Job)
}

// eventWait is how long one read of the event stream waits; between
// reads the job's status is checked, so a job that ended without a last
// event (canceled, say) still ends the stream.
const eventWait = time.Second

// keepAlive is how often an idle stream sends a comment, so proxies in
// between do not close it.
const keepAlive = 15 * time.Second

// writeWindow bounds each write to the client, in place of the server's
// WriteTimeout (which would cut any stream longer than it).
const writeWindow = 30 * time.Second

// relay streams job's events from after (an entry ID; "0" from the start)
// until the last one, the job's end, the client leaving, or this replica
// shutting down (the client then resumes on another). Nothing is written
// until the first event: a stream that fails before it begins is answered
// by w.failed.
func (s *Server) relay(c *gin.Context, w streamWriter, job *reliapi.Job, after string) {
	if after == endID {
		// Resuming after the end: nothing more will come (204 tells an
		// EventSource to stop reconnecting).
		c.Status(http.StatusNoContent)
		return
	}
	ctx := c.Request.Context()
	out := newSSEOut(c, w, job, after)
	deadline := time.Now().Add(s.settings.Jobs.Timeout.Duration + time.Minute)
	for ctx.Err() == nil && time.Now().Before(deadline) && !s.handingOff() {
		events, err := s.store.Events(ctx, job.ID, out.after, eventWait)
		if err != nil {
			if ctx.Err() == nil {
				logAt(c, slog.LevelWarn, "reading a job's events", "job_id", job.ID, "error", err)
				sleepCtx(ctx, eventWait) // Redis trouble: try again shortly
			}
			continue
		}
		if len(events) == 0 {
			var over bool
			if events, over = s.ending(ctx, c, job, out); over {
				return
			}
		}
		if out.write(events) {
			return
		}
	}
	if !out.started && ctx.Err() == nil {
		// Shutting down (or past the deadline) before the first event: the
		// job goes on; say where to follow it.
		w.accepted(c, job)
	}
}

// ending is what to send when no event came: nothing while the job runs;
// for a job that ended without (the rest of) its events, the end its
// record says. over is true when the reader has seen it all already (its
// last event ended the stream), which is answered here.
func (s *Server) ending(ctx context.Context, c *gin.Context, job *reliapi.Job, out *sseOut) (events []jobs.Event, over bool) {
	latest, err := s.store.Get(ctx, tenant(c), job.ID)
	if err != nil || !latest.Status.Terminal() {
		return nil, false
	}
	if events, _ = s.store.Events(ctx, job.ID, out.after, 0); len(events) > 0 {
		return events, false
	}
	// A reader that resumed has seen the start; one whose last event ended
	// the stream has seen it all.
	began := out.started || out.after != "0"
	if last, _ := s.store.LastEvent(ctx, job.ID); began && last != nil && last.Terminal() {
		if !out.started {
			c.Status(http.StatusNoContent)
		}
		return nil, true
	}
	return closingEvents(latest, began), false
}

// sseOut writes one job's events to a client as server-sent events.
type sseOut struct {
	c         *gin.Context
	w         streamWriter
	job       *reliapi.Job
	rc        *http.ResponseController
	started   bool
	after     string // the last entry ID written
	lastWrite time.Time
}

func newSSEOut(c *gin.Context, w streamWriter, job *reliapi.Job, after string) *sseOut {
	o := &sseOut{c: c, w: w, job: job, rc: http.NewResponseController(c.Writer), after: after, lastWrite: time.Now()}
	_ = o.rc.SetWriteDeadline(time.Now().Add(writeWindow))
	return o
}

// write writes events (or, after keepAlive of silence, a comment) and
// reports whether the stream is over.
func (o *sseOut) write(events []jobs.Event) bool {
	for _, e := range events {
		if o.emit(e) {
			o.flush()
			return true
		}
	}
	if len(events) > 0 {
		o.flush()
	} else if o.started && time.Since(o.lastWrite) > keepAlive {
		fmt.Fprint(o.c.Writer, ": keep-alive\n\n")
		o.flush()
		o.lastWrite = time.Now()
	}
	return false
}

// emit writes one event, the response's headers before the first, and
// reports whether the stream is over.
func (o *sseOut) emit(e jobs.Event) bool {
	if !o.started {
		if e.Type == jobs.EventError {
			o.w.failed(o.c, o.job, eventError(e))
			return true
		}
		h := o.c.Writer.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		h.Set("X-Job-ID", o.job.ID)
		o.c.Status(http.StatusOK)
		o.started = true
	}
	o.w.event(o.c, o.job, o.job.ID+":"+e.ID, e)
	o.after, o.lastWrite = e.ID, time.Now()
	return e.Terminal()
}

func (o *sseOut) flush() {
	_ = o.rc.Flush()
	_ = o.rc.SetWriteDeadline(time.Now().Add(writeWindow))
}

// closingEvents are the events that end the stream of a finished job
// whose own are missing: it was not streamed (GET /v1/jobs/{id}/events on
// any LLM job), or the worker could not write its last event. A job that
// succeeded gets its whole answer as one chunk (unless began) and "done";
// any other, "error".
func closingEvents(j *reliapi.Job, began bool) []jobs.Event {
	const id = endID
	res := j.Result
	var chat reliapi.ChatResponse
	if j.Status != reliapi.JobSucceeded || res == nil || json.Unmarshal(res.Data, &chat) != nil {
		return []jobs.Event{jobs.NewEvent(id, jobs.EventError, jobError(j))}
	}
	var out []jobs.Event
	if !began {
		target := j.Target
		if res.Meta.FallbackUsed {
			target = res.Meta.FallbackTarget
		}
		out = append(out,
			jobs.NewEvent(id, jobs.EventMeta, jobs.StreamMeta{
				JobID: j.ID, Target: target, Provider: res.Meta.Provider, Model: chat.Model,
				CostEstimateUSD: res.Meta.CostEstimateUSD, CostPolicyApplied: res.Meta.CostPolicyApplied,
				MaxTokensReduced: res.Meta.MaxTokensReduced, OriginalMaxTokens: res.Meta.OriginalMaxTokens,
			}),
			jobs.NewEvent(id, jobs.EventChunk, jobs.StreamChunk{Delta: chat.Content}))
	}
	return append(out, jobs.NewEvent(id, jobs.EventDone, jobs.StreamDone{
		FinishReason: chat.FinishReason, Usage: chat.Usage, Model: chat.Model, CostUSD: res.Meta.CostUSD,
	}))
}

// handingOff reports whether this replica is shutting down.
func (s *Server) handingOff() bool { return s.handoff.Err() != nil }

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// eventError reads an "error" event back into a coded error.
func eventError(e jobs.Event) *reliapi.Error {
	var out reliapi.Error
	if json.Unmarshal(e.Data, &out) != nil || out.Code == "" {
		return reliapi.Errorf(reliapi.CodeInternal, "Internal server error")
	}
	return &out
}

// jobError is why a finished job has no (more) events: its error, or for
// a job that ended some other way, an internal error.
func jobError(j *reliapi.Job) *reliapi.Error {
	if j.Result != nil && j.Result.Error != nil {
		return j.Result.Error
	}
	if j.Status == reliapi.JobCanceled {
		return reliapi.Errorf(reliapi.CodeJobCanceled, "The job was canceled")
	}
	return reliapi.Errorf(reliapi.CodeInternal, "The job ended without finishing its stream")
}

// resumePoint reads Last-Event-ID ("<job id>:<entry id>", as the stream
// gave it): the job to go on with and the entry after which to go on.
// Without the header ok is false; a header of another shape is an error.
func resumePoint(c *gin.Context) (jobID, after string, ok bool, err error) {
	v := c.GetHeader("Last-Event-ID")
	if v == "" {
		return "", "", false, nil
	}
	jobID, after, _ = strings.Cut(v, ":")
	if !validJobID.MatchString(jobID) || after != endID && !validEntryID.MatchString(after) {
		return "", "", false, invalid("Last-Event-ID must be an id this API sent in a stream: the job ID, a colon, the entry ID")
	}
	return jobID, after, true, nil
}

// endID is the entry ID of events made up from a job's record: they end
// the stream.
const endID = "end"

// validEntryID is the shape of a Redis stream entry ID.
var validEntryID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// resume goes on with a stream after Last-Event-ID, when the request
// carries one; it reports whether it answered.
func (s *Server) resume(c *gin.Context, d dialect, m meta) bool {
	id, after, ok, err := resumePoint(c)
	if err != nil {
		d.err(c, err, m)
		return true
	}
	if !ok {
		return false
	}
	ctx, cancel := s.redisCtx(c)
	job, err := s.store.Get(ctx, tenant(c), id)
	cancel()
	if err != nil {
		d.err(c, s.jobErr(id, err), m)
		return true
	}
	s.relay(c, d.stream, job, after)
	return true
}

// seedStream is the /v1/proxy/llm event format (seed §8): "meta", then
// "chunk" events with {"delta", "finish_reason"}, then "done" or "error";
// or a lone "error" when the call failed before its answer began.
type seedStream struct{}

func (seedStream) event(c *gin.Context, _ *reliapi.Job, sseID string, e jobs.Event) {
	if e.Type == jobs.EventError {
		writeSSE(c, sseID, e.Type, streamErrorBody(eventError(e), ""))
		return
	}
	writeSSE(c, sseID, e.Type, e.Data)
}

func (seedStream) accepted(c *gin.Context, j *reliapi.Job) { writeAccepted(c, j) }

func (seedStream) failed(c *gin.Context, j *reliapi.Job, e *reliapi.Error) {
	// The seed's contract: errors are in-band, even before the stream.
	c.Header("Content-Type", "text/event-stream")
	c.Header("Cache-Control", "no-cache")
	c.Header("X-Job-ID", j.ID)
	c.Status(http.StatusOK)
	writeSSE(c, "", jobs.EventError, streamErrorBody(e, j.Target))
}

// streamErrorBody is an "error" event's data: the envelope's error object
// and, for an upstream's answer, its status.
func streamErrorBody(e *reliapi.Error, target string) any {
	return struct {
		*errorBody
		UpstreamStatus int `json:"upstream_status,omitempty"`
	}{render.NewErrorBody(e, target), e.UpstreamStatus}
}

// writeSSE writes one event; data is JSON (raw, or a value to encode).
func writeSSE(c *gin.Context, id, event string, data any) {
	raw, ok := data.(json.RawMessage)
	if !ok {
		raw, _ = json.Marshal(data)
	}
	if id != "" {
		fmt.Fprintf(c.Writer, "id: %s\n", id)
	}
	if event != "" {
		fmt.Fprintf(c.Writer, "event: %s\n", event)
	}
	fmt.Fprintf(c.Writer, "data: %s\n\n", raw)
}

// streamEvents serves GET /v1/jobs/{id}/events: a streamed job's events in
// the /v1/proxy/llm format, from the start or after Last-Event-ID.
func (s *Server) streamEvents(c *gin.Context) {
	m := meta{RequestID: requestID(c)}
	setLabels(c, "", "stream")
	id, ok := s.jobParam(c, m)
	if !ok {
		return
	}
	ctx, cancel := s.redisCtx(c)
	job, err := s.store.Get(ctx, tenant(c), id)
	cancel()
	if err != nil {
		writeError(c, s.jobErr(id, err), m)
		return
	}
	if job.Kind != reliapi.KindLLM {
		writeError(c, invalid("Job %s is not an LLM job and has no event stream", id), m)
		return
	}
	after := "0"
	jobID, from, ok, err := resumePoint(c)
	switch {
	case err != nil:
		writeError(c, err, m)
		return
	case ok && jobID != id:
		writeError(c, invalid("Last-Event-ID names job %s, not %s", jobID, id), m)
		return
	case ok:
		after = from
	}
	s.relay(c, seedStream{}, job, after)
}
