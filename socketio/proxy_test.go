package socketio_test

// Behind a load balancer (issue 8): with TrustedProxies, the client's
// address and scheme come from the proxy's headers, for the handshake and
// for admission; without it, those headers are the client's word and are
// ignored.

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"sio/internal/testutil"
	"sio/limits"
	"sio/loop"
	"sio/socketio"
)

func TestTrustedProxyGivesTheClientsAddressAndScheme(t *testing.T) {
	hdr := http.Header{"X-Forwarded-For": {"203.0.113.7, 127.0.0.1"}, "X-Forwarded-Proto": {"https"}}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		addr    string
		secure  bool
	}{
		{"not trusted: headers ignored", nil, "127.0.0.1", false},
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "203.0.113.7", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, socketio.Options{Listen: loop.Options{TrustedProxies: tc.trusted}})
			conns := connections(ts.srv.Sockets())
			c := ts.wsWith(t, "", hdr)
			c.connect(t, "/", "")
			s := testutil.Recv(t, conns)
			if h := s.Handshake(); h.Address != tc.addr || h.Secure != tc.secure {
				t.Fatalf("Address %q Secure %v, want %q %v", h.Address, h.Secure, tc.addr, tc.secure)
			}
		})
	}
}

func TestTrustedProxyConnectionsAreAdmittedPerClient(t *testing.T) {
	adm := &limits.Admission{MaxConnsPerIP: 1}
	ts := startServer(t, socketio.Options{Listen: loop.Options{
		Admission: adm, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}})
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	a := ts.wsWith(t, "", from("198.51.100.1"))
	a.connect(t, "/", "")
	b := ts.wsWith(t, "", from("198.51.100.2")) // another client through the same proxy
	b.connect(t, "/", "")
	if _, err := dialWS(ts.addr, "", from("198.51.100.1")); err == nil {
		t.Fatal("a second connection of 198.51.100.1 was admitted past MaxConnsPerIP 1")
	}
	a.close()
	testutil.CheckFor(t, testutil.IOTimeout, 10*time.Millisecond, func() error {
		c, err := dialWS(ts.addr, "", from("198.51.100.1"))
		if err == nil {
			c.close()
		}
		return err
	})
}
