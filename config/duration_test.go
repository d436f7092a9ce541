package config

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDurationUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		yaml    string
		want    time.Duration
		wantErr string
	}{
		{yaml: "30s", want: 30 * time.Second},
		{yaml: "100ms", want: 100 * time.Millisecond},
		{yaml: "24h", want: 24 * time.Hour},
		{yaml: "1h30m", want: 90 * time.Minute},
		{yaml: `"30s"`, want: 30 * time.Second},
		{yaml: "30", want: 30 * time.Second},
		{yaml: "0.5", want: 500 * time.Millisecond},
		{yaml: "0.001", want: time.Millisecond},
		{yaml: `"2"`, want: 2 * time.Second},
		{yaml: "0", want: 0},
		{yaml: "-1", wantErr: `cannot use "-1" as a duration: must not be negative`},
		{yaml: "-5s", wantErr: `cannot use "-5s" as a duration: must not be negative`},
		{yaml: "5 s", wantErr: `cannot use "5 s" as a duration: write a Go duration such as "30s" or "100ms", or a number of seconds`},
		{yaml: "soon", wantErr: `cannot use "soon" as a duration: write a Go duration such as "30s" or "100ms", or a number of seconds`},
		{yaml: "1e300", wantErr: `cannot use "1e300" as a duration: out of range`},
		{yaml: "NaN", wantErr: `cannot use "NaN" as a duration: out of range`},
		{yaml: "Inf", wantErr: `cannot use "Inf" as a duration: out of range`},
		{yaml: "-Inf", wantErr: `cannot use "-Inf" as a duration: must not be negative`},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			t.Parallel()
			var d Duration
			err := yaml.Unmarshal([]byte(tt.yaml), &d)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v (%v), want error %q", d, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if d.Duration != tt.want {
				t.Errorf("got %v, want %v", d.Duration, tt.want)
			}
		})
	}
}

func TestDurationMarshal(t *testing.T) {
	t.Parallel()
	for _, want := range []time.Duration{0, time.Millisecond, 1500 * time.Microsecond, 90 * time.Minute} {
		out, err := yaml.Marshal(Duration{want})
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var got Duration
		if err := yaml.Unmarshal(out, &got); err != nil {
			t.Fatalf("Unmarshal(%q): %v", out, err)
		}
		if got.Duration != want {
			t.Errorf("%v: round trip through %q gave %v", want, out, got.Duration)
		}
	}
}
