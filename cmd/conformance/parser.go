package main

import (
	"flag"
	"fmt"
	"os"

	"sio/socketio"
)

// -parser picks the Socket.IO packet format of -mode sio, so that the same
// conformance app can be driven by clients using socket.io-msgpack-parser.
var parserName = flag.String("parser", "json", "sio: the clients' packet format: json (socket.io-parser) or msgpack (socket.io-msgpack-parser)")

// parserOf returns the socketio.Parser named by -parser (nil: the default).
func parserOf(name string) (socketio.Parser, error) {
	switch name {
	case "", "json":
		return nil, nil
	case "msgpack":
		return socketio.MsgpackParser{}, nil
	}
	return nil, fmt.Errorf("unknown parser %q (json, msgpack)", name)
}

// sioParser is parserOf(-parser), exiting on an unknown name.
func sioParser() socketio.Parser {
	p, err := parserOf(*parserName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "-parser:", err)
		os.Exit(2)
	}
	return p
}
