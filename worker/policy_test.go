package worker

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/reliability/breaker"
	"github.com/reliapi/reliapi/reliability/keypool"
	"github.com/reliapi/reliapi/tasks"
)

// TestRedisErrorPolicy: when the breaker cannot reach Redis,
// reliability.on_redis_error decides whether the call goes ahead, and the
// fallback is counted either way.
func TestRedisErrorPolicy(t *testing.T) {
	t.Parallel()
	// A Redis that is gone: nothing listens on this port any more.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	for _, tt := range []struct {
		policy   string
		wantCall bool
	}{{config.FailOpen, true}, {config.FailClosed, false}} {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			settings := config.Default()
			settings.Reliability.OnRedisError = tt.policy
			w := &Worker{
				cfg:      Config{Settings: settings.ForWorker()},
				log:      slog.New(slog.DiscardHandler),
				metrics:  newMetrics(prometheus.NewRegistry()),
				breakers: breaker.New(dead),
			}
			called := false
			_, err := w.guarded(context.Background(), &run{payload: tasks.Payload{Target: "t"}}, func(context.Context) (*reliapi.HTTPResponse, error) {
				called = true
				return &reliapi.HTTPResponse{StatusCode: 200}, nil
			})
			if called != tt.wantCall {
				t.Fatalf("call made = %v, want %v (err %v)", called, tt.wantCall, err)
			}
			var e *reliapi.Error
			if !tt.wantCall && (!errors.As(err, &e) || e.Code != reliapi.CodeRedisUnavailable) {
				t.Fatalf("err = %v, want REDIS_UNAVAILABLE", err)
			}
			var m dto.Metric
			w.metrics.redisFallbacks.WithLabelValues("breaker", tt.policy).(prometheus.Metric).Write(&m)
			if n := m.GetCounter().GetValue(); n != 1 {
				t.Fatalf("fallbacks counted = %v, want 1", n)
			}
		})
	}
}

func TestKeyOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		resp *reliapi.HTTPResponse
		err  error
		want keypool.Outcome
		ra   time.Duration
	}{
		{&reliapi.HTTPResponse{StatusCode: 200}, nil, keypool.OK, 0},
		{&reliapi.HTTPResponse{StatusCode: 404}, nil, keypool.OK, 0},
		{&reliapi.HTTPResponse{StatusCode: 401}, nil, keypool.Unauthorized, 0},
		{&reliapi.HTTPResponse{StatusCode: 403}, nil, keypool.Unauthorized, 0},
		{nil, &reliapi.Error{Code: reliapi.CodeClientError, UpstreamStatus: 429, RetryAfter: 2 * time.Second}, keypool.RateLimited, 2 * time.Second},
		{nil, &reliapi.Error{Code: reliapi.CodeServerError, UpstreamStatus: 503}, keypool.Failed, 0},
		{nil, &reliapi.Error{Code: reliapi.CodeNetworkError}, keypool.Failed, 0},
		{nil, &reliapi.Error{Code: reliapi.CodeCircuitOpen}, keypool.Unused, 0},
		{nil, context.Canceled, keypool.Unused, 0},
	}
	for _, tt := range tests {
		if got, ra := keyOutcome(tt.resp, tt.err); got != tt.want || ra != tt.ra {
			t.Errorf("keyOutcome(%v, %v) = %s, %v; want %s, %v", tt.resp, tt.err, got, ra, tt.want, tt.ra)
		}
	}
}

func TestSwitchable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		o          keypool.Outcome
		tried, n   int
		wantSwitch bool
	}{
		{keypool.RateLimited, 1, 2, true},
		{keypool.RateLimited, 2, 2, false}, // every key rate limited: the 429 goes to the retry matrix
		{keypool.Unauthorized, 2, 2, true}, // the pool then says every key is quarantined
		{keypool.OK, 1, 2, false},
		{keypool.Failed, 1, 2, false},
	} {
		if got := switchable(tt.o, tt.tried, tt.n); got != tt.wantSwitch {
			t.Errorf("switchable(%s, %d of %d) = %v, want %v", tt.o, tt.tried, tt.n, got, tt.wantSwitch)
		}
	}
}

// TestAdmission: the breaker read taken with a job's start admits its
// first attempt through a closed breaker, once and while fresh; through an
// open or half-open one it admits nothing and takes no probe (the attempt
// asks the breaker's script).
func TestAdmission(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	ctx := t.Context()
	s := breaker.Settings{Threshold: 1, Cooldown: time.Millisecond, ProbeLease: time.Minute}
	w := &Worker{log: slog.New(slog.DiscardHandler), breakers: breaker.New(rdb), targets: map[string]target{"t": {breaker: s}}}
	admitted := func() *admission {
		a := &admission{target: "t"}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			a.read, a.at = w.breakers.AllowIn(ctx, p, "t"), time.Now()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := admitted()
	if _, ok := a.take("other", a.at); ok {
		t.Fatal("an admission was taken for another target")
	}
	if tk, ok := a.take("t", a.at); !ok || tk.Probe {
		t.Fatalf("closed breaker: %+v %v, want a ticket", tk, ok)
	}
	if _, ok := a.take("t", a.at); ok {
		t.Fatal("an admission was taken twice")
	}
	stale := admitted()
	if _, ok := stale.take("t", stale.at.Add(2*admissionFresh)); ok {
		t.Fatal("a stale admission was taken")
	}

	tk, err := w.breakers.Allow(ctx, "t", s)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := w.breakers.Record(ctx, tk, breaker.Failure, s); st != breaker.Open || err != nil {
		t.Fatalf("one failure: %s %v", st, err)
	}
	// taken takes a fresh admission's ticket at the moment it was read.
	taken := func(a *admission) bool {
		_, ok := a.take("t", a.at)
		return ok
	}
	if taken(admitted()) {
		t.Fatal("an open breaker's admission was taken")
	}
	testenv.Eventually(t, 5*time.Second, "the cooldown to end: Allow gives the probe", func() bool {
		if taken(admitted()) {
			t.Fatal("a half-open breaker's admission was taken")
		}
		tk, err := w.breakers.Allow(ctx, "t", s)
		return err == nil && tk.Probe
	})
}
