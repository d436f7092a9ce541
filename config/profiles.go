package config

// ClientProfile limits the callers that present it in X-Client (seed §16).
// The profile "default" always exists.
type ClientProfile struct {
	// MaxParallelRequests caps a tenant's jobs running at once under this
	// profile; more wait for a free slot. Default 0: no cap.
	MaxParallelRequests int `yaml:"max_parallel_requests"`
	// MaxQPSPerTenant caps each tenant's calls per second. Default 0: none.
	MaxQPSPerTenant float64 `yaml:"max_qps_per_tenant"`
	// MaxQPSPerProviderKey caps each pool key's calls per second for these
	// callers, below the key's own limit. Default 0: none.
	MaxQPSPerProviderKey float64 `yaml:"max_qps_per_provider_key"`
	// BurstSize is the burst of the per-tenant bucket. Default 5.
	BurstSize int `yaml:"burst_size"`
	// DefaultTimeoutS is the per-attempt timeout of this profile's calls,
	// instead of the target's timeout_ms. Default 0: the target's.
	DefaultTimeoutS float64 `yaml:"default_timeout_s"`
}

// DefaultProfile is the profile of callers that name none.
const DefaultProfile = "default"

// Profile returns the named client profile, or "default" when there is no
// such profile (the name is then "default").
func (c *Config) Profile(name string) (string, *ClientProfile) {
	return profileOf(c.ClientProfiles, name)
}

// profileOf finds profile name among profiles (see Config.Profile).
func profileOf(profiles map[string]*ClientProfile, name string) (string, *ClientProfile) {
	if p := profiles[name]; p != nil {
		return name, p
	}
	return DefaultProfile, profiles[DefaultProfile]
}

// setProfileDefaults makes c.ClientProfiles non-nil, adds the profile
// "default" when it is missing and fills in every profile's defaults.
func (c *Config) setProfileDefaults() {
	initMap(&c.ClientProfiles)
	if c.ClientProfiles[DefaultProfile] == nil {
		c.ClientProfiles[DefaultProfile] = &ClientProfile{}
	}
	for _, p := range c.ClientProfiles {
		if p != nil {
			p.setDefaults()
		}
	}
}

func (p *ClientProfile) setDefaults() {
	setDefault(&p.BurstSize, 5)
}

// clientProfiles checks every client profile.
func (v *validator) clientProfiles(profiles map[string]*ClientProfile) {
	for name, p := range profiles {
		path := "client_profiles." + name
		if p == nil {
			v.add(path, "must not be empty")
			continue
		}
		v.clientProfile(path, p)
	}
}

func (v *validator) clientProfile(path string, p *ClientProfile) {
	v.check(path+".max_parallel_requests", p.MaxParallelRequests >= 0, "must be 0 (none) or more (got %d)", p.MaxParallelRequests)
	v.check(path+".max_qps_per_tenant", p.MaxQPSPerTenant >= 0, "must be 0 (none) or more (got %g)", p.MaxQPSPerTenant)
	v.check(path+".max_qps_per_provider_key", p.MaxQPSPerProviderKey >= 0, "must be 0 (none) or more (got %g)", p.MaxQPSPerProviderKey)
	v.check(path+".burst_size", p.BurstSize > 0, "must be > 0 (got %d)", p.BurstSize)
	v.check(path+".default_timeout_s", p.DefaultTimeoutS >= 0, "must be 0 (none) or more (got %g)", p.DefaultTimeoutS)
}
