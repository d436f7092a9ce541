package testenv

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Scrape returns the Prometheus text page at url, an api's or a worker's
// /metrics (open when no admin key is configured). It fails the test if
// the page cannot be read.
func Scrape(tb testing.TB, url string) string {
	tb.Helper()
	r, err := (&Client{}).Send(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		tb.Fatalf("testenv: scraping %s: %v", url, err)
	}
	return string(r.Raw)
}

// Metric scrapes url (see Scrape) and returns the value of one sample:
// series is its name and labels as Prometheus prints them, such as
// `reliapi_jobs_total{status="succeeded"}`. found is false, and value 0,
// when the page has no such sample (a counter not incremented yet).
func Metric(tb testing.TB, url, series string) (value float64, found bool) {
	tb.Helper()
	for line := range strings.SplitSeq(Scrape(tb, url), "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		// The value, then an optional timestamp.
		text, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			tb.Fatalf("testenv: %s in %s is %q, not a number", series, url, text)
		}
		return v, true
	}
	return 0, false
}
