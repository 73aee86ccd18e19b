package testutil

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

func TestWSUpgradeRequest(t *testing.T) {
	got := WSUpgradeRequest("/socket.io/?EIO=4&transport=websocket", "Origin: http://a.example")
	want := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Origin: http://a.example\r\n\r\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestReadFrameAndCloseCode(t *testing.T) {
	var buf bytes.Buffer
	// A masked client frame is unmasked; an unmasked server frame read as is.
	masked := ws.MaskFrame(ws.NewTextFrame([]byte("hello")))
	if err := ws.WriteFrame(&buf, masked); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteFrame(&buf, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "bye"))); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteFrame(&buf, ws.NewCloseFrame(nil)); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteFrame(&buf, ws.NewBinaryFrame(make([]byte, 200))); err != nil {
		t.Fatal(err)
	}
	h, p, err := ReadFrame(&buf, 1<<20)
	if err != nil || h.OpCode != ws.OpText || !h.Masked || string(p) != "hello" {
		t.Fatalf("masked text frame: %+v %q %v", h, p, err)
	}
	h, p, err = ReadFrame(&buf, 1<<20)
	if err != nil || h.OpCode != ws.OpClose || CloseCode(p) != ws.StatusGoingAway {
		t.Fatalf("close frame: %+v %q %v (code %d)", h, p, err, CloseCode(p))
	}
	h, p, err = ReadFrame(&buf, 1<<20)
	if err != nil || h.OpCode != ws.OpClose || CloseCode(p) != ws.StatusNoStatusRcvd {
		t.Fatalf("empty close frame: %+v %q %v (code %d)", h, p, err, CloseCode(p))
	}
	before := buf.Len()
	if _, _, err = ReadFrame(&buf, 100); err == nil {
		t.Fatal("a 200-byte frame was read with a cap of 100")
	}
	if read := before - buf.Len(); read != 4 {
		t.Fatalf("%d bytes read of a frame over the cap, want only its 4-byte header", read)
	}
}
