package engine_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"sio/engine"
	"sio/internal/testutil"
	"sio/loop"
)

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestStatsCountWireBytes: Stats().Conn.BytesIn and BytesOut count what
// crossed the wire, to the byte (the admin UI charts them as bytes received
// and sent): a handshake request and its response, then a polling request
// carrying a message and its "ok".
func TestStatsCountWireBytes(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	before := ts.srv.Stats().Conn
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	cr := &countingReader{r: conn}
	br := bufio.NewReader(cr)
	sent := 0
	roundTrip := func(req string) string {
		t.Helper()
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		sent += len(req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
	body := roundTrip("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	var hs struct{ SID string }
	if len(body) < 2 || json.Unmarshal([]byte(body[1:]), &hs) != nil || hs.SID == "" {
		t.Fatalf("handshake %q", body)
	}
	sid := hs.SID
	msg := "4hello, bytes"
	if ok := roundTrip(fmt.Sprintf("POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s", sid, len(msg), msg)); ok != "ok" {
		t.Fatalf("POST answered %q", ok)
	}
	testutil.CheckFor(t, 2*time.Second, 10*time.Millisecond, func() error {
		st := ts.srv.Stats().Conn
		if in, out := st.BytesIn-before.BytesIn, st.BytesOut-before.BytesOut; in != int64(sent) || out != int64(cr.n) {
			return fmt.Errorf("BytesIn +%d, BytesOut +%d; the client sent %d and received %d", in, out, sent, cr.n)
		}
		return nil
	})
}
