package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
)

// caller is who a request comes from, as authenticate found out.
type caller struct {
	tenant string
	// keyID names the API key in logs ("" in open mode).
	keyID string
	// account identifies the key to the abuse counters: the first 16 hex
	// digits of its SHA-256, never the key.
	account string
	limits  config.Limits
	// profile is the tenant's client profile, for calls without X-Client.
	profile string
	// rapidUser is the RapidAPI user of a call RapidAPI forwarded.
	rapidUser string
}

// keyring holds the SHA-256 of every configured key, by digest (the keys
// themselves are not kept), with what a caller presenting it gets: its
// tenant's limits and profile, resolved once here rather than on every
// request.
type keyring struct {
	open bool
	keys map[[sha256.Size]byte]*ringKey
	// admin is the admin key's digest, hasAdmin whether there is one.
	admin    [sha256.Size]byte
	hasAdmin bool
	// tiers are each tier's limits, for callers that are not configured
	// tenants (the admin, RapidAPI users).
	tiers map[string]config.Limits
	// openCaller is who every caller is in open mode.
	openCaller ringKey
}

type ringKey struct {
	digest  [sha256.Size]byte
	tenant  string
	id      string
	revoked bool
	limits  config.Limits
	profile string
}

func newKeyring(st *config.APISettings) *keyring {
	r := &keyring{open: st.Auth.Mode == config.AuthOpen, keys: map[[sha256.Size]byte]*ringKey{}, tiers: map[string]config.Limits{}}
	for _, tier := range config.TierNames {
		r.tiers[tier] = st.TierLimits(tier)
	}
	for name, t := range st.Tenants {
		limits := st.TenantLimits(name, "")
		for _, k := range t.AllKeys() {
			if d, ok := decodeDigest(k.Digest()); ok {
				r.keys[d] = &ringKey{digest: d, tenant: name, id: k.ID, revoked: k.Revoked, limits: limits, profile: t.Profile}
			}
		}
	}
	r.admin, r.hasAdmin = st.Auth.AdminDigest()
	r.openCaller = ringKey{tenant: config.DefaultTenant, limits: st.TenantLimits(config.DefaultTenant, config.TierEnterprise), profile: tenantProfile(st, config.DefaultTenant)}
	return r
}

func decodeDigest(s string) (d [sha256.Size]byte, ok bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return d, false
	}
	return [sha256.Size]byte(b), true
}

// validTenant is what X-Tenant may name: a configured tenant's name, or a
// RapidAPI one ("rapidapi:<user>").
var validTenant = regexp.MustCompile(`^[A-Za-z0-9_.:@+-]{1,160}$`)

// noKey stands in for a missing key, so that a miss compares as long as a
// hit does.
var noKey = &ringKey{}

// find returns the configured key whose SHA-256 is d, or nil. It looks
// the key up by its digest: how long that takes depends on the digest of
// the caller's own guess, which says nothing about any stored key. The
// match is then confirmed with a constant-time comparison, done for a miss
// too. A lookup costs the same with 10 keys or 10,000 (BenchmarkKeyLookup).
func (r *keyring) find(d [sha256.Size]byte) *ringKey {
	k, ok := r.keys[d]
	if !ok {
		k = noKey
	}
	if subtle.ConstantTimeCompare(d[:], k.digest[:]) != 1 || !ok {
		return nil
	}
	return k
}

// presentedKey is the API key of a request: X-API-Key, else the token of
// Authorization: Bearer.
func presentedKey(c *gin.Context) string {
	if k := c.GetHeader("X-API-Key"); k != "" {
		return k
	}
	scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return ""
}

// isAdmin reports, in constant time, whether d is the admin key's digest.
func (r *keyring) isAdmin(d [sha256.Size]byte) bool {
	return r.hasAdmin && subtle.ConstantTimeCompare(d[:], r.admin[:]) == 1
}

// accountOf is the abuse counters' name for a key: the first 16 hex digits
// of its SHA-256.
func accountOf(d [sha256.Size]byte) string { return hex.EncodeToString(d[:8]) }

// authenticate finds the caller's tenant from its API key, or answers 401.
// A call RapidAPI forwarded (with the proxy secret) is its user's tenant;
// the admin key acts for the tenant named in X-Tenant (for operators and
// `reliapi jobs`); in open mode every other caller is the tenant "default".
func (s *Server) authenticate(c *gin.Context) {
	if who, ok, err := s.rapidAPICaller(c); ok {
		if err != nil {
			writeError(c, err, meta{RequestID: requestID(c)})
			return
		}
		s.setCaller(c, who)
		return
	}
	key := presentedKey(c)
	d := sha256.Sum256([]byte(key)) // the one hash of the key this request needs
	if key != "" && s.keys.isAdmin(d) {
		// An operator acts for the tenant it names, without its limits.
		name := c.GetHeader("X-Tenant")
		if !validTenant.MatchString(name) {
			s.unauthorized(c, "The admin key acts for a tenant: name it in X-Tenant")
			return
		}
		s.setCaller(c, &caller{tenant: name, keyID: "admin", account: accountOf(d),
			limits: s.keys.tiers[config.TierEnterprise], profile: tenantProfile(s.settings, name)})
		return
	}
	if s.keys.open {
		o := &s.keys.openCaller
		s.setCaller(c, &caller{tenant: o.tenant, account: accountOf(d), limits: o.limits, profile: o.profile})
		return
	}
	if key == "" {
		s.unauthorized(c, "Missing API key: send it in the X-API-Key header, or as Authorization: Bearer followed by the key")
		return
	}
	k := s.keys.find(d)
	switch {
	case k == nil:
		s.unauthorized(c, "Invalid API key")
		return
	case k.revoked:
		s.unauthorized(c, "This API key has been revoked")
		return
	}
	s.setCaller(c, &caller{tenant: k.tenant, keyID: k.id, account: accountOf(d), limits: k.limits, profile: k.profile})
}

func (s *Server) setCaller(c *gin.Context, who *caller) {
	c.Set(ctxCaller, who)
	c.Set(ctxTenant, who.tenant)
	c.Next()
}

// tenantProfile is a tenant's client profile: its configured one, else
// "default".
func tenantProfile(st *config.APISettings, name string) string {
	if t := st.Tenants[name]; t != nil {
		return t.Profile
	}
	return config.DefaultProfile
}

func (s *Server) unauthorized(c *gin.Context, msg string) {
	c.Writer.Header().Add("WWW-Authenticate", `Bearer realm="reliapi"`)
	writeError(c, reliapi.Errorf(reliapi.CodeUnauthorized, "%s", msg), meta{RequestID: requestID(c)})
}

// requireAdmin guards the admin routes: they need the admin key when one
// is configured. Without one they are open in open mode and refused
// otherwise, since any tenant could call them.
func (s *Server) requireAdmin(c *gin.Context) {
	s.adminOnly(c, false)
}

// requireAdminIfSet guards /metrics: it needs the admin key when one is
// configured and is open otherwise, for a scraper on a private network.
func (s *Server) requireAdminIfSet(c *gin.Context) {
	s.adminOnly(c, true)
}

func (s *Server) adminOnly(c *gin.Context, openWithoutKey bool) {
	key := presentedKey(c)
	if _, password, ok := c.Request.BasicAuth(); ok && key == "" {
		// A browser's way to send it (the queue UI).
		key = password
	}
	switch has := s.keys.hasAdmin; {
	case has && key == "":
		s.unauthorized(c, "This route needs the admin key: send it in the X-API-Key header, or as Authorization: Bearer followed by the key")
	case has && !s.keys.isAdmin(sha256.Sum256([]byte(key))):
		writeError(c, reliapi.Errorf(reliapi.CodeForbidden, "This route needs the admin key"), meta{RequestID: requestID(c)})
	case !has && !openWithoutKey && !s.keys.open:
		writeError(c, reliapi.Errorf(reliapi.CodeForbidden, "Admin routes are disabled: the server has no auth.admin_key"), meta{RequestID: requestID(c)})
	default:
		c.Next()
	}
}

// callerOf is the request's caller; authenticate sets it on every route
// that serves a tenant.
func callerOf(c *gin.Context) *caller {
	who, _ := c.Value(ctxCaller).(*caller)
	return who
}
