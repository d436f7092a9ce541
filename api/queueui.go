package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// queueUIPath is where the queue UI lives.
const queueUIPath = "/admin/queues"

// newQueueUI is asynqmon, the asynq web UI, on the api's own Redis
// client: operators see queues, scheduled, retrying and archived tasks.
// It is read-only — acting on a task behind its job's back would leave the
// job record wrong; `reliapi jobs` acts through the jobs — and shows each
// task as a summary of its job, never the caller's headers or body.
func newQueueUI(rdb redis.UniversalClient) http.Handler {
	return asynqmon.New(asynqmon.Options{
		RootPath:         queueUIPath,
		RedisConnOpt:     sharedRedis{rdb},
		ReadOnly:         true,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(taskSummary),
	})
}

// sharedRedis hands asynqmon the process's client instead of a new
// connection pool. The UI is never closed, so neither is the client.
type sharedRedis struct{ rdb redis.UniversalClient }

func (s sharedRedis) MakeRedisClient() any { return s.rdb }

// taskSummary describes a task by its job: which job, tenant and target,
// and what call — not the call's headers, body or messages.
func taskSummary(taskType string, payload []byte) string {
	var p struct {
		JobID  string `json:"job_id"`
		Tenant string `json:"tenant"`
		Target string `json:"target"`
		HTTP   *struct {
			Method string `json:"method"`
			Path   string `json:"path"`
		} `json:"http"`
		LLM *struct {
			Model string `json:"model"`
		} `json:"llm"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return fmt.Sprintf("(%d bytes, not a ReliAPI task)", len(payload))
	}
	s := fmt.Sprintf("%s job %s, tenant %s", taskType, p.JobID, p.Tenant)
	switch {
	case p.HTTP != nil:
		s += fmt.Sprintf(": %s %s on %s", p.HTTP.Method, p.HTTP.Path, p.Target)
	case p.LLM != nil:
		s += fmt.Sprintf(": %s on %s", p.LLM.Model, p.Target)
	}
	return s
}

// queueUI serves the UI behind the admin key, which a browser sends as
// the password of HTTP Basic authentication.
func (s *Server) queueUI(c *gin.Context) {
	rest := strings.TrimPrefix(c.Request.URL.Path, queueUIPath)
	if strings.HasPrefix(rest, "/api/") || strings.HasPrefix(rest, "/static/") {
		s.ui.ServeHTTP(c.Writer, c.Request) // the UI's data and its bundles, as they are
		return
	}
	page := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	s.ui.ServeHTTP(page, c.Request)
	body := externalFonts.ReplaceAll(page.body.Bytes(), nil)
	for k, v := range page.header {
		c.Writer.Header()[k] = v
	}
	c.Writer.WriteHeader(page.status)
	c.Writer.Write(body)
}

// externalFonts are the links of asynqmon's page to Google Fonts. They are
// dropped: the UI must work offline and behind a firewall, where a browser
// reports each of them as a failed load. The page then uses the system's
// sans-serif; its icons are SVG, not the icon font.
var externalFonts = regexp.MustCompile(`<link rel="stylesheet" href="https://fonts\.googleapis\.com/[^"]*"/?>`)

// bufferedResponse holds a small answer (asynqmon's page, its icons and
// manifest) so that it can be changed before it is sent.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }

// requireAdminBrowser is requireAdmin for pages a browser opens: a
// refusal asks the browser for the admin key (any user name).
func (s *Server) requireAdminBrowser(c *gin.Context) {
	c.Writer.Header().Add("WWW-Authenticate", `Basic realm="ReliAPI admin", charset="UTF-8"`)
	s.requireAdmin(c)
}
