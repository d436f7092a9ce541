package breaker

// key is the hash holding one target's breaker.
func key(target string) string { return "reliapi:breaker:{" + target + "}" }
