package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// Guard keeps deliveries away from the networks a receiver URL must not
// reach: loopback, private, link-local (cloud metadata lives there),
// CGNAT, multicast and other special-purpose ranges. The address is
// checked when the connection is dialled, after DNS, so neither a name
// that resolves to a private address (DNS rebinding included) nor a
// redirect can get around it (deliveries do not follow redirects anyway).
type Guard struct {
	// AllowPrivate turns the guard off: for tests and `reliapi dev`,
	// whose receivers listen on loopback.
	AllowPrivate bool
}

// ErrForbiddenAddress is why a URL or a connection was refused.
var ErrForbiddenAddress = errors.New("webhook: the destination is a private, loopback, link-local or otherwise non-public address")

// forbidden are the ranges a delivery never goes to (IANA special-purpose
// registries), beyond what netip classifies as loopback, private (which
// holds fd00:ec2::254, AWS metadata over IPv6), link-local (which holds
// 169.254.169.254, cloud metadata), multicast and unspecified.
var forbidden = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use IPv4/IPv6 translation
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: embeds any IPv4 address
}

// Public reports whether ip is an address a delivery may go to.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return false
	}
	for _, p := range forbidden {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckURL validates a receiver URL at submit time: http or https, a
// host, no credentials, and, when the host is a literal address, a public
// one. A name is checked when it is dialled (see DialControl).
func (g Guard) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("webhook URL must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("webhook URL scheme must be http or https, not %q", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("webhook URL must not carry credentials")
	}
	if u.Hostname() == "" {
		return nil, errors.New("webhook URL has no host")
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !g.AllowPrivate && !Public(ip) {
		return nil, ErrForbiddenAddress
	}
	return u, nil
}

// DialControl is a net.Dialer Control function that refuses connections
// to non-public addresses, whatever name led to them.
func (g Guard) DialControl(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dialling %q: %w", address, ErrForbiddenAddress)
	}
	if !Public(ap.Addr()) {
		return ErrForbiddenAddress
	}
	return nil
}

// Dialer is a net.Dialer with the guard in place.
func (g Guard) Dialer() *net.Dialer {
	return &net.Dialer{Control: g.DialControl}
}
