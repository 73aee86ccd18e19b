package main

import (
	"testing"

	"sio/socketio"
)

func TestParserFlag(t *testing.T) {
	if p, err := parserOf("json"); p != nil || err != nil {
		t.Fatalf("json: %v %v", p, err)
	}
	if p, err := parserOf("msgpack"); err != nil || p != (socketio.MsgpackParser{}) {
		t.Fatalf("msgpack: %v %v", p, err)
	}
	if _, err := parserOf("protobuf"); err == nil {
		t.Fatal("unknown parser accepted")
	}
}
