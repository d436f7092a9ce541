package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
)

// Bucket is one limit: Rate calls per second, of which Burst may go at once.
type Bucket struct {
	// Name identifies the bucket across the fleet, e.g. "key:openai:k1".
	Name string
	// Rate is calls per second; a bucket with Rate <= 0 limits nothing and
	// is skipped.
	Rate float64
	// Burst is how many calls may go at once; default 1.
	Burst int
}

func (b Bucket) interval() int64 { return int64(1e6 / b.Rate) }

// Limiter reserves slots in buckets.
type Limiter struct{ rdb redis.UniversalClient }

// New returns a Limiter on rdb.
func New(rdb redis.UniversalClient) *Limiter { return &Limiter{rdb: rdb} }

// Reservation holds one slot in each of a call's buckets.
type Reservation struct {
	// Wait is how long until every bucket's slot has come: the call may go
	// after it.
	Wait time.Duration
	// Limiting names the bucket that imposed Wait ("" when Wait is 0).
	Limiting string
	buckets  []Bucket
}

// Reserve takes the next slot of every bucket (one round trip) and reports
// how long the call must wait for the latest of them. A caller that does
// not go ahead must Cancel the reservation.
func (l *Limiter) Reserve(ctx context.Context, buckets ...Bucket) (Reservation, error) {
	var r Reservation
	for _, b := range buckets {
		if b.Rate > 0 {
			if b.Burst < 1 {
				b.Burst = 1
			}
			r.buckets = append(r.buckets, b)
		}
	}
	if len(r.buckets) == 0 {
		return r, nil
	}
	cmds := make([]*redis.Cmd, len(r.buckets))
	_, err := luascript.Pipelined(ctx, l.rdb, func(p redis.Pipeliner) error {
		for i, b := range r.buckets {
			cmds[i] = reserveScript.EvalSha(ctx, p, []string{bucketKey(b.Name)}, b.interval(), b.Burst)
		}
		return nil
	})
	if err != nil {
		// Some buckets may have reserved: give those back.
		l.cancel(context.WithoutCancel(ctx), r.buckets, cmds)
		return Reservation{}, fmt.Errorf("rate limit: %w", err)
	}
	for i, c := range cmds {
		us, _ := c.Int64()
		if w := time.Duration(us) * time.Microsecond; w > r.Wait {
			r.Wait, r.Limiting = w, r.buckets[i].Name
		}
	}
	return r, nil
}

// Cancel gives every slot of a reservation back.
func (l *Limiter) Cancel(ctx context.Context, r Reservation) error {
	return l.cancel(ctx, r.buckets, nil)
}

// cancel gives back the slots of buckets; with reserved set, only those
// whose reservation went through.
func (l *Limiter) cancel(ctx context.Context, buckets []Bucket, reserved []*redis.Cmd) error {
	if len(buckets) == 0 {
		return nil
	}
	_, err := luascript.Pipelined(ctx, l.rdb, func(p redis.Pipeliner) error {
		for i, b := range buckets {
			if reserved != nil && (reserved[i] == nil || reserved[i].Err() != nil) {
				continue
			}
			cancelScript.EvalSha(ctx, p, []string{bucketKey(b.Name)}, b.interval())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rate limit: giving slots back: %w", err)
	}
	return nil
}
