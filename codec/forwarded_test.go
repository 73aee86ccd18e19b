package codec

import (
	"net/netip"
	"testing"
)

func TestForwardedClientWalksTheChainFromOurSide(t *testing.T) {
	ours := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	trusted := func(a netip.Addr) bool {
		for _, p := range ours {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	peer := netip.MustParseAddr("10.0.0.1")
	cases := []struct {
		name    string
		headers []Header
		client  string
		proto   string
	}{
		{"no header", nil, "10.0.0.1", ""},
		{"xff one", []Header{{[]byte("X-Forwarded-For"), []byte("203.0.113.7")}}, "203.0.113.7", ""},
		{"xff spoofed left part", []Header{{[]byte("x-forwarded-for"), []byte("1.2.3.4, 203.0.113.7, 10.0.0.9")}}, "203.0.113.7", ""},
		{"xff two fields", []Header{{[]byte("X-Forwarded-For"), []byte("198.51.100.1")}, {[]byte("X-Forwarded-For"), []byte("10.0.0.2")}}, "198.51.100.1", ""},
		{"xff with port", []Header{{[]byte("X-Forwarded-For"), []byte("203.0.113.7:5555")}}, "203.0.113.7", ""},
		{"xff ipv6", []Header{{[]byte("X-Forwarded-For"), []byte("2001:db8::5")}}, "2001:db8::5", ""},
		{"xff garbage stops at our hop", []Header{{[]byte("X-Forwarded-For"), []byte("evil, 10.0.0.3")}}, "10.0.0.3", ""},
		{"xff proto", []Header{{[]byte("X-Forwarded-For"), []byte("203.0.113.7")}, {[]byte("X-Forwarded-Proto"), []byte("HTTPS, http")}}, "203.0.113.7", "https"},
		{"forwarded", []Header{{[]byte("Forwarded"), []byte(`for=192.0.2.60;proto=https;by=10.0.0.1`)}}, "192.0.2.60", "https"},
		{"forwarded ipv6 port quoted", []Header{{[]byte("Forwarded"), []byte(`for="[2001:db8:cafe::17]:4711";proto=http`)}}, "2001:db8:cafe::17", "http"},
		{"forwarded chain", []Header{{[]byte("Forwarded"), []byte(`for=1.1.1.1, for=192.0.2.9;proto=https, for=10.0.0.5`)}}, "192.0.2.9", "https"},
		{"forwarded unknown", []Header{{[]byte("Forwarded"), []byte(`for=unknown, for=10.0.0.5`)}}, "10.0.0.5", ""},
		{"forwarded wins over xff", []Header{{[]byte("X-Forwarded-For"), []byte("5.5.5.5")}, {[]byte("Forwarded"), []byte(`for=192.0.2.1`)}}, "192.0.2.1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Headers: tc.headers}
			client, proto := ForwardedClient(r, peer, trusted)
			if client.String() != tc.client || proto != tc.proto {
				t.Fatalf("got %v %q, want %s %q", client, proto, tc.client, tc.proto)
			}
		})
	}
	// An untrusted peer's headers are not walked at all.
	r := &Request{Headers: []Header{{[]byte("X-Forwarded-For"), []byte("203.0.113.7")}}}
	if c, _ := ForwardedClient(r, netip.MustParseAddr("192.0.2.200"), trusted); c.String() != "192.0.2.200" {
		t.Fatalf("untrusted peer: %v", c)
	}
}
