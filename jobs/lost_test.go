package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/jobs"
)

// TestFailLost drives FailLost, which ends a job whose task asynq no
// longer holds: only a job still queued or running under the task the
// caller found missing, as the caller read it, and old enough, is failed
// with JOB_LOST and announced; anything a worker did meanwhile wins.
func TestFailLost(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Config{Retention: time.Hour})
	ctx := t.Context()
	sub := b.rdb.Subscribe(ctx, "reliapi:jobs:done")
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatalf("subscribing: %v", err)
	}
	msgs := sub.Channel()

	tests := []struct {
		name  string
		state string // as reach drives it, before the read
		// read changes the job as the caller read it; meanwhile runs
		// between the read and FailLost.
		read      func(j *reliapi.Job)
		meanwhile func(ctx context.Context, s *jobs.Store, id string) error
		after     time.Duration
		// want is the status afterwards; failed whether FailLost did it.
		want      reliapi.JobStatus
		failed    bool
		retryable bool
		wantErr   error
	}{
		{name: "queued under its task", state: "queued", want: reliapi.JobFailed, failed: true, retryable: true},
		{name: "running under its task", state: "running", want: reliapi.JobFailed, failed: true},
		{name: "redelivered under its task", state: "redelivered", want: reliapi.JobFailed, failed: true},
		{name: "queued under another task", state: "queued", read: func(j *reliapi.Job) { j.TaskID = taskB }, want: reliapi.JobQueued},
		{name: "not old enough", state: "queued", after: time.Hour, want: reliapi.JobQueued},
		{name: "started meanwhile", state: "queued", want: reliapi.JobRunning,
			meanwhile: func(ctx context.Context, s *jobs.Store, id string) error {
				_, _, err := s.Start(ctx, id, jobs.Claim{TaskID: taskA}, nil)
				return err
			}},
		{name: "requeued meanwhile", state: "running", want: reliapi.JobQueued,
			meanwhile: func(ctx context.Context, s *jobs.Store, id string) error {
				_, err := s.Requeue(ctx, id, jobs.Claim{TaskID: taskA}, "task-later")
				return err
			}},
		{name: "finished meanwhile", state: "running", want: reliapi.JobSucceeded,
			meanwhile: func(ctx context.Context, s *jobs.Store, id string) error {
				_, err := s.Finish(ctx, id, jobs.Claim{TaskID: taskA}, reliapi.JobSucceeded, okResult, true, nil)
				return err
			}},
		{name: "canceled meanwhile", state: "queued", want: reliapi.JobCanceled,
			meanwhile: func(ctx context.Context, s *jobs.Store, id string) error {
				_, err := s.Cancel(ctx, "acme", id)
				return err
			}},
		{name: "succeeded", state: "succeeded", want: reliapi.JobSucceeded},
		{name: "failed", state: "failed", want: reliapi.JobFailed},
		{name: "canceled", state: "canceled", want: reliapi.JobCanceled},
		{name: "deleted meanwhile", state: "queued", wantErr: reliapi.ErrNotFound,
			meanwhile: func(ctx context.Context, s *jobs.Store, id string) error { return s.Delete(ctx, "acme", id) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := b.reach(t, tt.state)
			read := b.get(t, "acme", id)
			before := *read
			if tt.read != nil {
				tt.read(read)
			}
			if tt.meanwhile != nil {
				if err := tt.meanwhile(ctx, b.store, id); err != nil {
					t.Fatalf("meanwhile: %v", err)
				}
			}
			b.nextMilli(t, read.CreatedAt)
			got, failed, err := b.store.FailLost(ctx, read, tt.after)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("FailLost = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || failed != tt.failed || got.Status != tt.want {
				t.Fatalf("FailLost = %s, failed %v, %v; want %s, failed %v", statusOf(got), failed, err, tt.want, tt.failed)
			}
			stored := b.get(t, "acme", id)
			if stored.Status != tt.want {
				t.Fatalf("stored status %s, want %s", stored.Status, tt.want)
			}
			if !tt.failed {
				if tt.meanwhile == nil && (stored.CompletedAt != before.CompletedAt || stored.TaskID != before.TaskID) {
					t.Fatalf("job left alone changed: %+v, was %+v", stored, before)
				}
				return
			}
			if stored.Result == nil {
				t.Fatalf("lost job without a result: %+v", stored)
			}
			e := stored.Result.Error
			if e == nil || e.Code != reliapi.CodeJobLost || e.Retryable != tt.retryable ||
				e.Details["status"] != string(before.Status) || !strings.Contains(e.Message, id) || stored.CompletedAt.IsZero() {
				t.Fatalf("lost job: %+v, error %+v", stored, e)
			}
			if ttl := b.ttl(t, jobKey(id)); ttl <= 59*time.Minute {
				t.Fatalf("TTL after FailLost = %v, want the retention again", ttl)
			}
			// Announced, after whatever reach and meanwhile announced.
			timeout := time.NewTimer(waitBound)
			defer timeout.Stop()
			for {
				select {
				case msg := <-msgs:
					gotID, record, _ := strings.Cut(msg.Payload, "\n")
					if gotID == id && strings.Contains(record, "JOB_LOST") {
						return
					}
				case <-timeout.C:
					t.Fatalf("%s not announced within %v", id, waitBound)
				}
			}
		})
	}
}

func statusOf(j *reliapi.Job) reliapi.JobStatus {
	if j == nil {
		return "<nil>"
	}
	return j.Status
}
