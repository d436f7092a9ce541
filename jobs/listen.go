package jobs

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// listenCheck is how long a subscription may stay silent before it is
// pinged; one still silent a listenCheck after its ping is taken for dead
// (a connection cut without a reset) and made again. A variable for tests.
var listenCheck = 5 * time.Second

// listenRetry spaces the attempts to subscribe while Redis cannot be
// reached.
const listenRetry = 100 * time.Millisecond

// listen calls handle with the payload of every message published on
// channels until ctx ends, in a goroutine of its own; the subscription
// reconnects by itself, and subscribed, when not nil, is called each time
// it is made (first, and again after a reconnect: messages published while
// it was down are lost). The channel it returns is closed when it ends.
//
// It reads the subscription's connection itself rather than through
// go-redis's PubSub.Channel, whose reader hands each message to another
// goroutine and wakes a third, its health check: on the path of every
// sync call's answer, two goroutine wake-ups more, about a third of what
// an announcement cost a quiet api (docs/benchmarks.md).
func listen(ctx context.Context, rdb redis.UniversalClient, handle func(payload string), subscribed func(), channels ...string) <-chan struct{} {
	done := make(chan struct{})
	s := &subscription{rdb: rdb, channels: channels}
	s.open(ctx)
	go func() {
		defer close(done)
		// A read waits up to listenCheck for a message: closing the
		// subscription when ctx ends cuts it short.
		stop := context.AfterFunc(ctx, s.close)
		defer stop()
		defer s.close()
		pinged := false
		for {
			sub := s.current()
			if sub == nil {
				return // closed: ctx ended
			}
			msg, err := sub.ReceiveTimeout(ctx, listenCheck)
			switch {
			case ctx.Err() != nil:
				return
			case isTimeout(err) && !pinged:
				// Silent for a while: a ping's answer shows the connection lives.
				_ = sub.Ping(ctx)
				pinged = true
				continue
			case isTimeout(err):
				s.open(ctx)
				pinged = false
				continue
			case err != nil:
				// go-redis dials again at the next read; not in a busy loop
				// while Redis is away.
				select {
				case <-ctx.Done():
				case <-time.After(listenRetry):
				}
				continue
			}
			pinged = false
			switch m := msg.(type) {
			case *redis.Message:
				handle(m.Payload)
			case *redis.Subscription:
				if m.Kind == "subscribe" && subscribed != nil {
					subscribed()
				}
			}
		}
	}()
	return done
}

// subscription is listen's go-redis PubSub, made again when its
// connection goes silent.
type subscription struct {
	rdb      redis.UniversalClient
	channels []string

	mu  sync.Mutex
	sub *redis.PubSub // nil once closed
}

// open subscribes on a new connection, closing the one before, unless ctx
// has ended.
func (s *subscription) open(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub != nil {
		_ = s.sub.Close()
	}
	s.sub = nil
	if ctx.Err() == nil {
		s.sub = s.rdb.Subscribe(ctx, s.channels...)
	}
}

// current is the PubSub to read; nil once closed.
func (s *subscription) current() *redis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sub
}

func (s *subscription) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub != nil {
		_ = s.sub.Close()
		s.sub = nil
	}
}

// isTimeout reports whether err is a read that timed out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
