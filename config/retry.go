package config

import (
	"slices"
	"strings"
	"time"
)

// The backoff kinds of a retry policy.
const (
	// BackoffExpJitter waits base·2^(n-1) plus up to 30% jitter.
	BackoffExpJitter = "exp-jitter"
	// BackoffExp waits base·2^(n-1).
	BackoffExp = "exp"
	// BackoffLinear waits base·n.
	BackoffLinear = "linear"
	// BackoffFixed always waits base.
	BackoffFixed = "fixed"
)

// RetryPolicy says how often and how patiently to retry one error class.
type RetryPolicy struct {
	// Attempts counts every try, the first included, 1 to 10; 1 means no
	// retry. Default 3.
	Attempts int `yaml:"attempts"`
	// Backoff is BackoffExpJitter, BackoffExp, BackoffLinear or
	// BackoffFixed. Default BackoffExpJitter.
	Backoff string `yaml:"backoff"`
	// BaseS is the base delay in seconds; > 0. Default 1.0.
	BaseS float64 `yaml:"base_s"`
	// MaxS caps every delay, in seconds; >= BaseS. Default 60.0.
	MaxS float64 `yaml:"max_s"`
}

// retryClasses are the keys a retry matrix may use, in the order errors
// list them.
var retryClasses = []string{"429", "5xx", "net", "timeout"}

// defaultRetryAttempts gives the attempts of each class when a target has
// no retry matrix (seed §12).
var defaultRetryAttempts = map[string]int{"429": 3, "5xx": 2, "net": 2, "timeout": 2}

// Retry returns the retry policy for an error class ("429", "5xx", "net" or
// "timeout"), and false when that class is not retried. A target without a
// retry matrix (nil or empty) retries 429 three times in all and 5xx, net
// and timeout twice, with exp-jitter backoff from 1s up to 60s. A target
// with a matrix retries only the classes it names.
func (t *Target) Retry(class string) (RetryPolicy, bool) {
	if len(t.RetryMatrix) == 0 {
		n, ok := defaultRetryAttempts[class]
		if !ok {
			return RetryPolicy{}, false
		}
		p := RetryPolicy{Attempts: n}
		p.setDefaults()
		return p, true
	}
	p, ok := t.RetryMatrix[class]
	if !ok {
		return RetryPolicy{}, false
	}
	p.setDefaults()
	return p, true
}

// Base returns BaseS as a time.Duration.
func (p RetryPolicy) Base() time.Duration {
	return time.Duration(p.BaseS * float64(time.Second))
}

// Max returns MaxS as a time.Duration.
func (p RetryPolicy) Max() time.Duration {
	return time.Duration(p.MaxS * float64(time.Second))
}

// setDefaults fills every zero field of p with its default.
func (p *RetryPolicy) setDefaults() {
	setDefault(&p.Attempts, 3)
	setDefault(&p.Backoff, BackoffExpJitter)
	setDefault(&p.BaseS, 1.0)
	setDefault(&p.MaxS, 60.0)
}

// retryMatrix checks a target's retry matrix at path.
func (v *validator) retryMatrix(path string, matrix map[string]RetryPolicy) {
	for class, r := range matrix {
		p := path + "." + class
		if !slices.Contains(retryClasses, class) {
			v.add(p, "unknown error class: use %s", strings.Join(retryClasses, ", "))
			continue
		}
		v.check(p+".attempts", r.Attempts >= 1 && r.Attempts <= 10, "must be 1 to 10 (got %d)", r.Attempts)
		v.oneOf(p+".backoff", r.Backoff, BackoffExpJitter, BackoffExp, BackoffLinear, BackoffFixed)
		v.check(p+".base_s", isFinite(r.BaseS) && r.BaseS > 0, "must be > 0 (got %v)", r.BaseS)
		v.check(p+".max_s", isFinite(r.MaxS) && r.MaxS > 0, "must be > 0 (got %v)", r.MaxS)
		if r.MaxS < r.BaseS {
			v.add(p+".max_s", "must be >= base_s %v (got %v)", r.BaseS, r.MaxS)
		}
	}
}
