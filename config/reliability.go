package config

// Reliability holds settings shared by the reliability controls
// (circuit breaker, and as they land the rate scheduler and key pool).
type Reliability struct {
	// OnRedisError says what a control does when it cannot reach Redis:
	// "open" lets the call through unchecked (availability first), "closed"
	// refuses it with REDIS_UNAVAILABLE (protection first). Either way a
	// metric counts it. Default "open".
	OnRedisError string `yaml:"on_redis_error"`
}

// The OnRedisError policies.
const (
	FailOpen   = "open"
	FailClosed = "closed"
)

// setDefaults fills every zero field of r with its default.
func (r *Reliability) setDefaults() {
	setDefault(&r.OnRedisError, FailOpen)
}

// reliability checks the reliability section.
func (v *validator) reliability(r Reliability) {
	p := r.OnRedisError
	v.check("reliability.on_redis_error", p == FailOpen || p == FailClosed, "must be open or closed (got %q)", p)
}
