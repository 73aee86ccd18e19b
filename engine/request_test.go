package engine_test

// Request parsing as Node answers it (issue 8): repeated query parameters.

import (
	"testing"

	"sio/codec"
	"sio/engine"
	"sio/loop"
)

// TestRepeatedQueryParametersAreAnsweredAsNodeDoes: Node's query parser
// makes an array of a repeated key, which is no transport, no protocol
// version and no session id.
func TestRepeatedQueryParametersAreAnsweredAsNodeDoes(t *testing.T) {
	ts := startServer(t, engine.Config{}, loop.Options{}, nil)
	hs := ts.handshake(t)
	cases := []struct {
		query   string
		code    int
		message string
	}{
		{"transport=polling&transport=websocket", codec.ErrCodeUnknownTransport, "Transport unknown"},
		{"transport=polling&transport=polling", codec.ErrCodeUnknownTransport, "Transport unknown"},
		{"transport=polling&EIO=4", codec.ErrCodeUnsupportedProtocol, "Unsupported protocol version"},
		{"transport=polling&sid=" + hs.SID + "&sid=" + hs.SID, codec.ErrCodeUnknownSID, "Session ID unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			c := ts.dial(t)
			defer c.close()
			expectError(t, c.do(t, get(ts.path(tc.query))), 400, tc.code, tc.message)
		})
	}
	// The session named twice is untouched.
	ts.mustSend(t, hs.SID, "4still here")
	expectPollBody(t, ts.poll(t, hs.SID), "4still here")
}
