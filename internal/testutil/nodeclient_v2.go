package testutil

import "testing"

// StartNodeClientsV2 is StartNodeClients for socket.io-client 2.5.0
// (Engine.IO v3, Socket.IO protocol v4; npm socket.io-client-v2), through
// test/interop/driver-v2.mjs: the same commands and events, with the
// differences that file's header lists (no auth: Query is the namespace's
// auth; a middleware refusal arrives as a *ConnectError all the same). The
// server must allow EIO3 (engine.Config.AllowEIO3).
func StartNodeClientsV2(t testing.TB) *NodeClients {
	t.Helper()
	return startNodeDriver(t, "driver-v2.mjs", "socket.io-client-v2")
}

// StopPings makes client id (a socket.io-client 2.x one, StartNodeClientsV2)
// stop sending Engine.IO v3 pings, and stop timing the server out: the
// server must close it once pingInterval+pingTimeout pass.
func (n *NodeClients) StopPings(id string) {
	n.command(map[string]any{"op": "stop_pings", "id": id})
}
