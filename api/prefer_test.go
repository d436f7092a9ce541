package api

import (
	"net/http"
	"testing"
	"time"
)

func TestParseMode(t *testing.T) {
	t.Parallel()
	const syncTimeout, maxWait = 30 * time.Second, 60 * time.Second
	tests := []struct {
		prefer []string
		want   mode
	}{
		{nil, mode{name: "sync", wait: syncTimeout}},
		{[]string{"respond-async"}, mode{name: "async", applied: "respond-async"}},
		{[]string{"Respond-Async"}, mode{name: "async", applied: "respond-async"}},
		{[]string{"wait=5"}, mode{name: "wait", wait: 5 * time.Second, applied: "wait=5"}},
		{[]string{"wait=0"}, mode{name: "wait", wait: 0, applied: "wait=0"}},
		{[]string{"wait=600"}, mode{name: "wait", wait: maxWait, applied: "wait=60"}},
		{[]string{"respond-async, wait=10"}, mode{name: "wait", wait: 10 * time.Second, applied: "respond-async, wait=10"}},
		{[]string{"respond-async", "wait=10"}, mode{name: "wait", wait: 10 * time.Second, applied: "respond-async, wait=10"}},
		{[]string{"wait=abc"}, mode{name: "sync", wait: syncTimeout}},
		{[]string{"wait=-3"}, mode{name: "sync", wait: syncTimeout}},
		{[]string{"return=minimal"}, mode{name: "sync", wait: syncTimeout}},
		{[]string{"respond-async; foo=bar"}, mode{name: "async", applied: "respond-async"}},
		{[]string{"wait=3, wait=9"}, mode{name: "wait", wait: 3 * time.Second, applied: "wait=3"}},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, v := range tt.prefer {
			h.Add("Prefer", v)
		}
		if got := parseMode(h, syncTimeout, maxWait); got != tt.want {
			t.Errorf("parseMode(%q) = %+v, want %+v", tt.prefer, got, tt.want)
		}
	}
}
