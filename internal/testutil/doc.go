// Package testutil holds the test helpers that the black-box tests of engine
// and socketio share, so that the two packages' harnesses do not drift apart
// as near-copies.
//
// It is ordinary (non-test) code so that both test packages can import it,
// and it imports neither sio/engine nor sio/socketio (nor sio/loop): the
// servers under test are reached through small interfaces and closures
// (Server, Probe), so that internal tests of any layer may use it too without
// an import cycle. Nothing outside _test.go files should import it.
//
// What is here:
//
//   - waiting: CheckFor (poll until a condition holds), WaitGoroutines,
//     Recv and RecvNone (channels with a timeout), IOTimeout;
//   - a server under test: Serve and Serving.Shutdown (start, wait until
//     ready, close and wait for Serve to return), LogWriter (server logs to
//     t.Log), and Probe (warm-up and leak checks on sessions, connections,
//     goroutines and file descriptors);
//   - process resources: Snapshot, OpenFDs, RaceEnabled, heap and RSS
//     readings (HeapInUse, HeapLive, TotalAlloc, VMRSS, SettledRSS,
//     ReadRSS), MiB, and SourceDialer for many short-lived connections;
//   - WebSocket pieces both layers' raw clients use: WSKey, WSAccept,
//     WSUpgradeRequest, ReadFrame and CloseCode;
//   - RequireDependency: a test that needs a real client (node, npm
//     packages, python modules) skips without it, but fails under CI=true.
//   - NodeClients (StartNodeClients): many real npm socket.io-client
//     sockets driven interactively from Go through one
//     test/interop/driver.mjs process (connect, emit with acks, received
//     events per client and name, disconnects, reconnections), for
//     end-to-end tests of an application on this server;
//   - Browser: headless Chromium under chromedp, for tests that drive a real
//     page (the admin UI, the served client bundle).
//
// Helpers specific to one layer (the engine's raw HTTP and hand-built
// frames, the socketio packet assembler and clients) stay in that package's
// helpers_test.go.
package testutil
