package tasktypes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrAddressDenied is wrapped by every error of a connection the network
// policy refused. A task that hits it fails without retry.
var ErrAddressDenied = errors.New("address denied by the network policy")

// deniedByDefault are the ranges no task may reach unless the operator
// allows them: this host, private networks, link-local (which holds cloud
// metadata services at 169.254.169.254), and every other special-purpose
// block of RFC 6890 that is not the public internet. NAT64 and 6to4
// prefixes are here because they embed an IPv4 address that may be private.
var deniedByDefault = mustPrefixes(
	"0.0.0.0/8",       // "this network", includes the unspecified address
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, includes broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"64:ff9b::/96",    // NAT64
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard
	"2001::/23",       // IETF protocol assignments
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4
	"fc00::/7",        // unique local (private)
	"fe80::/10",       // link-local
	"ff00::/8",        // multicast
)

var loopbackRanges = mustPrefixes("127.0.0.0/8", "::1/128")

func mustPrefixes(list ...string) []netip.Prefix {
	p, err := parsePrefixes(list)
	if err != nil {
		panic(err)
	}
	return p
}

// netPolicy decides which hosts and addresses the network types may reach.
// Host names are checked before resolution; addresses are checked on the
// socket about to connect, after resolution, so a name that resolves (or
// is rebound, or redirected) to a denied address is refused all the same.
type netPolicy struct {
	allowHosts, denyHosts []string
	allow, deny           []netip.Prefix
}

func newNetPolicy(cfg Config) (*netPolicy, error) {
	allow, err := parsePrefixes(cfg.HTTPAllowCIDRs)
	if err != nil {
		return nil, err
	}
	deny, err := parsePrefixes(cfg.HTTPDenyCIDRs)
	if err != nil {
		return nil, err
	}
	if cfg.UnsafeHTTPAllowLoopback {
		allow = append(allow, loopbackRanges...)
	}
	p := &netPolicy{allow: allow, deny: deny}
	for _, h := range cfg.HTTPAllowHosts {
		p.allowHosts = append(p.allowHosts, strings.ToLower(strings.TrimSpace(h)))
	}
	for _, h := range cfg.HTTPDenyHosts {
		p.denyHosts = append(p.denyHosts, strings.ToLower(strings.TrimSpace(h)))
	}
	return p, nil
}

// checkHostPattern accepts "example.com" and "*.example.com".
func checkHostPattern(h string) error {
	h = strings.TrimSpace(h)
	name := strings.TrimPrefix(h, "*.")
	if name == "" || strings.ContainsAny(name, "*/:@ ") {
		return fmt.Errorf("%q: want a host name such as example.com or *.example.com", h)
	}
	return nil
}

func hostMatches(pattern, host string) bool {
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+rest)
	}
	return host == pattern
}

// checkHost refuses a host name the lists deny. trusted hosts (the
// configured API base URLs) skip the allow list but not the deny list.
func (p *netPolicy) checkHost(host string, trusted bool) error {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range p.denyHosts {
		if hostMatches(d, host) {
			return fmt.Errorf("host %s: %w (it is in the deny list, serve --http-deny-hosts)", host, ErrAddressDenied)
		}
	}
	if trusted || len(p.allowHosts) == 0 {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		// An address literal is judged by checkAddr; the host allow list
		// names hosts, so a bare address never matches it.
		return fmt.Errorf("host %s: %w (only the hosts of serve --http-allow-hosts may be reached, and no bare address)", host, ErrAddressDenied)
	}
	for _, a := range p.allowHosts {
		if hostMatches(a, host) {
			return nil
		}
	}
	return fmt.Errorf("host %s: %w (only the hosts of serve --http-allow-hosts may be reached; add it there, or TASKMILL_HTTP_ALLOW_HOSTS)", host, ErrAddressDenied)
}

// checkAddr refuses an address in a denied range, unless an allowed range
// holds it. The deny list the operator gives wins over everything.
func (p *netPolicy) checkAddr(a netip.Addr) error {
	a = a.Unmap().WithZone("")
	for _, d := range p.deny {
		if d.Contains(a) {
			return fmt.Errorf("address %s: %w (it is in the deny list, serve --http-deny-cidrs)", a, ErrAddressDenied)
		}
	}
	for _, al := range p.allow {
		if al.Contains(a) {
			return nil
		}
	}
	for _, d := range deniedByDefault {
		if d.Contains(a) {
			return fmt.Errorf("address %s: %w (%s is not public; to let tasks reach it, start serve or worker with --http-allow-cidrs %s, or TASKMILL_HTTP_ALLOW_CIDRS)", a, ErrAddressDenied, d, a)
		}
	}
	return nil
}

// dialControl runs on each socket after the name is resolved and before
// it connects: the one place every connection passes, whatever the name,
// the redirect or the DNS answer.
func (p *netPolicy) dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s %s: %w (not an IP address)", network, address, ErrAddressDenied)
	}
	return p.checkAddr(ap.Addr())
}

// dialer returns a DialContext that checks the host name against the
// lists, then dials with the address check on the socket. trusted says
// whether the host allow list is skipped (for the configured API hosts).
func (p *netPolicy) dialer(timeout time.Duration, trusted bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.dialControl}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if err := p.checkHost(host, trusted); err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, addr)
	}
}
