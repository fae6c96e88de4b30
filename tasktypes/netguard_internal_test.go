package tasktypes

import (
	"errors"
	"net/netip"
	"testing"
)

func TestNetPolicyAddresses(t *testing.T) {
	def, err := newNetPolicy(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false}, {"::ffff:127.0.0.1", false},
		{"10.0.0.1", false}, {"172.16.5.4", false}, {"192.168.1.1", false}, {"fd12::1", false},
		{"169.254.169.254", false}, {"fe80::1%eth0", false}, {"0.0.0.0", false}, {"::", false},
		{"100.64.0.1", false}, {"224.0.0.1", false}, {"255.255.255.255", false}, {"64:ff9b::a00:1", false},
		{"2002:a00:1::", false}, {"198.18.0.1", false},
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"93.184.215.14", true}, {"2606:4700:4700::1111", true},
		{"172.32.0.1", true}, {"::ffff:8.8.8.8", true},
	} {
		err := def.checkAddr(netip.MustParseAddr(c.addr))
		if (err == nil) != c.allowed {
			t.Errorf("%s: err = %v, want allowed %v", c.addr, err, c.allowed)
		}
		if err != nil && !errors.Is(err, ErrAddressDenied) {
			t.Errorf("%s: %v does not wrap ErrAddressDenied", c.addr, err)
		}
	}

	p, err := newNetPolicy(Config{HTTPAllowCIDRs: []string{"10.1.2.3", "fd00::/64"}, HTTPDenyCIDRs: []string{"8.8.8.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	for addr, allowed := range map[string]bool{"10.1.2.3": true, "10.1.2.4": false, "fd00::5": true, "8.8.8.8": false, "8.8.4.4": true, "127.0.0.1": false} {
		if err := p.checkAddr(netip.MustParseAddr(addr)); (err == nil) != allowed {
			t.Errorf("with lists, %s: err = %v, want allowed %v", addr, err, allowed)
		}
	}
	loop, _ := newNetPolicy(Config{UnsafeHTTPAllowLoopback: true})
	if loop.checkAddr(netip.MustParseAddr("127.0.0.1")) != nil || loop.checkAddr(netip.MustParseAddr("10.0.0.1")) == nil {
		t.Error("UnsafeHTTPAllowLoopback should allow loopback and nothing more")
	}
	if _, err := newNetPolicy(Config{HTTPAllowCIDRs: []string{"10.0.0.0/33"}}); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}

func TestNetPolicyHosts(t *testing.T) {
	p, err := newNetPolicy(Config{HTTPAllowHosts: []string{"api.example.com", "*.example.org"}, HTTPDenyHosts: []string{"bad.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	for host, allowed := range map[string]bool{
		"api.example.com": true, "API.Example.com.": true, "www.example.com": false, "x.example.org": true,
		"a.b.example.org": true, "example.org": false, "bad.example.org": false, "8.8.8.8": false,
	} {
		if err := p.checkHost(host, false); (err == nil) != allowed {
			t.Errorf("%s: err = %v, want allowed %v", host, err, allowed)
		}
	}
	// Configured API hosts skip the allow list, not the deny list.
	if p.checkHost("api.open-meteo.com", true) != nil || p.checkHost("bad.example.org", true) == nil {
		t.Error("trusted hosts: allow list not skipped, or deny list skipped")
	}
}
