package httpx

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// How long an upstream asks to be left alone: Retry-After, and the
// rate-limit windows its headers report.

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). It returns 0 when the header is absent, invalid or in
// the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs > 0 && secs <= 1e9) { // also false for NaN
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// maxRateLimitRest bounds the rest read from rate-limit headers.
const maxRateLimitRest = 24 * time.Hour

// RateLimitReset reads an answer's rate-limit headers and returns how long
// until the key's exhausted window resets: 0 when no window reports zero
// remaining (or none is reported). It understands the families providers
// send, pairing each window's remaining count with its reset:
//
//	X-Ratelimit-Remaining-<w> / X-Ratelimit-Reset-<w>  OpenAI, Mistral; reset a duration ("6m0s", "20ms") or seconds
//	Anthropic-Ratelimit-<w>-Remaining / -Reset         Anthropic; reset an RFC 3339 time
//	Ratelimit-Remaining / Ratelimit-Reset              IETF draft; reset in seconds
//
// When several windows are exhausted the longest reset wins.
func RateLimitReset(h http.Header, now time.Time) time.Duration {
	var rest time.Duration
	exhausted := func(remaining, reset string) {
		n, err := strconv.ParseFloat(strings.TrimSpace(remaining), 64)
		if err != nil || !(n <= 0) { // NaN is not exhausted either
			return
		}
		if d := parseReset(reset, now); d > rest {
			rest = d
		}
	}
	for name, v := range h {
		if len(v) == 0 {
			continue
		}
		switch {
		case strings.HasPrefix(name, "X-Ratelimit-Remaining-"):
			exhausted(v[0], h.Get("X-Ratelimit-Reset-"+strings.TrimPrefix(name, "X-Ratelimit-Remaining-")))
		case strings.HasPrefix(name, "Anthropic-Ratelimit-") && strings.HasSuffix(name, "-Remaining"):
			exhausted(v[0], h.Get(strings.TrimSuffix(name, "-Remaining")+"-Reset"))
		case name == "Ratelimit-Remaining":
			exhausted(v[0], h.Get("Ratelimit-Reset"))
		}
	}
	return min(rest, maxRateLimitRest)
}

// parseReset reads a window's reset: a duration ("1m30s", "20ms"), a
// number of seconds, or a time (RFC 3339 or HTTP date).
func parseReset(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return max(0, t.Sub(now))
	}
	return ParseRetryAfter(v, now)
}
