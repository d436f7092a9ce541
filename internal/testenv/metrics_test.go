package testenv

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetric(t *testing.T) {
	t.Parallel()

	const page = `# HELP reliapi_jobs_total Jobs by status.
# TYPE reliapi_jobs_total counter
reliapi_jobs_total{status="failed"} 2
reliapi_jobs_total{status="succeeded"} 40
go_goroutines 17
`
	u := StartUpstream(t)
	u.Handle("/metrics", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(page)) })
	if got := Scrape(t, u.URL+"/metrics"); !strings.Contains(got, "go_goroutines 17") {
		t.Fatalf("Scrape = %q", got)
	}
	tests := []struct {
		series string
		want   float64
		found  bool
	}{
		{`reliapi_jobs_total{status="succeeded"}`, 40, true},
		{`reliapi_jobs_total{status="failed"}`, 2, true},
		{"go_goroutines", 17, true},
		{`reliapi_jobs_total{status="canceled"}`, 0, false},
		{"reliapi_jobs_total", 0, false}, // a name alone is not a labelled sample
	}
	for _, tt := range tests {
		if v, found := Metric(t, u.URL+"/metrics", tt.series); v != tt.want || found != tt.found {
			t.Errorf("Metric(%s) = %v, %v; want %v, %v", tt.series, v, found, tt.want, tt.found)
		}
	}
}
