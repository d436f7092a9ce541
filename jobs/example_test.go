package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
)

// Example follows one job through its life: the api creates it (twice, as
// two replicas receiving the same idempotency key would), a caller waits for
// it, and a worker runs and finishes it.
func Example() {
	ctx := context.Background()
	rdb, stop, err := testenv.ExampleRedis()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	store := jobs.NewStore(rdb, jobs.Config{Retention: time.Hour})
	waiter := jobs.NewWaiter(store, slog.New(slog.DiscardHandler))
	waiter.Start(ctx)
	defer waiter.Stop()

	n := jobs.New{
		ID: "job_0190a5b2c3d47e8f9a0b1c2d3e4f5a6b", Tenant: "acme", Kind: reliapi.KindHTTP,
		Target: "payments", IdempotencyKey: "order-42", RequestHash: "sha256:1f2e",
		Queue: "default", TaskID: "task-1",
	}
	job, created, err := store.Create(ctx, n, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("created:", created, job.Status)
	// The other replica's submission makes a task of its own.
	repeat := n
	repeat.TaskID = "task-2"
	again, created, _ := store.Create(ctx, repeat, nil)
	fmt.Println("created again:", created, again.Status)

	// A synchronous caller waits for the result.
	result := make(chan *reliapi.Job, 1)
	go func() {
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		j, _ := waiter.Wait(waitCtx, "acme", n.ID)
		result <- j
	}()

	// A worker runs the job and records its outcome.
	job, run, _ := store.Start(ctx, n.ID, jobs.Claim{TaskID: "task-1"}, nil)
	fmt.Println("run:", run, job.Status, "attempt", job.Attempts)
	ok, _ := store.Finish(ctx, n.ID, jobs.Claim{TaskID: "task-1"}, reliapi.JobSucceeded, &reliapi.Result{
		Data: json.RawMessage(`{"status_code":200}`),
	}, true, nil)
	fmt.Println("recorded:", ok)

	done := <-result
	fmt.Println("waited:", done.Status, string(done.Result.Data))

	page, _ := store.List(ctx, "acme", jobs.ListOptions{Status: reliapi.JobSucceeded})
	fmt.Println("listed:", len(page.Jobs), page.Jobs[0].ID)
	// Output:
	// created: true queued
	// created again: false queued
	// run: true running attempt 1
	// recorded: true
	// waited: succeeded {"status_code":200}
	// listed: 1 job_0190a5b2c3d47e8f9a0b1c2d3e4f5a6b
}
