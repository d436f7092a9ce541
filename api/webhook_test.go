package api_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/tasks"
)

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// webhookYAML configures deliveries to loopback receivers, retried at
// once, one second per attempt.
const webhookYAML = `
webhooks:
  allow_private_networks: true
  timeout_s: 1
  schedule_s: [0, 0, 0, 0, 0]
  secrets: {default: ["` + hookSecret + `"]}
`

// receiver is a webhook receiver that fails its first attempts as told
// and records every request it gets.
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	got  []delivery
	fail []string // how to answer the first attempts: a status ("503"), "hang", "reset"
}

type delivery struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T, fail ...string) *receiver {
	r := &receiver{t: t, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	n := len(r.got)
	how := ""
	if n < len(r.fail) {
		how = r.fail[n]
	}
	d := delivery{header: req.Header.Clone(), body: body, status: 204}
	code, _ := strconv.Atoi(how)
	switch {
	case code > 0:
		d.status = code
	case how == "hang", how == "reset":
		d.status = 0
	}
	r.got = append(r.got, d)
	r.mu.Unlock()
	switch how {
	case "hang":
		<-req.Context().Done() // past the 1 s delivery timeout
	case "reset":
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	default:
		w.WriteHeader(cmp.Or(code, 204))
	}
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitWebhook polls the job until its webhook is no longer pending.
func (s *stack) waitWebhook(id string) response {
	s.t.Helper()
	var r response
	testenv.Eventually(s.t, 20*time.Second, "the webhook of "+id+" to settle", func() bool {
		r = s.do("GET", "/v1/jobs/"+id, nil)
		st, _ := get(r.body, "webhook", "status").(string)
		return st != "" && st != "pending"
	})
	return r
}

// TestWebhookRetriedUntilDelivered: a receiver that fails its first three
// attempts (503, a timeout, a reset connection) gets the event a fourth
// time and accepts it: one successful delivery, the same webhook-id on
// every attempt, each signature verified by the Standard Webhooks
// reference library, and the attempts recorded on the job.
func TestWebhookRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: webhookYAML})
	rcv := newReceiver(t, "503", "hang", "reset")
	r := s.do("POST", "/v1/proxy/http", map[string]any{
		"target": "up", "method": "GET", "path": "/get", "webhook": map[string]any{"url": rcv.srv.URL + "/hook"},
	})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	id := get(r.body, "meta", "job_id").(string)
	job := s.waitWebhook(id)
	if get(job.body, "webhook", "status") != "delivered" {
		t.Fatalf("webhook: %s", job.raw)
	}
	attempts, _ := get(job.body, "webhook", "deliveries").([]any)
	if len(attempts) != 4 || get(attempts[3].(map[string]any), "status_code") != 204.0 ||
		get(attempts[0].(map[string]any), "status_code") != 503.0 || get(attempts[1].(map[string]any), "error") == nil {
		t.Fatalf("recorded attempts: %v", attempts)
	}

	got := rcv.deliveries()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests, want 4", len(got))
	}
	ref, _ := standardwebhooks.NewWebhook(hookSecret)
	msgID := got[0].header.Get("webhook-id")
	for i, d := range got {
		if d.header.Get("webhook-id") != msgID || msgID == "" {
			t.Errorf("attempt %d: webhook-id %q, want %q on every attempt", i+1, d.header.Get("webhook-id"), msgID)
		}
		if err := ref.Verify(d.body, d.header); err != nil {
			t.Errorf("attempt %d: the reference library rejects the signature: %v", i+1, err)
		}
	}
	var payload struct {
		Type      string         `json:"type"`
		Timestamp time.Time      `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(got[3].body, &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Type != "job.succeeded" || payload.Timestamp.IsZero() || payload.Data["id"] != id || payload.Data["status"] != "succeeded" ||
		get(payload.Data, "result", "data", "status_code") != 200.0 {
		t.Fatalf("payload: %s", got[3].body)
	}
	if strings.Contains(s.logs.String(), "MfKQ9r8G") {
		t.Error("the webhook secret is in the logs")
	}
}

// TestWebhookEventsAndCancel: a canceled job's webhook carries
// job.canceled, once; a subscription to other events is skipped; headers
// subscribe clients that cannot change the body; POST /v1/jobs takes
// "webhook".
func TestWebhookEventsAndCancel(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: webhookYAML})
	rcv := newReceiver(t)
	arrived, release := blockUpstream(s, "/slow")
	defer release()
	r := s.do("POST", "/v1/jobs", map[string]any{
		"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/slow"},
		"webhook": map[string]any{"url": rcv.srv.URL, "events": []string{"job.canceled"}},
	})
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	<-arrived
	if c := s.do("POST", "/v1/jobs/"+id+"/cancel", nil); c.status != 200 {
		t.Fatalf("cancel: %d %s", c.status, c.raw)
	}
	if job := s.waitWebhook(id); get(job.body, "webhook", "status") != "delivered" {
		t.Fatalf("canceled job's webhook: %s", job.raw)
	}
	var body struct{ Type string }
	json.Unmarshal(rcv.deliveries()[0].body, &body)
	if n := len(rcv.deliveries()); n != 1 || body.Type != "job.canceled" {
		t.Fatalf("receiver got %d deliveries, type %q", n, body.Type)
	}

	r = s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get"},
		"X-Webhook-URL", rcv.srv.URL, "X-Webhook-Events", "job.failed")
	id = get(r.body, "meta", "job_id").(string)
	if job := s.waitWebhook(id); get(job.body, "webhook", "status") != "skipped" || get(job.body, "webhook", "url") != rcv.srv.URL {
		t.Fatalf("unwanted event: %s", job.raw)
	}
	if n := len(rcv.deliveries()); n != 1 {
		t.Fatalf("receiver got %d deliveries, want still 1", n)
	}
}

// TestWebhookBadInput: a webhook URL that is not http(s) or names a
// non-public address is INVALID_WEBHOOK_URL when private networks are not
// allowed; a name that resolves to one is refused when it is dialled, as
// a failed attempt.
func TestWebhookBadInput(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: strings.Replace(webhookYAML, "allow_private_networks: true", "allow_private_networks: false", 1)})
	rcv := newReceiver(t)
	for _, u := range []string{"http://127.0.0.1/hook", "http://[::1]/hook", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/", "ftp://example.com/", "not a url"} {
		r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get", "webhook": map[string]any{"url": u}})
		if r.status != 400 || get(r.body, "error", "code") != "INVALID_WEBHOOK_URL" {
			t.Errorf("webhook %q: %d %s", u, r.status, r.raw)
		}
	}
	r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get", "webhook": map[string]any{"url": "https://example.com", "events": []string{"job.done"}}})
	if r.status != 400 || get(r.body, "error", "code") != "INVALID_REQUEST" {
		t.Errorf("bad event: %d %s", r.status, r.raw)
	}
	if n := s.upstream.Total(); n != 0 {
		t.Fatalf("refused calls reached the upstream %d times", n)
	}

	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rcv.srv.URL, "http://"))
	r = s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get", "webhook": map[string]any{"url": "http://localhost:" + port + "/hook"}})
	if r.status != 200 {
		t.Fatalf("a name is checked when dialled: %d %s", r.status, r.raw)
	}
	job := s.waitWebhook(get(r.body, "meta", "job_id").(string))
	attempts, _ := get(job.body, "webhook", "deliveries").([]any)
	if get(job.body, "webhook", "status") != "failed" || len(attempts) != 5 || !strings.Contains(get(attempts[0].(map[string]any), "error").(string), "not public") {
		t.Fatalf("a name resolving to loopback: %s", job.raw)
	}
	if n := len(rcv.deliveries()); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
}

// TestWebhookDeadLetterAndReplay: a webhook whose every attempt fails is
// dead-lettered and listed at GET /v1/webhooks/failed; a replay delivers
// it with the same webhook-id once the receiver is back. A receiver that
// answers 410 gets no more deliveries: new subscriptions to its URL are
// refused until a replay to it is asked for.
func TestWebhookDeadLetterAndReplay(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: strings.Replace(webhookYAML, "[0, 0, 0, 0, 0]", "[0, 0]", 1)})
	rcv := newReceiver(t, "500", "500") // then 204
	r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get", "webhook": map[string]any{"url": rcv.srv.URL}})
	id := get(r.body, "meta", "job_id").(string)
	if job := s.waitWebhook(id); get(job.body, "webhook", "status") != "failed" {
		t.Fatalf("after two failed attempts: %s", job.raw)
	}
	failed := s.do("GET", "/v1/webhooks/failed", nil)
	if list, _ := failed.body["data"].([]any); len(list) != 1 || get(list[0].(map[string]any), "id") != id {
		t.Fatalf("failed webhooks: %s", failed.raw)
	}
	replay := s.do("POST", "/v1/jobs/"+id+"/webhook/replay", nil)
	if replay.status != 202 || get(replay.body, "webhook", "status") != "pending" {
		t.Fatalf("replay: %d %s", replay.status, replay.raw)
	}
	if job := s.waitWebhook(id); get(job.body, "webhook", "status") != "delivered" || len(get(job.body, "webhook", "deliveries").([]any)) != 3 {
		t.Fatalf("after the replay: %s", job.raw)
	}
	got := rcv.deliveries()
	if len(got) != 3 || got[2].header.Get("webhook-id") != got[0].header.Get("webhook-id") {
		t.Fatalf("receiver: %d deliveries", len(got))
	}
	if failed := s.do("GET", "/v1/webhooks/failed", nil); len(failed.body["data"].([]any)) != 0 {
		t.Fatalf("failed webhooks after the replay: %s", failed.raw)
	}
	if r := s.do("POST", "/v1/jobs/"+id+"/webhook/replay", nil); r.status != 202 {
		t.Fatalf("replaying a delivered webhook: %d %s", r.status, r.raw)
	}
	s.waitWebhook(id)

	gone := newReceiver(t, "410")
	r = s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get", "webhook": map[string]any{"url": gone.srv.URL}})
	goneID := get(r.body, "meta", "job_id").(string)
	if job := s.waitWebhook(goneID); get(job.body, "webhook", "status") != "gone" || len(gone.deliveries()) != 1 {
		t.Fatalf("410: %s", job.raw)
	}
	// The api learns of the 410 from its announcement, moments after it:
	// a submit before that is accepted, and its delivery ends gone unsent.
	err := testenv.Poll(t.Context(), 5*time.Second, "a gone URL refused", func(context.Context) error {
		r = s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get", "webhook": map[string]any{"url": gone.srv.URL}})
		if r.status != 400 || get(r.body, "error", "code") != "INVALID_WEBHOOK_URL" {
			return fmt.Errorf("subscribing a gone URL: %d %s", r.status, r.raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.do("POST", "/v1/jobs/"+goneID+"/webhook/replay", nil); r.status != 202 {
		t.Fatalf("replay to a gone URL: %d %s", r.status, r.raw)
	}
	if job := s.waitWebhook(goneID); get(job.body, "webhook", "status") != "delivered" {
		t.Fatalf("replay to a URL that is back: %s", job.raw)
	}
	for path, want := range map[string]int{
		"/v1/jobs/job_00000000000000000000000000000000/webhook/replay": 404,
		"/v1/jobs/nonsense/webhook/replay":                             404,
	} {
		if r := s.do("POST", path, nil); r.status != want {
			t.Errorf("POST %s: %d, want %d", path, r.status, want)
		}
	}
	if r := s.do("GET", "/v1/webhooks/failed?limit=0", nil); r.status != 400 {
		t.Errorf("limit=0: %d", r.status)
	}
}

// TestWebhookURLGoneMeanwhile: a delivery queued for a URL that answered
// 410 Gone to another job's delivery meanwhile is not sent; its webhook
// ends gone.
func TestWebhookURLGoneMeanwhile(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: webhookYAML})
	rcv := newReceiver(t)
	arrived, release := blockUpstream(s, "/slow")
	r := s.do("POST", "/v1/jobs", map[string]any{
		"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/slow"},
		"webhook": map[string]any{"url": rcv.srv.URL},
	})
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	<-arrived
	if err := jobs.NewStore(s.rdb, jobs.Config{Retention: time.Hour}).MarkGone(t.Context(), "default", rcv.srv.URL); err != nil {
		t.Fatal(err)
	}
	release()
	if job := s.waitWebhook(id); get(job.body, "webhook", "status") != "gone" {
		t.Fatalf("webhook of a job whose URL went: %s", job.raw)
	}
	if n := len(rcv.deliveries()); n != 0 {
		t.Fatalf("the receiver got %d deliveries, want none", n)
	}
}

// TestWebhookCancelRaces: cancels racing a job's end, and cancels after
// it, leave one final state and exactly one delivery, whose event is that
// state's.
func TestWebhookCancelRaces(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: webhookYAML})
	rcv := newReceiver(t)
	const n = 20
	ids := make([]string, n)
	for i := range n {
		r := s.do("POST", "/v1/jobs", map[string]any{
			"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"},
			"webhook": map[string]any{"url": rcv.srv.URL},
		})
		ids[i] = r.body["id"].(string)
		// Cancel at once: before, while or after the job runs.
		if c := s.do("POST", "/v1/jobs/"+ids[i]+"/cancel", nil); c.status != 200 {
			t.Fatalf("cancel: %d %s", c.status, c.raw)
		}
	}
	for _, id := range ids {
		job := s.waitWebhook(id)
		if get(job.body, "webhook", "status") != "delivered" {
			t.Fatalf("%s: %s", id, job.raw)
		}
		// Cancel after the end: nothing changes, nothing is delivered again.
		if c := s.do("POST", "/v1/jobs/"+id+"/cancel", nil); c.status != 200 || c.body["status"] != job.body["status"] {
			t.Fatalf("cancel after the end: %d %s", c.status, c.raw)
		}
	}
	s.drainWebhooks()
	byJob := map[string][]string{}
	for _, d := range rcv.deliveries() {
		var p struct {
			Type string
			Data struct{ ID, Status string }
		}
		json.Unmarshal(d.body, &p)
		if "job."+p.Data.Status != p.Type {
			t.Errorf("%s: event %s for a job whose data says %s", p.Data.ID, p.Type, p.Data.Status)
		}
		byJob[p.Data.ID] = append(byJob[p.Data.ID], p.Type)
	}
	for _, id := range ids {
		final := s.do("GET", "/v1/jobs/"+id, nil).body["status"]
		if got := byJob[id]; len(got) != 1 || got[0] != "job."+final.(string) {
			t.Errorf("%s ended %v; deliveries %v", id, final, got)
		}
	}
}

// drainWebhooks waits (bounded) until the webhooks queue holds no task
// that is pending, scheduled, retrying or running.
func (s *stack) drainWebhooks() {
	s.t.Helper()
	ins := asynq.NewInspectorFromRedisClient(s.rdb)
	testenv.Eventually(s.t, 20*time.Second, "the webhooks queue to drain", func() bool {
		q, err := ins.GetQueueInfo("webhooks")
		return err == nil && q.Pending+q.Scheduled+q.Retry+q.Active == 0
	})
}

// TestJobDeadline: a job that no worker started before its deadline ends
// "expired" without reaching the upstream, and its webhook says
// job.expired; one started in time runs; a deadline in the past is a 400.
func TestJobDeadline(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: webhookYAML, noWorker: true})
	rcv := newReceiver(t)
	submit := func(deadline time.Time) response {
		return s.do("POST", "/v1/jobs", map[string]any{
			"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"},
			"webhook": map[string]any{"url": rcv.srv.URL}, "deadline": deadline.Format(time.RFC3339Nano),
		})
	}
	soon := time.Now().Add(300 * time.Millisecond)
	late, inTime := submit(soon), submit(time.Now().Add(time.Hour))
	if late.status != 202 || late.body["deadline"] == nil || inTime.status != 202 {
		t.Fatalf("submit: %d %s", late.status, late.raw)
	}
	testenv.Eventually(t, 5*time.Second, "the first deadline to pass", func() bool { return time.Now().After(soon.Add(50 * time.Millisecond)) })
	s.startWorker()

	expired := s.waitWebhook(late.body["id"].(string))
	if expired.body["status"] != "expired" || get(expired.body, "error", "code") != "JOB_EXPIRED" || expired.body["result"] != nil ||
		get(expired.body, "webhook", "status") != "delivered" {
		t.Fatalf("late job: %s", expired.raw)
	}
	ran := s.waitWebhook(inTime.body["id"].(string))
	if ran.body["status"] != "succeeded" {
		t.Fatalf("job in time: %s", ran.raw)
	}
	if n := s.upstream.Calls("/get"); n != 1 {
		t.Fatalf("upstream calls = %d, want 1 (the expired job never runs)", n)
	}
	var types []string
	for _, d := range rcv.deliveries() {
		var p struct{ Type string }
		json.Unmarshal(d.body, &p)
		types = append(types, p.Type)
	}
	slices.Sort(types)
	if strings.Join(types, ",") != "job.expired,job.succeeded" {
		t.Fatalf("deliveries: %v", types)
	}
	if r := submit(time.Now().Add(-time.Minute)); r.status != 400 || !strings.Contains(get(r.body, "error", "message").(string), "past") {
		t.Fatalf("deadline in the past: %d %s", r.status, r.raw)
	}

	// The deadline is part of the request an idempotency key names.
	keyed := func(deadline string) response {
		return s.do("POST", "/v1/jobs", map[string]any{
			"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"}, "deadline": deadline,
		}, "Idempotency-Key", "with-deadline")
	}
	hour := time.Now().Add(time.Hour).UTC()
	first := keyed(hour.Format(time.RFC3339))
	if again := keyed(hour.In(time.FixedZone("", 3600)).Format(time.RFC3339)); first.status != 202 || again.status != 202 || again.body["id"] != first.body["id"] {
		t.Fatalf("the same deadline again (another zone): %d %d %s", first.status, again.status, again.raw)
	}
	if r := keyed(hour.Add(time.Minute).Format(time.RFC3339)); r.status != 409 || get(r.body, "error", "code") != "IDEMPOTENCY_CONFLICT" {
		t.Fatalf("another deadline with the same key: %d %s", r.status, r.raw)
	}
}

// TestWebhookRedirectNotFollowed: a receiver answering 3xx has not taken
// the delivery, and the redirect is not followed (it could point anywhere,
// a private address included).
func TestWebhookRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: strings.Replace(webhookYAML, "[0, 0, 0, 0, 0]", "[0]", 1)})
	target := newReceiver(t)
	redirector := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusFound))
	t.Cleanup(redirector.Close)
	r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get", "webhook": map[string]any{"url": redirector.URL}})
	job := s.waitWebhook(get(r.body, "meta", "job_id").(string))
	attempts, _ := get(job.body, "webhook", "deliveries").([]any)
	if get(job.body, "webhook", "status") != "failed" || len(attempts) != 1 || get(attempts[0].(map[string]any), "status_code") != 302.0 {
		t.Fatalf("redirected delivery: %s", job.raw)
	}
	if n := len(target.deliveries()); n != 0 {
		t.Fatalf("the redirect was followed: its target got %d requests", n)
	}
}

// TestWebhookAfterCrashBeforeEnqueue: a worker that died after recording
// its job's end, before enqueuing the webhook, left the job's task
// unacknowledged; when asynq delivers it again, the job's end is found
// and its webhook delivered.
func TestWebhookAfterCrashBeforeEnqueue(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: webhookYAML})
	rcv := newReceiver(t)
	ctx := t.Context()
	store := jobs.NewStore(s.rdb, jobs.Config{})
	id, taskID := "job_"+strings.Repeat("7", 32), "task-crash"
	if _, _, err := store.Create(ctx, jobs.New{ID: id, Tenant: "default", Kind: reliapi.KindHTTP, Target: "up",
		Queue: tasks.QueueAsync, TaskID: taskID, Webhook: &reliapi.Subscription{URL: rcv.srv.URL}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, run, err := store.Start(ctx, id, jobs.Claim{TaskID: taskID}, nil); !run || err != nil {
		t.Fatalf("start: %v %v", run, err)
	}
	res := &reliapi.Result{Data: json.RawMessage(`{"status_code":200,"headers":{},"body":null}`)}
	if ok, err := store.Finish(ctx, id, jobs.Claim{TaskID: taskID}, reliapi.JobSucceeded, res, false, nil); !ok || err != nil {
		t.Fatalf("finish: %v %v", ok, err)
	}
	// The worker died here. asynq delivers the job's task again.
	task, err := tasks.New(tasks.Payload{JobID: id, Tenant: "default", Target: "up", HTTP: &tasks.HTTPRequest{Method: "GET", Path: "/get"}},
		tasks.Placement{Queue: tasks.QueueAsync, TaskID: taskID, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewClientFromRedisClient(s.rdb).Enqueue(task); err != nil {
		t.Fatal(err)
	}
	if job := s.waitWebhook(id); get(job.body, "webhook", "status") != "delivered" || len(rcv.deliveries()) != 1 {
		t.Fatalf("after the redelivery: %s", job.raw)
	}
	if n := s.upstream.Calls("/get"); n != 0 {
		t.Fatalf("the ended job ran again: %d upstream calls", n)
	}
}

// TestIdempotentRepeatWithAnotherWebhook: the webhook a caller asks for is
// part of the request its idempotency key names. Repeating the call with
// the same webhook (events in any order) attaches to the job; adding a
// webhook, or naming another, is a conflict instead of a webhook that is
// silently never sent.
func TestIdempotentRepeatWithAnotherWebhook(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: webhookYAML, noWorker: true})
	submit := func(key string, webhook map[string]any) response {
		body := map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"}}
		if webhook != nil {
			body["webhook"] = webhook
		}
		return s.do("POST", "/v1/jobs", body, "Idempotency-Key", key)
	}
	hook := map[string]any{"url": "https://example.com/a", "events": []string{"job.succeeded", "job.failed"}}
	first := submit("with-hook", hook)
	if first.status != 202 {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	same := submit("with-hook", map[string]any{"url": "https://example.com/a", "events": []string{"job.failed", "job.succeeded"}})
	if same.status != 202 || same.body["id"] != first.body["id"] {
		t.Fatalf("the same webhook, events reordered: %d %s", same.status, same.raw)
	}
	for name, w := range map[string]map[string]any{
		"another URL": {"url": "https://example.com/b", "events": []string{"job.succeeded", "job.failed"}},
		"no webhook":  nil,
	} {
		if r := submit("with-hook", w); r.status != 409 || get(r.body, "error", "code") != "IDEMPOTENCY_CONFLICT" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if r := submit("without-hook", nil); r.status != 202 {
		t.Fatalf("without a webhook: %d %s", r.status, r.raw)
	}
	if r := submit("without-hook", hook); r.status != 409 || get(r.body, "error", "code") != "IDEMPOTENCY_CONFLICT" {
		t.Errorf("a webhook added on a repeat: %d %s", r.status, r.raw)
	}
}
