package jobs

// Redis keys and channels of this package. Everything ReliAPI stores lives
// under "reliapi:"; the braces are Redis Cluster hash tags.

// jobKey is the hash holding one job record.
func jobKey(id string) string { return "reliapi:job:{" + id + "}" }

// eventsKey is the stream of a job's events (a streamed answer's pieces).
func eventsKey(id string) string { return "reliapi:job:{" + id + "}:events" }

// tenantJobsKey is the sorted set of a tenant's job IDs scored by creation
// time in milliseconds.
func tenantJobsKey(tenant string) string { return "reliapi:tenant:{" + tenant + "}:jobs" }

// doneChannel carries the ID of every job that reached a terminal status.
const doneChannel = "reliapi:jobs:done"
