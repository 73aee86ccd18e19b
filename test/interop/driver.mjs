// driver.mjs drives any number of real npm socket.io-client sockets (pinned in
// package-lock.json) on behalf of a Go test: it reads JSON commands, one per
// line, on stdin, and writes JSON lines on stdout. internal/testutil's
// NodeClients is the Go side. By hand:
//
//	echo '{"op":"connect","id":"a","url":"http://127.0.0.1:3000","auth":{"token":"…"}}' | node driver.mjs
//
// Commands:
//
//	{"op":"connect","id":…,"url":…,"path":"/socket.io/","auth":{…}|null,"extraHeaders":{…}|null,
//	 "transports":["websocket"],"reconnection":false,"query":{…}|null}
//	    → {"id":…,"ev":"connect","sid":…} or {"id":…,"ev":"connect_error","message":…,"data":…}
//	{"op":"emit","id":…,"seq":n,"event":…,"args":[…],"timeoutMs":5000}
//	    → {"id":…,"ev":"ack","seq":n,"args":[…]} or {"id":…,"ev":"ack_timeout","seq":n}
//	{"op":"emit","id":…,"event":…,"args":[…],"noAck":true}
//	{"op":"disconnect","id":…}          → the socket's "disconnect" event below
//	{"op":"close_engine","id":…}        a simulated network drop
//	{"op":"exit"}
//
// Printed for every socket: {"id":…,"ev":"recv","name":…,"args":[…]} for each
// event it receives, {"id":…,"ev":"disconnect","reason":…}, and
// {"ev":"error","message":…} for harness errors. It exits when stdin closes.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const sockets = new Map();

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function connect(cmd) {
  const id = cmd.id;
  const old = sockets.get(id);
  if (old) old.disconnect();
  const s = io(cmd.url, {
    path: cmd.path || "/socket.io/",
    auth: cmd.auth ?? undefined,
    extraHeaders: cmd.extraHeaders ?? undefined,
    transports: cmd.transports || ["websocket"],
    reconnection: !!cmd.reconnection,
    query: cmd.query ?? undefined,
    forceNew: true,
    timeout: 10000,
  });
  sockets.set(id, s);
  s.on("connect", () => out({ id, ev: "connect", sid: s.id }));
  s.on("connect_error", (err) => out({ id, ev: "connect_error", message: err.message, data: err.data ?? null }));
  s.on("disconnect", (reason, desc) => out({ id, ev: "disconnect", reason }));
  s.onAny((name, ...args) => out({ id, ev: "recv", name, args }));
}

function emit(cmd) {
  const s = sockets.get(cmd.id);
  if (!s) return out({ ev: "error", message: `no socket ${cmd.id}` });
  const args = cmd.args || [];
  if (cmd.noAck) {
    s.emit(cmd.event, ...args);
    return;
  }
  s.timeout(cmd.timeoutMs || 5000).emit(cmd.event, ...args, (err, ...ackArgs) => {
    if (err) out({ id: cmd.id, ev: "ack_timeout", seq: cmd.seq });
    else out({ id: cmd.id, ev: "ack", seq: cmd.seq, args: ackArgs });
  });
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    return out({ ev: "error", message: `bad JSON: ${line}` });
  }
  try {
    switch (cmd.op) {
      case "connect":
        return connect(cmd);
      case "emit":
        return emit(cmd);
      case "disconnect":
        return sockets.get(cmd.id)?.disconnect();
      case "close_engine":
        return sockets.get(cmd.id)?.io.engine.close();
      case "exit":
        for (const s of sockets.values()) s.disconnect();
        return setTimeout(() => process.exit(0), 50);
      default:
        out({ ev: "error", message: `unknown op ${cmd.op}` });
    }
  } catch (e) {
    out({ ev: "error", message: String(e && e.stack || e) });
  }
});
rl.on("close", () => {
  for (const s of sockets.values()) s.disconnect();
  setTimeout(() => process.exit(0), 50);
});
