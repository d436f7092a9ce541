package keypool

// stateKey is the hash of a pool's key states: "<id>:status" (cooling |
// quarantined), "<id>:until" (ms; 0 = until re-enabled), "<id>:errors"
// (recent error rate × 1000).
func stateKey(pool string) string { return "reliapi:keypool:{" + pool + "}" }

// leasesKey is the sorted set of a key's leases, scored by expiry (ms).
func leasesKey(pool, id string) string { return "reliapi:keypool:{" + pool + "}:leases:" + id }
