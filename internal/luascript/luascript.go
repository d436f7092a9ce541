// Package luascript sends Redis Lua scripts by their SHA-1 (EVALSHA), also
// inside pipelines, where go-redis cannot fall back to the body by itself.
//
// A script's body is ~0.5–1.5 KiB; sent with every EVAL, Redis hashes it
// on every call (SHA-1 of the bodies was 5 % of its CPU under load) and
// every client writes it. Scripts made with New are registered, so that
// Pipelined can run again, by body, each one Redis did not have: after a
// restart, a failover or a SCRIPT FLUSH, it answers EVALSHA with NOSCRIPT
// and leaves the pipeline's other commands done.
package luascript

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// bodies maps a registered script's SHA-1 to its body.
var bodies sync.Map

// New returns the script of body src, registered for Pipelined's fallback.
// Call it once per script, at package level.
func New(src string) *redis.Script {
	s := redis.NewScript(src)
	bodies.Store(s.Hash(), src)
	return s
}

// Runner runs pipelines: a Redis client, or a redisbatch.Batcher.
type Runner interface {
	Pipelined(ctx context.Context, fill func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// Pipelined runs the commands fill adds in one pipeline, as
// redis.Client.Pipelined does, then runs again each EVALSHA of a script
// made with New that Redis did not have, by its body, in order, in a
// second round trip; their commands get the new replies. It returns the
// commands' first error, after the fallback.
func Pipelined(ctx context.Context, rdb Runner, fill func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	cmds, err := rdb.Pipelined(ctx, fill)
	var lost []*redis.Cmd
	for _, c := range cmds {
		if cmd, ok := c.(*redis.Cmd); ok && isNoScript(cmd.Err()) {
			lost = append(lost, cmd)
		}
	}
	if len(lost) == 0 {
		return cmds, err
	}
	retried := make([]*redis.Cmd, len(lost))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, cmd := range lost {
			args := cmd.Args()
			sha, _ := args[1].(string)
			src, ok := bodies.Load(sha)
			if !ok {
				continue // not ours: its NOSCRIPT stands
			}
			// EVALSHA sha numkeys keys… args… becomes EVAL body numkeys keys… args….
			retried[i] = p.Do(ctx, append([]any{"eval", src}, args[2:]...)...)
		}
		return nil
	})
	for i, cmd := range lost {
		if retried[i] != nil {
			cmd.SetVal(retried[i].Val())
			cmd.SetErr(retried[i].Err())
		}
	}
	return cmds, firstErr(cmds)
}

// Load loads every script made with New into Redis (on a Cluster, into
// every master), so that a process's first pipelines find them: the body
// Pipelined falls back to runs in a second round trip, behind the first
// one's other commands, out of the order they were written in (a response
// cache fill behind the finish whose announcement answers the caller).
// Call it at start, after the package-level scripts are made; what it
// cannot load falls back as before.
func Load(ctx context.Context, rdb redis.Scripter) error {
	var err error
	bodies.Range(func(_, src any) bool {
		err = rdb.ScriptLoad(ctx, src.(string)).Err()
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("loading scripts: %w", err)
	}
	return nil
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// firstErr is the first error among cmds, as a pipeline returns it.
func firstErr(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}
