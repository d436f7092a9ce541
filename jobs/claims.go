package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
)

// A Claim is one delivery's hold on a job: the asynq task it came with, a
// token of its own, and how long the hold lasts unless renewed. Two
// deliveries of one task (the wake-up lane's and asynq's, or asynq's again
// after a lost lease) tell themselves apart by their tokens, so a job runs
// under one claim at a time, and only that claim ends it.
type Claim struct {
	TaskID string
	Token  string
	// Lease is how long the claim holds without renewal; once it has
	// lapsed, another delivery of the task may take the job over. 0: it
	// lapses at once (no other delivery is expected while it runs).
	Lease time.Duration
}

// Renew extends the leases of claims on running jobs, by job ID, in one
// round trip. It returns the IDs whose claim is gone (the job ended, was
// canceled, or was taken over): their runs should stop.
func (s *Store) Renew(ctx context.Context, claims map[string]Claim) ([]string, error) {
	cmds := make(map[string]*redis.Cmd, len(claims))
	_, err := luascript.Pipelined(ctx, s.rdb, func(p redis.Pipeliner) error {
		for id, c := range claims {
			cmds[id] = renewScript.EvalSha(ctx, p, []string{jobKey(id)}, c.Token, c.Lease.Milliseconds())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("renewing claims: %w", err)
	}
	var gone []string
	for id, cmd := range cmds {
		if n, _ := cmd.Int(); n == 0 {
			gone = append(gone, id)
		}
	}
	return gone, nil
}

// WatchCanceled calls stop with the ID of every job canceled while it
// runs, anywhere, until ctx ends: a worker stops the run it holds at once
// (its claim renewal would notice too, within a renewal period). Pub/sub
// is at most once; a message lost across a reconnect leaves the run to
// that renewal. It returns at once; the subscription reconnects by itself.
func (s *Store) WatchCanceled(ctx context.Context, stop func(jobID string)) {
	listen(ctx, s.rdb, stop, nil, canceledChannel)
}
