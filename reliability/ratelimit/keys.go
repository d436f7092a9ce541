package ratelimit

// bucketKey holds one bucket's theoretical arrival time.
func bucketKey(name string) string { return "reliapi:rl:{" + name + "}" }
