package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/internal/redisbatch"
)

// VaryHeaders are the request headers that select among cached answers.
var VaryHeaders = []string{"Accept", "Accept-Language", "Content-Type"}

// Request is what identifies a cacheable call.
type Request struct {
	Tenant, Target, Method, Path string
	Query                        url.Values
	// Headers are the headers the caller asked to send; only VaryHeaders
	// take part, whatever their case.
	Headers map[string]string
	// Body takes part when set (an LLM call's canonical request).
	Body []byte
}

// Cacheable reports whether a method's answers may be cached.
func Cacheable(method string) bool { return method == http.MethodGet || method == http.MethodHead }

// Hash is the cache identity of a request: the tenant, target, method,
// path, the query in canonical order and the vary headers.
func Hash(r Request) string {
	h := sha256.New()
	write := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	write(r.Tenant)
	write(r.Target)
	write(r.Method)
	write(r.Path)
	write(r.Query.Encode()) // Encode sorts by key
	write(string(r.Body))
	for _, name := range VaryHeaders {
		var value string
		for k, v := range r.Headers {
			if strings.EqualFold(k, name) {
				value = v
			}
		}
		write(value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Cache reads and writes cached answers in Redis.
type Cache struct {
	rdb redis.UniversalClient
	// lookups sends concurrent lookups in shared round trips (group
	// commit): a cache hit is one script call, and alone in its round trip
	// most of its cost, the api's and Redis's, is the round trip itself.
	lookups *redisbatch.Batcher
}

// New returns a Cache on rdb.
func New(rdb redis.UniversalClient) *Cache {
	return &Cache{rdb: rdb, lookups: redisbatch.New(rdb, 1)}
}

// Entry is a cached answer.
type Entry struct {
	Data     []byte
	StoredAt time.Time
}

// Lookup is the outcome of a lookup: a Hit, or the job to wait for, which
// is the caller's own when it leads.
type Lookup struct {
	Hit    *Entry
	JobID  string
	Leader bool
}

// Lookup answers from the cache, or decides who calls the upstream:
// jobID (the caller's) when no identical call is in flight, otherwise the
// job already making it. inflight bounds how long a leader may take before
// another caller may lead (its worker may have died).
func (c *Cache) Lookup(ctx context.Context, hash, jobID string, inflight time.Duration) (Lookup, error) {
	return c.LookupPast(ctx, hash, jobID, inflight, "")
}

// LookupPast is Lookup for a caller that followed job ended and found it
// over without an answer to share (failed, say): a claim still naming
// ended is taken over as though there were none. Its release, on its way
// or lost, is made only while the claim names ended, so it leaves the
// new leader's alone.
func (c *Cache) LookupPast(ctx context.Context, hash, jobID string, inflight time.Duration, ended string) (Lookup, error) {
	var cmd *redis.Cmd
	// The command carries its own error, which Pipelined also returns.
	_, _ = luascript.Pipelined(ctx, c.lookups, func(p redis.Pipeliner) error {
		cmd = lookupScript.EvalSha(ctx, p, []string{entryKey(hash), inflightKey(hash)}, jobID, inflight.Milliseconds(), ended)
		return nil
	})
	res, err := cmd.StringSlice()
	if err != nil || len(res) != 2 {
		return Lookup{}, fmt.Errorf("cache lookup: %v %w", res, err)
	}
	switch res[0] {
	case "hit":
		e, err := decode(res[1])
		if err != nil {
			return Lookup{}, err
		}
		return Lookup{Hit: e}, nil
	case "lead":
		return Lookup{JobID: jobID, Leader: true}, nil
	default:
		return Lookup{JobID: res[1]}, nil
	}
}

// StoreIn adds to p the storing of data for ttl, releasing jobID's claim
// on the entry: in the round trip that records the job's end. A script's
// EVALSHA: p runs with luascript.Pipelined.
func StoreIn(ctx context.Context, p redis.Pipeliner, hash, jobID string, data []byte, ttl time.Duration) *redis.Cmd {
	return storeScript.EvalSha(ctx, p, []string{entryKey(hash), inflightKey(hash)}, data, ttl.Milliseconds(), jobID)
}

// Abandon releases jobID's claim without storing anything, so that the
// next identical request calls the upstream itself.
func (c *Cache) Abandon(ctx context.Context, hash, jobID string) error {
	if err := abandonScript.Run(ctx, c.rdb, []string{inflightKey(hash)}, jobID).Err(); err != nil {
		return fmt.Errorf("cache abandon: %w", err)
	}
	return nil
}

// AbandonIn adds to p what Abandon does, in the round trip that records
// the job's end (see StoreIn).
func AbandonIn(ctx context.Context, p redis.Pipeliner, hash, jobID string) *redis.Cmd {
	return abandonScript.EvalSha(ctx, p, []string{inflightKey(hash)}, jobID)
}

func decode(v string) (*Entry, error) {
	ms, data, ok := strings.Cut(v, "\n")
	stored, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("cache entry is malformed")
	}
	return &Entry{Data: []byte(data), StoredAt: time.UnixMilli(stored)}, nil
}
