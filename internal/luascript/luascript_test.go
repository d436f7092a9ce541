package luascript_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/internal/testenv"
)

var incrBy = luascript.New(`return redis.call('INCRBY', KEYS[1], ARGV[1])`)

// TestPipelinedFallsBackToTheBody: a pipeline's EVALSHA of a script Redis
// does not have (a fresh server, then after SCRIPT FLUSH) runs again by
// body, once, in order; the pipeline's other commands run once.
func TestPipelinedFallsBackToTheBody(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	ctx := t.Context()
	run := func() (*redis.Cmd, *redis.Cmd) {
		t.Helper()
		var a, b *redis.Cmd
		_, err := luascript.Pipelined(ctx, rdb, func(p redis.Pipeliner) error {
			a = incrBy.EvalSha(ctx, p, []string{"n"}, 1)
			p.Incr(ctx, "plain")
			b = incrBy.EvalSha(ctx, p, []string{"n"}, 10)
			return nil
		})
		if err != nil {
			t.Fatalf("pipeline: %v", err)
		}
		return a, b
	}
	for i, step := range []string{"fresh server", "script cached", "after SCRIPT FLUSH"} {
		if step == "after SCRIPT FLUSH" {
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		a, b := run()
		want := int64(11 * i)
		if got, _ := a.Int64(); got != want+1 {
			t.Errorf("%s: first EVALSHA = %d, want %d", step, got, want+1)
		}
		if got, _ := b.Int64(); got != want+11 {
			t.Errorf("%s: second EVALSHA = %d, want %d", step, got, want+11)
		}
		if got, _ := rdb.Get(ctx, "plain").Int(); got != i+1 {
			t.Errorf("%s: the plain command ran %d times in all, want %d", step, got, i+1)
		}
	}
}

// TestPipelinedLeavesOthersNoScript: an EVALSHA of a script not made with
// New keeps its NOSCRIPT error, and Pipelined returns it.
func TestPipelinedLeavesOthersNoScript(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	ctx := t.Context()
	stranger := redis.NewScript(`return 1`)
	var cmd *redis.Cmd
	_, err := luascript.Pipelined(ctx, rdb, func(p redis.Pipeliner) error {
		cmd = stranger.EvalSha(ctx, p, nil)
		return nil
	})
	if err == nil || cmd.Err() == nil {
		t.Fatalf("a script not made with New ran: %v, %v", cmd.Val(), err)
	}
}

// TestLoadFillsEveryNode: after Load, a fresh server, and every master of
// a cluster, has the scripts made with New.
func TestLoadFillsEveryNode(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	one := testenv.StartRedis(t).Client(t)
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.StartCluster(t, 3).Addrs})
	t.Cleanup(func() { cluster.Close() })
	for name, rdb := range map[string]redis.UniversalClient{"server": one, "cluster": cluster} {
		if has, err := rdb.ScriptExists(ctx, incrBy.Hash()).Result(); err != nil || has[0] {
			t.Fatalf("%s: before Load, has the script: %v %v", name, has, err)
		}
		if err := luascript.Load(ctx, rdb); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if has, err := rdb.ScriptExists(ctx, incrBy.Hash()).Result(); err != nil || !has[0] {
			t.Errorf("%s: after Load, lacks the script: %v %v", name, has, err)
		}
	}
}
