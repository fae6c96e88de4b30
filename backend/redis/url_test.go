package redis

import (
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		kind    string // "client", "failover", "cluster"
		prefix  string
		wait    int
		wantErr string
	}{
		{url: "redis://127.0.0.1:6379/2", kind: "client", prefix: ""},
		{url: "redis://:secret@h:6379/0?prefix=app1&wait_replicas=2", kind: "client", prefix: "app1", wait: 2},
		{url: "rediss://user:pw@h:6380/0?tls_insecure=true", kind: "client"},
		{url: "redis-sentinel://:pw@s1:26379,s2/0?master=mymaster&sentinel_password=x", kind: "failover"},
		{url: "rediss-sentinel://s1:26379?master=m", kind: "failover"},
		{url: "redis-cluster://n1:7000,n2:7001,n3", kind: "cluster"},
		{url: "rediss-cluster://u:p@n1:7000?prefix=x", kind: "cluster", prefix: "x"},
		{url: "redis-sentinel://s1:26379/0", wantErr: "master"},
		{url: "redis-cluster://n1:7000/3", wantErr: "database 0"},
		{url: "redis-cluster://n1:7000?bogus=1", wantErr: "unknown parameters"},
		{url: "redis://h:6379/x", wantErr: "not a number"},
		{url: "redis://h:6379/0?wait_replicas=-1", wantErr: "wait_replicas"},
		{url: "redis://h:6379/0?tls_ca=/x.pem", wantErr: "rediss"},
		{url: "memcached://h", wantErr: "unknown scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			c, o, err := ParseURL(tc.url, Options{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if o.Prefix != tc.prefix || o.WaitReplicas != tc.wait {
				t.Fatalf("options = %+v, want prefix %q wait %d", o, tc.prefix, tc.wait)
			}
			switch cl := c.(type) {
			case *goredis.ClusterClient:
				if tc.kind != "cluster" {
					t.Fatalf("got a cluster client, want %s", tc.kind)
				}
				if want := strings.HasPrefix(tc.url, "rediss"); (cl.Options().TLSConfig != nil) != want {
					t.Fatalf("TLS = %v, want %v", cl.Options().TLSConfig != nil, want)
				}
				if n := len(cl.Options().Addrs); n != strings.Count(tc.url, ",")+1 {
					t.Fatalf("cluster seeds = %v", cl.Options().Addrs)
				}
			case *goredis.Client:
				// NewFailoverClient returns a *Client too; its options
				// name no server but "FailoverClient".
				opt := cl.Options()
				if failover := opt.Addr == "FailoverClient"; failover != (tc.kind == "failover") {
					t.Fatalf("got a client for %q (failover %v), want %s", opt.Addr, failover, tc.kind)
				}
				if want := strings.HasPrefix(tc.url, "rediss"); (opt.TLSConfig != nil) != want {
					t.Fatalf("TLS = %v, want %v", opt.TLSConfig != nil, want)
				}
				if strings.Contains(tc.url, ":pw@") || strings.Contains(tc.url, ":secret@") {
					if opt.Password == "" {
						t.Fatalf("password not carried over")
					}
				}
			default:
				t.Fatalf("unexpected client %T", c)
			}
		})
	}
}

// TestParseURLErrorsHideThePassword: net/url quotes the whole URL it
// cannot parse, password included; ParseURL's errors do not.
func TestParseURLErrorsHideThePassword(t *testing.T) {
	for _, raw := range []string{
		"redis://:sup3r%zzsecret@h:6379/0",
		"redis://user:sup3r%zzsecret@h:6379/0?prefix=x",
		"rediss://:sup3r%zzsecret@h:6380/0",
		"redis-sentinel://:sup3r%zzsecret@s1:26379,s2/0?master=m",
		"redis-cluster://:sup3r%zzsecret@n1:7000,n2:7001",
		"redis://:sup3rsecret@h:6379/%zz",
		"redis://:sup3rsecret@h:port/0",
	} {
		c, _, err := ParseURL(raw, Options{})
		if err == nil {
			c.Close()
			t.Fatalf("ParseURL(%q) succeeded", raw)
		}
		if msg := err.Error(); strings.Contains(msg, "sup3r") || strings.Contains(msg, "secret") {
			t.Errorf("ParseURL(%q): the error shows the password: %v", raw, err)
		}
	}
}

func TestCRC16MatchesRedisCluster(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, slot := range map[string]uint16{"123456789": 0x31C3 % 16384, "foo": 12182} {
		if got := crc16(key) % 16384; got != slot {
			t.Errorf("slot(%q) = %d, want %d", key, got, slot)
		}
	}
}
