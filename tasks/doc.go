// Package tasks is the queue contract between the api and the workers: task
// type names, versioned payloads, queue names and the asynq options each task
// is enqueued with. Both sides import it; nothing else crosses the queue.
package tasks
