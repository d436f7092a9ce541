package breaker

// key is the hash holding one target's breaker.
func key(target string) string { return "reliapi:breaker:{" + target + "}" }

// Key is the hash holding target's breaker, for a script of another package
// that reads it (the wake-up lane's push: see lane.Start).
func Key(target string) string { return key(target) }
