package jobs

// Redis keys and channels of this package. Everything ReliAPI stores lives
// under "reliapi:"; the braces are Redis Cluster hash tags.

// jobKey is the hash holding one job record.
func jobKey(id string) string { return "reliapi:job:{" + id + "}" }

// RecordKey is the key of job id's record, for a script of another package
// that starts the job with StartLua (the wake-up lane's push).
func RecordKey(id string) string { return jobKey(id) }

// eventsKey is the stream of a job's events (a streamed answer's pieces).
func eventsKey(id string) string { return "reliapi:job:{" + id + "}:events" }

// tenantJobsKey is the sorted set of a tenant's job IDs scored by creation
// time in milliseconds.
func tenantJobsKey(tenant string) string { return "reliapi:tenant:{" + tenant + "}:jobs" }

// doneChannel carries the ID of every job that reached a terminal status.
const doneChannel = "reliapi:jobs:done"

// canceledChannel carries the ID of every job canceled while it ran, for
// the worker running it to stop.
const canceledChannel = "reliapi:jobs:canceled"

// goneChannel carries "<tenant>\n<URL digest>" for every change to a
// tenant's set of gone webhook URLs (see GoneURLs).
const goneChannel = "reliapi:webhooks:gone"

// failedWebhooksKey is the sorted set of a tenant's jobs whose webhook
// failed for good (dead letters), scored by when, in milliseconds.
func failedWebhooksKey(tenant string) string {
	return "reliapi:tenant:{" + tenant + "}:webhooks:failed"
}

// goneWebhooksKey is the set of a tenant's webhook URLs that answered 410
// Gone (as SHA-256 hex, so the set holds no URL).
func goneWebhooksKey(tenant string) string { return "reliapi:tenant:{" + tenant + "}:webhooks:gone" }

// runningIndexKey is the set of the worker processes that published their
// running jobs; runningKey is one worker's hash of them, by tenant. They
// share a hash tag so that one MULTI writes a worker's hash and the index,
// on a Redis Cluster too.
const runningIndexKey = "reliapi:workers:{running}"

func runningKey(worker string) string { return runningIndexKey + ":" + worker }
