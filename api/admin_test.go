package api_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"

	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/tasks"
)

// queuesAnswer is GET /v1/admin/queues, the parts these tests read.
type queuesAnswer struct {
	Data []struct {
		Queue     string
		Ready     int
		HandedOff int `json:"handed_off"`
		Tenants   []struct {
			Tenant, Tier string
			Ready        int
		}
	}
	Tenants []tenantRow
}

type tenantRow struct {
	Tenant     string
	Tier       string
	ReadySync  int `json:"ready_sync"`
	ReadyAsync int `json:"ready_async"`
	Running    int
}

// adminQueues reads GET /v1/admin/queues as the admin, checking the answer
// against its schema in openapi.yaml.
func (s *stack) adminQueues() queuesAnswer {
	s.t.Helper()
	r := s.raw("GET", "/v1/admin/queues", "X-API-Key", "admin-key")
	if r.status != 200 {
		s.t.Fatalf("admin queues: %d %s", r.status, r.raw)
	}
	s.fitsSchema("/v1/admin/queues", r.raw)
	var out queuesAnswer
	if err := json.Unmarshal(r.raw, &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// fitsSchema fails the test when body does not fit the schema of path's
// GET 200 answer in the api's own description.
func (s *stack) fitsSchema(path string, body []byte) {
	s.t.Helper()
	doc, err := libopenapi.NewDocument(s.raw("GET", "/openapi.json").raw)
	if err != nil {
		s.t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		s.t.Fatal(err)
	}
	schema := model.Model.Paths.PathItems.GetOrZero(path).Get.Responses.Codes.GetOrZero("200").Content.GetOrZero("application/json").Schema.Schema()
	if ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytes(schema, body); !ok {
		for _, e := range errs {
			s.t.Errorf("GET %s: %s does not fit its schema: %s", path, body, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				s.t.Errorf("  %s at %s", se.Reason, se.FieldPath)
			}
		}
	}
}

// metric is the value of one series of the stack's /metrics (0 when it is
// absent), read with the admin key.
func (s *stack) metric(series string) float64 {
	s.t.Helper()
	return s.seriesIn(s.scrape(), series)
}

// wantMetrics checks the values of series in one scrape of /metrics.
func (s *stack) wantMetrics(want map[string]float64) {
	s.t.Helper()
	scrape := s.scrape()
	for series, w := range want {
		if got := s.seriesIn(scrape, series); got != w {
			s.t.Errorf("%s = %v, want %v", series, got, w)
		}
	}
}

func (s *stack) scrape() string {
	return string(s.raw("GET", "/metrics", "X-API-Key", "admin-key").raw)
}

// seriesIn is series' value in scrape, 0 when absent.
func (s *stack) seriesIn(scrape, series string) float64 {
	s.t.Helper()
	for line := range strings.SplitSeq(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("%s: %q", series, line)
			}
			return f
		}
	}
	return 0
}

// TestAdminQueues: the jobs of each tenant waiting in the lanes are
// counted per tenant and kind, and per tier in reliapi_queue_depth; a job
// running on a worker is counted for its tenant while it runs; every
// first start is timed per tier in reliapi_queue_wait_seconds.
func TestAdminQueues(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true, authYAML: tenantsYAML})
	keyA, keyB := []string{"X-API-Key", "key-a"}, []string{"X-API-Key", "key-b"}
	job := func(path string, key []string) string {
		t.Helper()
		r := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": path}}, key...)
		if r.status != 202 {
			t.Fatalf("submit: %d %s", r.status, r.raw)
		}
		return r.body["id"].(string)
	}
	job("/get", keyA)
	job("/get", keyA)
	job("/get", keyB)
	// A sync call that answers at once: its job waits in the sync lane.
	if r := s.proxy("GET", "/get", append([]string{"Prefer", "wait=0"}, keyA...)...); r.status != 202 {
		t.Fatalf("sync call: %d %s", r.status, r.raw)
	}

	// A delivery waiting in the webhook lane, as a worker's Finish queues
	// one (no worker runs here to take it).
	if err := s.rdb.RPush(t.Context(), lane.HookKey(tasks.QueueWebhooks), lane.Hook{Payload: []byte(`{}`), At: time.Now()}.Encode()).Err(); err != nil {
		t.Fatal(err)
	}

	q := s.adminQueues()
	want := []tenantRow{{Tenant: "a", Tier: "pro", ReadySync: 1, ReadyAsync: 2}, {Tenant: "b", Tier: "enterprise", ReadyAsync: 1}}
	if !reflect.DeepEqual(q.Tenants, want) {
		t.Errorf("tenants ready: %+v, want %+v", q.Tenants, want)
	}
	for _, d := range q.Data {
		if want := map[string]int{"async": 3, "sync": 1, "webhooks": 1}[d.Queue]; d.Ready != want || d.HandedOff != 0 {
			t.Errorf("queue %s: ready %d, handed off %d; want %d ready", d.Queue, d.Ready, d.HandedOff, want)
		}
	}
	s.wantMetrics(map[string]float64{
		`reliapi_queue_depth{queue="async",tenant_tier="pro"}`:        2,
		`reliapi_queue_depth{queue="async",tenant_tier="enterprise"}`: 1,
		`reliapi_queue_depth{queue="async",tenant_tier="free"}`:       0,
		`reliapi_queue_depth{queue="sync",tenant_tier="pro"}`:         1,
		`reliapi_queue_depth{queue="sync",tenant_tier="unknown"}`:     0,
	})

	// A worker runs them all; then a job of a's that blocks upstream runs.
	s.startWorker()
	eventually(t, "the queued jobs to run", func() bool {
		return len(s.adminQueues().Tenants) == 0 && s.metric(`reliapi_queue_depth{queue="async",tenant_tier="pro"}`) == 0
	})
	arrived, release := s.upstream.Block("/slow")
	t.Cleanup(release)
	slow := job("/slow", keyA)
	<-arrived
	eventually(t, "a's job to count as running", func() bool {
		return reflect.DeepEqual(s.adminQueues().Tenants, []tenantRow{{Tenant: "a", Tier: "pro", Running: 1}})
	})
	release()
	if r := s.waitJob(slow, keyA...); r.body["status"] != "succeeded" {
		t.Fatalf("slow job: %s", r.raw)
	}
	eventually(t, "a's job to stop counting", func() bool { return len(s.adminQueues().Tenants) == 0 })
	// The worker, idle again, removed its record and writes no other.
	if keys := s.keys("reliapi:workers:*"); len(keys) != 0 {
		t.Errorf("an idle worker keeps %v", keys)
	}

	s.wantMetrics(map[string]float64{
		`reliapi_queue_wait_seconds_count{queue="async",tenant_tier="pro"}`:        3,
		`reliapi_queue_wait_seconds_count{queue="async",tenant_tier="enterprise"}`: 1,
		`reliapi_queue_wait_seconds_count{queue="sync",tenant_tier="pro"}`:         1,
		`reliapi_queue_wait_seconds_count{queue="sync",tenant_tier="enterprise"}`:  0,
	})
}
