package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/reliability/retry"
)

func TestPolicyDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		p          retry.Policy
		n          int
		retryAfter time.Duration
		min, max   time.Duration
	}{
		{"exp 1", retry.Policy{Backoff: "exp", Base: time.Second, Max: time.Minute}, 1, 0, time.Second, time.Second},
		{"exp 3", retry.Policy{Backoff: "exp", Base: time.Second, Max: time.Minute}, 3, 0, 4 * time.Second, 4 * time.Second},
		{"exp capped", retry.Policy{Backoff: "exp", Base: time.Second, Max: 5 * time.Second}, 10, 0, 5 * time.Second, 5 * time.Second},
		{"exp overflow", retry.Policy{Backoff: "exp", Base: time.Second, Max: 5 * time.Second}, 80, 0, 5 * time.Second, 5 * time.Second},
		{"jitter 2", retry.Policy{Backoff: "exp-jitter", Base: time.Second, Max: time.Minute}, 2, 0, 2 * time.Second, 2600 * time.Millisecond},
		{"linear 3", retry.Policy{Backoff: "linear", Base: time.Second, Max: time.Minute}, 3, 0, 3 * time.Second, 3 * time.Second},
		{"fixed", retry.Policy{Backoff: "fixed", Base: 2 * time.Second, Max: time.Minute}, 5, 0, 2 * time.Second, 2 * time.Second},
		{"retry-after wins", retry.Policy{Backoff: "exp", Base: time.Second, Max: time.Minute}, 1, 7 * time.Second, 7 * time.Second, 7 * time.Second},
		{"retry-after capped", retry.Policy{Backoff: "exp", Base: time.Second, Max: 5 * time.Second}, 1, 100 * time.Second, 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 20 {
				if d := tt.p.Delay(tt.n, tt.retryAfter); d < tt.min || d > tt.max {
					t.Fatalf("Delay(%d, %v) = %v, want in [%v, %v]", tt.n, tt.retryAfter, d, tt.min, tt.max)
				}
			}
		})
	}
}

func upstream(status int) error {
	code := reliapi.CodeServerError
	if status == 429 {
		code = reliapi.CodeClientError
	}
	return &reliapi.Error{Code: code, UpstreamStatus: status}
}

func TestDo(t *testing.T) {
	t.Parallel()
	fast := retry.Policy{Attempts: 3, Backoff: "fixed", Base: time.Millisecond, Max: time.Millisecond}
	tests := []struct {
		name        string
		matrix      retry.Matrix
		results     []error // what attempt i returns; the last repeats
		wantCalls   int
		wantRetries int
		wantErr     bool
	}{
		{"success first", retry.Matrix{reliapi.ClassServer: fast}, []error{nil}, 1, 0, false},
		{"5xx then success", retry.Matrix{reliapi.ClassServer: fast}, []error{upstream(503), nil}, 2, 1, false},
		{"5xx exhausted", retry.Matrix{reliapi.ClassServer: fast}, []error{upstream(503)}, 3, 2, true},
		{"class not in matrix", retry.Matrix{reliapi.ClassServer: fast}, []error{upstream(429)}, 1, 0, true},
		{"empty matrix", retry.Matrix{}, []error{upstream(503)}, 1, 0, true},
		{"permanent", retry.Matrix{reliapi.ClassServer: fast}, []error{errors.New("bad")}, 1, 0, true},
		{"shared counter", retry.Matrix{
			reliapi.ClassServer:      fast,
			reliapi.ClassRateLimited: {Attempts: 2, Backoff: "fixed", Base: time.Millisecond},
		}, []error{upstream(503), upstream(429)}, 2, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			retries, err := retry.Do(context.Background(), tt.matrix, func(_ context.Context, attempt int) error {
				calls++
				if attempt != calls {
					t.Errorf("attempt = %d on call %d", attempt, calls)
				}
				return tt.results[min(calls, len(tt.results))-1]
			})
			if calls != tt.wantCalls || retries != tt.wantRetries || (err != nil) != tt.wantErr {
				t.Fatalf("calls=%d retries=%d err=%v; want calls=%d retries=%d error=%v",
					calls, retries, err, tt.wantCalls, tt.wantRetries, tt.wantErr)
			}
		})
	}
}

func TestDoStopsBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slow := retry.Matrix{reliapi.ClassServer: {Attempts: 5, Backoff: "fixed", Base: time.Hour, Max: time.Hour}}
	calls := 0
	retries, err := retry.Do(ctx, slow, func(context.Context, int) error { calls++; return upstream(502) })
	if calls != 1 || retries != 0 || reliapi.Classify(err) != reliapi.ClassServer {
		t.Fatalf("calls=%d retries=%d err=%v: want one call and the upstream error", calls, retries, err)
	}
}

func TestDoReturnsUpstreamErrorWhenCanceledDuringWait(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	m := retry.Matrix{reliapi.ClassServer: {Attempts: 5, Backoff: "fixed", Base: time.Hour, Max: time.Hour}}
	_, err := retry.Do(ctx, m, func(context.Context, int) error { cancel(); return upstream(500) })
	if reliapi.Classify(err) != reliapi.ClassServer {
		t.Fatalf("err = %v, want the upstream error", err)
	}
}

func ExampleDo() {
	m := retry.Matrix{reliapi.ClassServer: {Attempts: 3, Backoff: retry.BackoffFixed, Base: time.Millisecond}}
	retries, err := retry.Do(context.Background(), m, func(_ context.Context, attempt int) error {
		if attempt < 3 {
			return &reliapi.Error{Code: reliapi.CodeServerError, UpstreamStatus: 503}
		}
		return nil
	})
	fmt.Println(retries, err)
	// Output: 2 <nil>
}
