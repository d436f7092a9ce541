package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration that YAML writes either as a Go duration
// string ("30s", "100ms", "24h") or as a plain number of seconds (30, 0.5).
// A negative duration is an error.
type Duration struct {
	time.Duration
}

var (
	_ yaml.Unmarshaler = (*Duration)(nil)
	_ yaml.Marshaler   = Duration{}
)

// UnmarshalYAML decodes a duration string or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("cannot use %q as a duration: %w", n.Value, err)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration as a Go duration string, which
// UnmarshalYAML reads back.
func (d Duration) MarshalYAML() (any, error) {
	return d.String(), nil
}

// parseDuration reads a Go duration string or a number of seconds.
func parseDuration(s string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		ns := secs * float64(time.Second)
		switch {
		case secs < 0:
			return 0, errors.New("must not be negative")
		case math.IsNaN(secs) || ns >= math.MaxInt64:
			return 0, errors.New("out of range")
		}
		return time.Duration(ns), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`write a Go duration such as "30s" or "100ms", or a number of seconds`)
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}
