package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var targetName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate reports every problem in c at once, sorted by the dotted path of
// the field, or nil. It expects defaults to be applied (Parse and Default do
// that), so zero values that mean a default are reported as out of range.
func (c *Config) Validate() error {
	problems := c.problems()
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// problems lists every problem in c, sorted by path. Each section checks
// itself; problems at the same path keep the order they were found in.
func (c *Config) problems() []*fieldError {
	v := &validator{}
	v.server(c.Server)
	v.redis(c.Redis)
	v.worker(c.Worker)
	v.jobs(c.Jobs)
	v.reliability(c.Reliability)
	v.targets(c.Targets, c.Webhooks.Guard())
	v.budget(c.Budget, c.Pricing)
	v.webhooks(c.Webhooks)
	v.models(c.Models, c.Targets)
	v.keyPools(c.ProviderKeyPools)
	v.clientProfiles(c.ClientProfiles)
	v.clientAuth(c.Auth)
	v.rapidAPI(c.RapidAPI)
	v.tenants(c.Tenants, c.ClientProfiles)
	v.tiers(c.Tiers)
	v.routeLLM(c.RouteLLM)

	slices.SortStableFunc(v.problems, func(a, b *fieldError) int { return strings.Compare(a.path, b.path) })
	return v.problems
}

// eachNamed checks every entry of a section whose keys are names (1 to 64
// letters, digits, '_', '.' or '-') and whose values must not be empty.
func eachNamed[T any](v *validator, section, what string, m map[string]*T, check func(path string, t *T)) {
	for name, t := range m {
		path := section + "." + name
		if !targetName.MatchString(name) {
			v.add(path, "invalid %s name: use 1 to 64 letters, digits, '_', '.' or '-'", what)
		}
		if t == nil {
			v.add(path, "must not be empty")
			continue
		}
		check(path, t)
	}
}

// keyID checks the id of a key in a list, where ids must be unique.
func (v *validator) keyID(path, id string, seen map[string]bool) {
	v.check(path, targetName.MatchString(id), "must be 1 to 64 letters, digits, '_', '.' or '-' (got %q)", id)
	v.check(path, !seen[id], "duplicate key id %q", id)
	seen[id] = true
}

// validator collects problems.
type validator struct {
	problems []*fieldError
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, &fieldError{path: path, msg: fmt.Sprintf(format, args...)})
}

// check adds a problem at path unless ok.
func (v *validator) check(path string, ok bool, format string, args ...any) {
	if !ok {
		v.add(path, format, args...)
	}
}

func (v *validator) positive(path string, d time.Duration) {
	v.check(path, d > 0, "must be positive (got %s)", d)
}

// upTo checks that 0 < d <= limit.
func (v *validator) upTo(path string, d, limit time.Duration) {
	v.check(path, d > 0 && d <= limit, "must be positive and at most %s (got %s)", limit, d)
}

// address checks a listen address such as ":8000" or "127.0.0.1:9091".
func (v *validator) address(path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
			err = errors.New("invalid port")
		}
	}
	if err != nil {
		v.add(path, "must be host:port, such as \":8000\" (got %q)", addr)
	}
}

// oneOf checks that value is one of allowed.
func (v *validator) oneOf(path, value string, allowed ...string) {
	if slices.Contains(allowed, value) {
		return
	}
	var names []string
	for _, a := range allowed {
		if a != "" {
			names = append(names, a)
		}
	}
	msg := "must be one of " + strings.Join(names, ", ")
	if slices.Contains(allowed, "") {
		msg += ", or empty"
	}
	v.add(path, "%s (got %q)", msg, value)
}

func isFinite(f float64) bool {
	return !math.IsNaN(f) && !math.IsInf(f, 0)
}

// sha256Hex checks a hex SHA-256 digest.
func (v *validator) sha256Hex(path, s string) {
	b, err := hex.DecodeString(s)
	v.check(path, err == nil && len(b) == 32, "must be 64 hex digits, a SHA-256 (`reliapi key hash` prints one)")
}
