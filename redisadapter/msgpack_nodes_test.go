package redisadapter_test

import (
	"context"
	"testing"

	"sio/internal/testutil"
	"sio/socketio"
)

// Two Go nodes whose clients use socket.io-msgpack-parser: what one node
// broadcasts reaches the other's clients (it arrives there as JSON and
// attachments, and is encoded by that node's parser), binary included, and
// a broadcast with acks collects the other node's answers.
func TestTwoNodesMsgpackClients(t *testing.T) {
	url := testutil.StartRedis(t).URL()
	cfg := nodeConfig{parser: socketio.MsgpackParser{}}
	na := startGoNode(t, "A", url, cfg)
	nb := startGoNode(t, "B", url, cfg)
	nc := testutil.StartNodeClients(t)
	for id, n := range map[string]*goNode{"a1": na, "b1": nb} {
		if _, err := nc.Connect(id, testutil.ClientOptions{URL: n.url, Parser: "msgpack", Auth: map[string]any{"rooms": []string{"red"}},
			AutoAck: map[string]any{"poll": map[string]any{"me": testutil.AckSocketID, "bin": testutil.NodeBin{4}}}}); err != nil {
			t.Fatal(err)
		}
	}
	_ = na.srv.To("red").Emit("all", 1.5, []byte{7}, map[string]any{"n": []any{nil, "x", []byte{8, 9}}})
	for _, id := range []string{"a1", "b1"} {
		expect(t, nc, id, "all", `[1.5,{"$bin":"07"},{"n":[null,"x",{"$bin":"0809"}]}]`)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	replies, err := na.srv.Timeout(wait).EmitWithAck(ctx, "poll")
	if err != nil || len(replies) != 2 {
		t.Fatalf("%d replies, %v", len(replies), err)
	}
	for _, r := range replies {
		var m struct {
			Me  string
			Bin []byte
		}
		if err := r.Decode(0, &m); err != nil || len(m.Me) != 20 || string(m.Bin) != "\x04" {
			t.Fatalf("reply %+v %v", m, err)
		}
	}
}
