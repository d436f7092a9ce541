package config

import (
	"fmt"
	"net/netip"
	"net/url"
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
	// credentials. Default: none (no CORS headers at all).
	CORSOrigins []string `yaml:"cors_origins,omitempty"`
}

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
}

// corsOrigins checks server.cors_origins.
func (v *validator) corsOrigins(origins []string) {
	for i, o := range origins {
		u, err := url.Parse(o)
		v.check(fmt.Sprintf("server.cors_origins[%d]", i), o == "*" || err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Path == "",
			"must be \"*\" or an origin such as https://app.example.com (got %q)", o)
	}
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
