package cache_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/reliability/cache"
)

func TestHash(t *testing.T) {
	t.Parallel()
	base := cache.Request{Tenant: "a", Target: "t", Method: "GET", Path: "/x",
		Query: url.Values{"b": {"2"}, "a": {"1"}}, Headers: map[string]string{"Accept": "application/json", "X-Trace": "1"}}
	same := base
	same.Query = url.Values{"a": {"1"}, "b": {"2"}}
	same.Headers = map[string]string{"accept": "application/json", "X-Trace": "2"}
	if cache.Hash(base) != cache.Hash(same) {
		t.Error("query order, header case or a non-vary header changed the hash")
	}
	for name, change := range map[string]func(*cache.Request){
		"tenant": func(r *cache.Request) { r.Tenant = "b" },
		"target": func(r *cache.Request) { r.Target = "u" },
		"method": func(r *cache.Request) { r.Method = "HEAD" },
		"path":   func(r *cache.Request) { r.Path = "/y" },
		"query":  func(r *cache.Request) { r.Query = url.Values{"a": {"1"}} },
		"accept": func(r *cache.Request) { r.Headers = map[string]string{"Accept": "text/html"} },
		"language": func(r *cache.Request) {
			r.Headers = map[string]string{"Accept": "application/json", "Accept-Language": "fr"}
		},
	} {
		r := base
		change(&r)
		if cache.Hash(r) == cache.Hash(base) {
			t.Errorf("changing the %s did not change the hash", name)
		}
	}
	if !cache.Cacheable("GET") || !cache.Cacheable("HEAD") || cache.Cacheable("POST") {
		t.Error("Cacheable")
	}
}

func TestLookupLeadFollowHit(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	c := cache.New(rdb)
	ctx := t.Context()

	first, err := c.Lookup(ctx, "h", "job_1", time.Minute)
	if err != nil || !first.Leader || first.JobID != "job_1" || first.Hit != nil {
		t.Fatalf("first lookup = %+v, %v; want to lead", first, err)
	}
	second, err := c.Lookup(ctx, "h", "job_2", time.Minute)
	if err != nil || second.Leader || second.JobID != "job_1" {
		t.Fatalf("second lookup = %+v, %v; want to follow job_1", second, err)
	}
	// Only the leader's job releases the claim.
	if err := c.Abandon(ctx, "h", "job_2"); err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Lookup(ctx, "h", "job_3", time.Minute); again.JobID != "job_1" {
		t.Fatalf("a follower released the leader's claim: %+v", again)
	}
	if err := store(ctx, rdb, "h", "job_1", `{"status_code":200}`, time.Minute); err != nil {
		t.Fatal(err)
	}
	hit, err := c.Lookup(ctx, "h", "job_4", time.Minute)
	if err != nil || hit.Hit == nil || string(hit.Hit.Data) != `{"status_code":200}` || time.Since(hit.Hit.StoredAt) > 5*time.Second {
		t.Fatalf("after store = %+v, %v", hit, err)
	}
	if ttl := rdb.PTTL(ctx, "reliapi:cache:{h}").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("entry TTL = %v", ttl)
	}
	if n := rdb.Exists(ctx, "reliapi:cache:{h}:inflight").Val(); n != 0 {
		t.Fatal("the claim outlived the store")
	}
}

// store stores data as a worker does, in a pipeline.
func store(ctx context.Context, rdb redis.UniversalClient, hash, jobID, data string, ttl time.Duration) error {
	_, err := luascript.Pipelined(ctx, rdb, func(p redis.Pipeliner) error {
		cache.StoreIn(ctx, p, hash, jobID, []byte(data), ttl)
		return nil
	})
	return err
}

func TestAbandonLetsTheNextCallerLead(t *testing.T) {
	t.Parallel()
	c := cache.New(testenv.StartRedis(t).Client(t))
	ctx := t.Context()
	c.Lookup(ctx, "h", "job_1", time.Minute)
	if err := c.Abandon(ctx, "h", "job_1"); err != nil {
		t.Fatal(err)
	}
	if next, _ := c.Lookup(ctx, "h", "job_2", time.Minute); !next.Leader {
		t.Fatalf("after abandon = %+v; want to lead", next)
	}
}

// TestLookupPastAnEndedLeader: a caller that followed a leader and found
// its job over without an answer takes the claim over, unless another
// caller leads already; the ended leader's late release then leaves the
// new claim alone.
func TestLookupPastAnEndedLeader(t *testing.T) {
	t.Parallel()
	c := cache.New(testenv.StartRedis(t).Client(t))
	ctx := t.Context()
	c.Lookup(ctx, "h", "job_1", time.Minute)
	if lk, err := c.LookupPast(ctx, "h", "job_2", time.Minute, "job_1"); err != nil || !lk.Leader || lk.JobID != "job_2" {
		t.Fatalf("past job_1 = %+v, %v; want job_2 to lead", lk, err)
	}
	if err := c.Abandon(ctx, "h", "job_1"); err != nil { // job_1's release, landing late
		t.Fatal(err)
	}
	if lk, _ := c.Lookup(ctx, "h", "job_3", time.Minute); lk.Leader || lk.JobID != "job_2" {
		t.Fatalf("after job_1's late release = %+v; want to follow job_2", lk)
	}
	// Another caller took the claim over first: follow it.
	if lk, _ := c.LookupPast(ctx, "h", "job_4", time.Minute, "job_1"); lk.Leader || lk.JobID != "job_2" {
		t.Fatalf("past job_1 again = %+v; want to follow job_2", lk)
	}
}

func TestClaimExpires(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	c := cache.New(rdb)
	c.Lookup(t.Context(), "h", "job_1", time.Minute)
	// A leader whose worker died: its claim lapses by itself.
	if ttl := rdb.PTTL(t.Context(), "reliapi:cache:{h}:inflight").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("claim TTL = %v", ttl)
	}
}

func ExampleCache() {
	rdb, stop, err := testenv.ExampleRedis()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	c := cache.New(rdb)
	ctx := context.Background()
	hash := cache.Hash(cache.Request{Tenant: "acme", Target: "api", Method: "GET", Path: "/users/1"})
	a, _ := c.Lookup(ctx, hash, "job_a", time.Minute) // calls the upstream
	b, _ := c.Lookup(ctx, hash, "job_b", time.Minute) // waits for job_a
	// A worker stores the answer with the job's end, in the same pipeline.
	luascript.Pipelined(ctx, rdb, func(p redis.Pipeliner) error {
		cache.StoreIn(ctx, p, hash, a.JobID, []byte(`{"status_code":200,"body":{"id":1}}`), time.Hour)
		return nil
	})
	hit, _ := c.Lookup(ctx, hash, "job_c", time.Minute)
	fmt.Println(a.Leader, b.JobID, string(hit.Hit.Data))
	// Output: true job_a {"status_code":200,"body":{"id":1}}
}

// TestLookupAgainLeads: a lookup sent again (go-redis repeats a command
// after a network error) finds the claim it made and leads, rather than
// following its own job, which does not exist yet.
func TestLookupAgainLeads(t *testing.T) {
	t.Parallel()
	c := cache.New(testenv.StartRedis(t).Client(t))
	ctx := t.Context()
	for range 2 {
		if lk, err := c.Lookup(ctx, "h", "job_1", time.Minute); err != nil || !lk.Leader || lk.JobID != "job_1" {
			t.Fatalf("lookup = %+v, %v; want job_1 to lead", lk, err)
		}
	}
}

// TestConcurrentLookups: lookups made at once, which share round trips,
// each get their own answer: one leader per request, whom every other
// caller of the same request follows.
func TestConcurrentLookups(t *testing.T) {
	t.Parallel()
	c := cache.New(testenv.StartRedis(t).Client(t))
	const hashes, callers = 4, 32
	type answer struct {
		hash string
		job  string
		lk   cache.Lookup
		err  error
	}
	answers := make(chan answer, hashes*callers)
	for i := range hashes * callers {
		go func() {
			hash, job := fmt.Sprintf("h%d", i%hashes), fmt.Sprintf("job_%d", i)
			lk, err := c.Lookup(t.Context(), hash, job, time.Minute)
			answers <- answer{hash, job, lk, err}
		}()
	}
	leaders := map[string]string{}
	var followed []answer
	for range hashes * callers {
		a := <-answers
		switch {
		case a.err != nil:
			t.Fatalf("lookup of %s by %s: %v", a.hash, a.job, a.err)
		case a.lk.Leader && a.lk.JobID != a.job:
			t.Fatalf("%s leads %s as %s", a.job, a.hash, a.lk.JobID)
		case a.lk.Leader && leaders[a.hash] != "":
			t.Fatalf("%s has two leaders: %s and %s", a.hash, leaders[a.hash], a.job)
		case a.lk.Leader:
			leaders[a.hash] = a.job
		default:
			followed = append(followed, a)
		}
	}
	for _, a := range followed {
		if a.lk.JobID != leaders[a.hash] {
			t.Errorf("%s follows %s on %s, whose leader is %s", a.job, a.lk.JobID, a.hash, leaders[a.hash])
		}
	}
	if len(leaders) != hashes {
		t.Fatalf("%d requests have a leader, want %d", len(leaders), hashes)
	}
}
