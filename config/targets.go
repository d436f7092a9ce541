package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/webhook"
)

// Target is one upstream, in the seed's schema.
type Target struct {
	// BaseURL is the absolute http or https URL that request paths are
	// appended to: it has a host, and no query, fragment or user info.
	// Required.
	BaseURL string `yaml:"base_url"`
	// TimeoutMS is the per-attempt timeout in milliseconds, 1 to 300000.
	// Default 20000.
	TimeoutMS int `yaml:"timeout_ms"`
	// Circuit configures the target's circuit breaker.
	Circuit Circuit `yaml:"circuit"`
	// Cache configures response caching for the target.
	Cache Cache `yaml:"cache"`
	// LLM, when set, makes the target usable by the LLM proxy.
	// Default nil.
	LLM *LLM `yaml:"llm,omitempty"`
	// Auth, when set, says how to authenticate to the upstream.
	// Default nil: no auth header is added.
	Auth *Auth `yaml:"auth,omitempty"`
	// FallbackTargets name other targets to try, in order, when this one
	// fails. Default none.
	FallbackTargets []string `yaml:"fallback_targets,omitempty"`
	// RetryMatrix maps an error class ("429", "5xx", "net", "timeout") to
	// its retry policy. Default nil: see Retry for the default policies.
	RetryMatrix map[string]RetryPolicy `yaml:"retry_matrix,omitempty"`
	// Webhook is the subscription of calls to this target that bring none
	// of their own. Default nil: none.
	Webhook *reliapi.Subscription `yaml:"webhook,omitempty"`
}

// Circuit configures a target's circuit breaker.
type Circuit struct {
	// ErrorThreshold is how many consecutive failures open the breaker.
	// Default 5.
	ErrorThreshold int `yaml:"error_threshold"`
	// CooldownS is how many seconds the breaker stays open before one
	// probe is let through. Default 60.
	CooldownS int `yaml:"cooldown_s"`
	// FailureRate, when set (0 < rate <= 1), also opens the breaker when at
	// least that share of the calls in a window of WindowS seconds failed,
	// once the window holds MinCalls calls. Default 0: off.
	FailureRate float64 `yaml:"failure_rate"`
	// WindowS is the failure-rate window in seconds. Default 60.
	WindowS int `yaml:"window_s"`
	// MinCalls is how many calls a window needs before its rate counts.
	// Default 20.
	MinCalls int `yaml:"min_calls"`
	// SlowCallMS, when set, counts a call slower than this many
	// milliseconds as a failure for the breaker (the call's own result is
	// unchanged). Default 0: off.
	SlowCallMS int `yaml:"slow_call_ms"`
}

// Cache configures a target's response cache.
type Cache struct {
	// Enabled turns caching on or off. It is a pointer so that an explicit
	// value is kept; nil means the default: on, except for a target with an
	// llm block (LLM answers are cached only when asked for). Read it with
	// IsEnabled.
	Enabled *bool `yaml:"enabled"`
	// TTLS is how many seconds a cached response lives. Default 3600.
	TTLS int `yaml:"ttl_s"`
}

// LLM configures a target for the LLM proxy. Nil numbers are unset.
type LLM struct {
	// Provider is "openai", "anthropic" or "mistral". Default "": detect
	// it from the base URL.
	Provider string `yaml:"provider,omitempty"`
	// DefaultModel is the model used when a request names none.
	// Default "".
	DefaultModel string `yaml:"default_model,omitempty"`
	// MaxTokens caps a request's max_tokens and is its default; > 0.
	MaxTokens *int `yaml:"max_tokens,omitempty"`
	// Temperature is a request's temperature when it names none; 0 to 2.
	Temperature *float64 `yaml:"temperature,omitempty"`
	// SoftCostCapUSD is the estimated cost above which a request's
	// max_tokens is shrunk; >= 0.
	SoftCostCapUSD *float64 `yaml:"soft_cost_cap_usd,omitempty"`
	// HardCostCapUSD is the estimated cost above which a request is
	// rejected; >= 0, and >= SoftCostCapUSD when both are set.
	HardCostCapUSD *float64 `yaml:"hard_cost_cap_usd,omitempty"`
}

// Provider is the target's LLM provider: llm.provider, else the one its
// base_url names; "" for a target without an llm block.
func (t *Target) Provider() string {
	if t.LLM == nil {
		return ""
	}
	if t.LLM.Provider != "" {
		return t.LLM.Provider
	}
	return reliapi.DetectProvider(t.BaseURL)
}

// Timeout returns the per-attempt timeout, TimeoutMS as a time.Duration.
func (t *Target) Timeout() time.Duration {
	if t.TimeoutMS == 0 {
		return 20 * time.Second
	}
	return time.Duration(t.TimeoutMS) * time.Millisecond
}

// Cooldown returns CooldownS as a time.Duration.
func (c Circuit) Cooldown() time.Duration {
	return time.Duration(c.CooldownS) * time.Second
}

// IsEnabled reports whether caching is on; nil Enabled means on.
func (c Cache) IsEnabled() bool {
	return c.Enabled == nil || *c.Enabled
}

// TTL returns TTLS as a time.Duration.
func (c Cache) TTL() time.Duration {
	return time.Duration(c.TTLS) * time.Second
}

// setTargetDefaults makes c.Targets non-nil and fills in every target's
// defaults.
func (c *Config) setTargetDefaults() {
	initMap(&c.Targets)
	for name, t := range c.Targets {
		if t == nil { // "name:" with no body; validation reports the missing base_url.
			t = &Target{}
			c.Targets[name] = t
		}
		t.setDefaults()
	}
}

// setDefaults fills every zero field of t with its default.
func (t *Target) setDefaults() {
	setDefault(&t.TimeoutMS, 20000)
	setDefault(&t.Circuit.ErrorThreshold, 5)
	setDefault(&t.Circuit.CooldownS, 60)
	setDefault(&t.Circuit.WindowS, 60)
	setDefault(&t.Circuit.MinCalls, 20)
	if t.Cache.Enabled == nil {
		// Completions vary from call to call: an LLM target caches only
		// when its config asks for it.
		on := t.LLM == nil
		t.Cache.Enabled = &on
	}
	setDefault(&t.Cache.TTLS, 3600)
	if t.Auth != nil {
		t.Auth.setDefaults()
	}
	for class, p := range t.RetryMatrix {
		p.setDefaults()
		t.RetryMatrix[class] = p
	}
}

// targets checks every target, and the default webhook of those that
// have one against guard.
func (v *validator) targets(targets map[string]*Target, guard webhook.Guard) {
	eachNamed(v, "targets", "target", targets, func(path string, t *Target) { v.target(path, t, targets) })
	for name, t := range targets {
		if t != nil && t.Webhook != nil {
			v.subscription("targets."+name+".webhook", t.Webhook, guard)
		}
	}
}

// target checks one target; all names the targets, for fallbacks.
func (v *validator) target(path string, t *Target, all map[string]*Target) {
	v.baseURL(path+".base_url", t.BaseURL)
	v.check(path+".timeout_ms", t.TimeoutMS >= 1 && t.TimeoutMS <= 300000, "must be 1 to 300000 (got %d)", t.TimeoutMS)
	v.circuit(path+".circuit", t.Circuit)
	v.check(path+".cache.ttl_s", t.Cache.TTLS > 0, "must be > 0 (got %d)", t.Cache.TTLS)
	if t.LLM != nil {
		v.llm(path+".llm", t.LLM, t.BaseURL)
	}
	if t.Auth != nil {
		v.targetAuth(path+".auth", t.Auth)
	}
	v.fallbacks(path, t.FallbackTargets, all)
	v.retryMatrix(path+".retry_matrix", t.RetryMatrix)
}

// baseURL checks a target's base URL.
func (v *validator) baseURL(path, raw string) {
	if raw == "" {
		v.add(path, "required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL, which may hold user info
		}
		v.add(path, "is not a valid URL: %s", err)
		return
	}
	switch {
	case u.User != nil:
		v.add(path, "must not hold user info; put credentials in auth")
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(path, "must be an absolute http:// or https:// URL (got %q)", raw)
	case u.Host == "":
		v.add(path, "must have a host (got %q)", raw)
	case u.RawQuery != "" || u.ForceQuery:
		v.add(path, "must not have a query (got %q)", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		v.add(path, "must not have a fragment (got %q)", raw)
	}
}

// circuit checks a target's circuit breaker at path.
func (v *validator) circuit(path string, c Circuit) {
	v.check(path+".error_threshold", c.ErrorThreshold > 0, "must be > 0 (got %d)", c.ErrorThreshold)
	v.check(path+".cooldown_s", c.CooldownS > 0, "must be > 0 (got %d)", c.CooldownS)
	v.check(path+".failure_rate", c.FailureRate >= 0 && c.FailureRate <= 1, "must be between 0 (off) and 1 (got %g)", c.FailureRate)
	if c.FailureRate > 0 {
		v.check(path+".window_s", c.WindowS > 0, "must be > 0 (got %d)", c.WindowS)
		v.check(path+".min_calls", c.MinCalls > 0, "must be > 0 (got %d)", c.MinCalls)
	}
	v.check(path+".slow_call_ms", c.SlowCallMS >= 0, "must be 0 (off) or more (got %d)", c.SlowCallMS)
}

// llm checks a target's llm block at p; baseURL is the target's, which
// may name the provider.
func (v *validator) llm(p string, l *LLM, baseURL string) {
	v.oneOf(p+".provider", l.Provider, "", "openai", "anthropic", "mistral")
	if l.Provider == "" && reliapi.DetectProvider(baseURL) == "" {
		v.add(p+".provider", "required: base_url names no known provider (openai, anthropic, mistral)")
	}
	if l.MaxTokens != nil {
		v.check(p+".max_tokens", *l.MaxTokens > 0, "must be > 0 (got %d)", *l.MaxTokens)
	}
	if l.Temperature != nil {
		v.check(p+".temperature", *l.Temperature >= 0 && *l.Temperature <= 2, "must be 0 to 2 (got %v)", *l.Temperature)
	}
	if l.SoftCostCapUSD != nil {
		v.check(p+".soft_cost_cap_usd", isFinite(*l.SoftCostCapUSD) && *l.SoftCostCapUSD >= 0, "must be >= 0 (got %v)", *l.SoftCostCapUSD)
	}
	if l.HardCostCapUSD != nil {
		v.check(p+".hard_cost_cap_usd", isFinite(*l.HardCostCapUSD) && *l.HardCostCapUSD >= 0, "must be >= 0 (got %v)", *l.HardCostCapUSD)
		if l.SoftCostCapUSD != nil && *l.HardCostCapUSD < *l.SoftCostCapUSD {
			v.add(p+".hard_cost_cap_usd", "must be >= soft_cost_cap_usd %v (got %v)", *l.SoftCostCapUSD, *l.HardCostCapUSD)
		}
	}
}

// fallbacks checks the fallback targets of the target at path; all names
// the targets.
func (v *validator) fallbacks(path string, names []string, all map[string]*Target) {
	seen := make(map[string]bool)
	for i, name := range names {
		p := fmt.Sprintf("%s.fallback_targets[%d]", path, i)
		switch {
		case all[name] == nil:
			v.add(p, "no target named %q", name)
		case path == "targets."+name:
			v.add(p, "a target cannot fall back to itself")
		case seen[name]:
			v.add(p, "%q is listed twice", name)
		}
		seen[name] = true
	}
}
