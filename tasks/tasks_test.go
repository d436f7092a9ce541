package tasks_test

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/tasks"
)

func TestHTTPTaskRoundTrip(t *testing.T) {
	t.Parallel()
	in := tasks.Payload{
		JobID: "job_1", Tenant: "default", Target: "httpbin", IdempotencyKey: "k1",
		HTTP: &tasks.HTTPRequest{
			Method: "POST", Path: "/anything", Query: url.Values{"a": {"1", "2"}},
			Headers: map[string]string{"X-Test": "yes"}, Body: []byte(`{"x":1}`),
		},
	}
	task, err := tasks.New(in, tasks.Placement{Queue: tasks.QueueSync, TaskID: "t1", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != tasks.TypeHTTP {
		t.Fatalf("type = %q", task.Type())
	}
	out, err := tasks.Decode(task.Payload())
	if err != nil {
		t.Fatal(err)
	}
	in.Version = tasks.PayloadVersion
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    string
		wantErr error
	}{
		{"not json", `{`, nil},
		{"future version", `{"v":99,"job_id":"j"}`, tasks.ErrUnknownVersion},
		{"no version", `{"job_id":"j"}`, tasks.ErrUnknownVersion},
		{"no job id", `{"v":1}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tasks.Decode([]byte(tt.data))
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"job_id":"j","http":{"method":"GET","path":"/"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := tasks.Decode(data)
		if err == nil && (p.JobID == "" || p.Version != tasks.PayloadVersion) {
			t.Fatalf("accepted invalid payload %+v", p)
		}
	})
}

func TestLLMTaskAndPayloadShape(t *testing.T) {
	t.Parallel()
	max := 20
	in := tasks.Payload{JobID: "job_2", Tenant: "t", Target: "openai",
		LLM: &reliapi.ChatRequest{Model: "gpt-4o-mini", Messages: []reliapi.Message{{Role: "user", Content: "hi"}}, MaxTokens: &max}}
	task, err := tasks.New(in, tasks.Placement{Queue: tasks.QueueSync, TaskID: "t2", Timeout: time.Minute})
	if err != nil || task.Type() != tasks.TypeLLM {
		t.Fatalf("New = %v, %v", task, err)
	}
	out, err := tasks.Decode(task.Payload())
	in.Version = tasks.PayloadVersion
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	for _, bad := range []tasks.Payload{{JobID: "j"}, {JobID: "j", HTTP: &tasks.HTTPRequest{}, LLM: &reliapi.ChatRequest{}}} {
		if _, err := tasks.New(bad, tasks.Placement{}); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}

func TestShards(t *testing.T) {
	t.Parallel()
	if q := tasks.Shard(tasks.QueueSync, "job_1", 1); q != "sync" {
		t.Errorf("one shard: %q", q)
	}
	if got := tasks.ShardsOf(tasks.QueueAsync, 3); fmt.Sprint(got) != "[async async-1 async-2]" {
		t.Errorf("ShardsOf = %v", got)
	}
	seen := map[string]int{}
	for i := range 1000 {
		id := fmt.Sprintf("job_%d", i)
		q := tasks.Shard(tasks.QueueAsync, id, 4)
		if q != tasks.Shard(tasks.QueueAsync, id, 4) {
			t.Fatal("a job's shard changes")
		}
		seen[q]++
	}
	if len(seen) != 4 {
		t.Fatalf("1000 jobs over 4 shards used %v", seen)
	}
	for q, n := range seen {
		if n < 150 {
			t.Errorf("shard %s got %d of 1000 jobs", q, n)
		}
	}
	if w := tasks.JobQueues(2); w["sync-1"] != 6 || w["async"] != 3 || len(w) != 4 {
		t.Errorf("JobQueues(2) = %v", w)
	}
	if all := tasks.AllQueues(2); len(all) != 6 {
		t.Errorf("AllQueues(2) = %v", all)
	}
	for q, kind := range map[string]string{"sync": "sync", "async-3": "async", "webhooks-1": "webhooks"} {
		if got := tasks.KindOf(q); got != kind {
			t.Errorf("KindOf(%q) = %q, want %q", q, got, kind)
		}
	}
}

// TestWebhookPayloadRoundTrip: a job's first delivery names its job and
// its URL by digest, never the URL, and comes back whole from its task.
func TestWebhookPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	j := &reliapi.Job{ID: "job_1", Tenant: "acme", CreatedAt: time.UnixMilli(1_700_000_000_123),
		Webhook: &reliapi.Subscription{URL: "https://hooks.example.com/x?token=s3cret"}}
	p := tasks.FirstWebhook(j)
	if p.URLDigest != reliapi.WebhookURLDigest(j.Webhook.URL) {
		t.Fatalf("digest %q", p.URLDigest)
	}
	task, err := tasks.NewWebhook(p, 4)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(task.Payload()), "s3cret") {
		t.Fatalf("the task's payload shows the URL: %s", task.Payload())
	}
	got, err := tasks.DecodeWebhook(task.Payload())
	p.Version = tasks.PayloadVersion // set by NewWebhook
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("decoded %+v %v, want %+v", got, err, p)
	}
}
