package cache

// entryKey holds a cached answer: the stored time in Unix milliseconds, a
// newline, then the answer's JSON.
func entryKey(hash string) string { return "reliapi:cache:{" + hash + "}" }

// inflightKey names the job that will fill the entry.
func inflightKey(hash string) string { return "reliapi:cache:{" + hash + "}:inflight" }
