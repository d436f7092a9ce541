package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// mode is how a proxy call is answered.
type mode struct {
	name string // "sync", "async" or "wait": the metrics label
	// wait is how long to wait for the result before answering 202.
	wait time.Duration
	// applied is the Preference-Applied header value; empty when no
	// preference was honoured.
	applied string
}

// parseMode reads the RFC 7240 Prefer headers: respond-async answers 202 at
// once, wait=N waits up to N seconds (capped at maxWait), both together wait
// and then answer 202, neither waits up to syncTimeout. Preferences we do
// not know or cannot parse are ignored, as the RFC asks.
func parseMode(h http.Header, syncTimeout, maxWait time.Duration) mode {
	async, wait, hasWait := false, time.Duration(0), false
	for _, line := range h.Values("Prefer") {
		for _, pref := range strings.Split(line, ",") {
			// Parameters after ";" do not change these two preferences.
			token, _, _ := strings.Cut(pref, ";")
			name, value, _ := strings.Cut(strings.TrimSpace(token), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "respond-async":
				async = true
			case "wait":
				n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(value), `"`))
				if err == nil && n >= 0 && !hasWait {
					wait, hasWait = capSeconds(n, maxWait), true
				}
			}
		}
	}
	switch {
	case hasWait:
		applied := "wait=" + strconv.Itoa(int(wait/time.Second))
		if async {
			applied = "respond-async, " + applied
		}
		return mode{name: "wait", wait: wait, applied: applied}
	case async:
		return mode{name: "async", applied: "respond-async"}
	default:
		return mode{name: "sync", wait: syncTimeout}
	}
}

// capSeconds is n seconds, at most limit; n is compared before it is
// multiplied, so a huge n cannot overflow into a negative wait.
func capSeconds(n int, limit time.Duration) time.Duration {
	if n < 0 {
		return 0
	}
	if time.Duration(n) > limit/time.Second {
		return limit
	}
	return time.Duration(n) * time.Second
}
