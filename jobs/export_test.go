package jobs

import "time"

// SetListenCheck shortens how long a subscription may stay silent before
// it is pinged, until the returned function restores it. Not for parallel
// tests.
func SetListenCheck(d time.Duration) (restore func()) {
	was := listenCheck
	listenCheck = d
	return func() { listenCheck = was }
}

// UnpackStrings reads a record as the scripts pack it.
var UnpackStrings = unpackStrings

// JobFromRecord reads a job from a record a script packed (or, from an
// earlier build, encoded as JSON).
var JobFromRecord = jobFromRecord

// IndexUpkeepDue reports whether a create at nowMS would trim tenant's
// index and renew its expiry.
func (s *Store) IndexUpkeepDue(tenant string, nowMS int64) bool {
	return s.indexUpkeepDue(tenant, nowMS)
}
