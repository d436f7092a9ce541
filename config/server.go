package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Server configures the HTTP front door.
type Server struct {
	// Listen is the address the api listens on. Default ":8000".
	Listen string `yaml:"listen"`
	// SyncTimeout is how long a synchronous proxy call waits for its result
	// before it is answered with 202 and the job. Default 30s.
	SyncTimeout Duration `yaml:"sync_timeout"`
	// MaxWait is the longest wait honoured for "Prefer: wait=N" and for
	// GET /v1/jobs/{id}?wait=N; longer requests are cut to it. Default 60s.
	MaxWait Duration `yaml:"max_wait"`
	// MaxBodyBytes is the largest request body the api accepts.
	// Default 10 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout is how long the api drains in-flight requests on
	// shutdown. Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the load balancers and proxies (addresses or
	// CIDRs) whose X-Forwarded-For and X-Real-IP name the client. From any
	// other peer those headers are ignored and the client is the socket's
	// address. Default: none.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// CORSOrigins are the browser origins ("https://app.example.com") that
	// may call the api from a page; "*" allows any origin, then without
	// credentials. When the file does not set it, the comma-separated
	// CORS_ORIGINS environment variable does (see corsFromEnv). Default:
	// none (no CORS headers at all).
	CORSOrigins []string `yaml:"cors_origins,omitempty"`
	// RunSyncCalls is how many synchronous calls one api replica runs
	// itself at once, 0 to 10000: their jobs are recorded, claimed and
	// taken over as a worker's are, without the hand-offs to a worker and
	// back. Calls beyond it go through the workers. 0 sends every call
	// through the workers, and the api then needs no provider credential
	// (it reads them, as a worker does, only to run calls). Default 64.
	RunSyncCalls *int `yaml:"run_sync_calls"`
}

// SyncRunSlots is RunSyncCalls, its default applied.
func (s Server) SyncRunSlots() int {
	if s.RunSyncCalls == nil {
		return defaultRunSyncCalls
	}
	return *s.RunSyncCalls
}

const defaultRunSyncCalls = 64

// setDefaults fills every zero field of s with its default.
func (s *Server) setDefaults() {
	setDefault(&s.Listen, ":8000")
	setDefault(&s.SyncTimeout, Duration{30 * time.Second})
	setDefault(&s.MaxWait, Duration{60 * time.Second})
	setDefault(&s.MaxBodyBytes, 10<<20)
	setDefault(&s.ShutdownTimeout, Duration{30 * time.Second})
}

// server checks the server section.
func (v *validator) server(s Server) {
	v.address("server.listen", s.Listen)
	v.positive("server.sync_timeout", s.SyncTimeout.Duration)
	v.positive("server.max_wait", s.MaxWait.Duration)
	v.check("server.max_body_bytes", s.MaxBodyBytes > 0, "must be > 0 (got %d)", s.MaxBodyBytes)
	v.positive("server.shutdown_timeout", s.ShutdownTimeout.Duration)
	v.trustedProxies(s.TrustedProxies)
	v.corsOrigins(s.CORSOrigins)
	n := s.SyncRunSlots()
	v.check("server.run_sync_calls", n >= 0 && n <= 10000, "must be 0 to 10000 (got %d)", n)
}

// corsOrigins checks server.cors_origins.
func (v *validator) corsOrigins(origins []string) {
	for i, o := range origins {
		v.check(fmt.Sprintf("server.cors_origins[%d]", i), validOrigin(o), "must be %s (got %q)", originForm, o)
	}
}

// originForm says what validOrigin accepts, for error messages.
const originForm = `"*" or an origin such as https://app.example.com`

// validOrigin reports whether o is "*" or a browser origin: http(s),
// a host, no path.
func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return o == "*" || err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Path == ""
}

// corsOriginsEnv is the environment variable the seed read its CORS
// origins from; it stays as a fallback for deployments that set it.
const corsOriginsEnv = "CORS_ORIGINS"

// corsFromEnv sets s.CORSOrigins from CORS_ORIGINS (comma-separated, each
// entry trimmed, empty ones dropped) when the file does not set
// server.cors_origins: the file wins, and an explicit `cors_origins: []`
// counts as set (the decoder leaves the field nil only when it is absent
// or null). A bad entry is an error naming the variable, so a typo does not
// silently turn CORS off.
func (s *Server) corsFromEnv(getenv func(string) string) *fieldError {
	if s.CORSOrigins != nil {
		return nil
	}
	var origins []string
	for o := range strings.SplitSeq(getenv(corsOriginsEnv), ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	for i, o := range origins {
		if !validOrigin(o) {
			return &fieldError{path: corsOriginsEnv, msg: fmt.Sprintf("entry %d must be %s (got %q)", i+1, originForm, o),
				hint: "the environment variable is used because the file sets no server.cors_origins"}
		}
	}
	s.CORSOrigins = origins
	return nil
}

// trustedProxies checks server.trusted_proxies.
func (v *validator) trustedProxies(list []string) {
	for i, p := range list {
		if _, err := ParsePrefix(p); err != nil {
			v.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%s", err)
		}
	}
}

// ParsePrefix reads a CIDR ("10.0.0.0/8") or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("must be an IP address or a CIDR such as 10.0.0.0/8 (got %q)", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
