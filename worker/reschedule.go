package worker

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/tasks"
)

// reschedule hands a job that must wait longer than maxInlineWait for its
// rate-limit slot back to the queue, to run again at the slot, so that the
// wait costs no worker slot. The new task is enqueued first and the job
// record then moved to it; a job canceled meanwhile keeps its state and the
// new task finds nothing to run.
func (w *Worker) reschedule(ctx context.Context, j *run, job *reliapi.Job, taskID string, after time.Duration) error {
	newTaskID := rand.Text()
	remaining := time.Until(j.deadline)
	task, err := tasks.New(j.payload, tasks.Placement{
		Queue: job.Queue, TaskID: newTaskID, ProcessIn: after, Timeout: remaining,
	})
	if err != nil {
		return fmt.Errorf("rescheduling job: %w", err)
	}
	if _, err := w.enqueuer.EnqueueContext(ctx, task); err != nil {
		return fmt.Errorf("rescheduling job: %w", err)
	}
	moved, err := w.store.Requeue(ctx, j.payload.JobID, taskID, newTaskID)
	if err != nil {
		return err
	}
	if !moved {
		w.log.Info("job canceled while waiting for its rate-limit slot", j.tag...)
		if err := w.inspector.DeleteTask(job.Queue, newTaskID); err != nil {
			w.log.Debug("removing the unneeded rescheduled task", append(j.tag, "error", err)...)
		}
		return nil
	}
	w.log.Debug("job waits for its rate-limit slot in the queue", append(j.tag, "wait", after.String())...)
	return nil
}
