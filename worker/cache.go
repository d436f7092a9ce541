package worker

import (
	"context"
	"encoding/json"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/tasks"
)

// fillCache stores a job's answer in the response cache when the api asked
// for it and the answer is cacheable (a completion, or an HTTP answer with
// a status below 400), and releases the job's in-flight claim either way, so that
// identical requests waiting on this job are answered and the next one
// hits the cache or tries again. Failures are logged: the job's own result
// does not depend on the cache.
func (w *Worker) fillCache(ctx context.Context, p tasks.Payload, res *reliapi.Result) {
	fill := p.Cache
	if fill == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	var err error
	if res.Error == nil && (p.LLM != nil || cacheableStatus(res.Data)) {
		err = w.cache.Store(ctx, fill.Hash, p.JobID, res.Data, fill.TTL)
	} else {
		err = w.cache.Abandon(ctx, fill.Hash, p.JobID)
	}
	if err != nil {
		w.log.Warn("updating the response cache", "job_id", p.JobID, "target", p.Target, "error", err)
	}
}

// cacheableStatus reports whether an HTTP answer's status is below 400.
func cacheableStatus(data []byte) bool {
	var r struct {
		StatusCode int `json:"status_code"`
	}
	return json.Unmarshal(data, &r) == nil && r.StatusCode > 0 && r.StatusCode < 400
}
