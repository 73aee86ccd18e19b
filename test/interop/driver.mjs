// driver.mjs drives any number of real npm socket.io-client sockets (pinned in
// package-lock.json) on command: it reads one JSON command per line on stdin
// and writes one JSON object per line on stdout, for every reply and every
// event any of its clients observes. internal/testutil/nodeclient.go
// (NodeClients) runs it for end-to-end tests written in Go; it can also be
// run by hand:
//
//	node driver.mjs
//	{"op":"connect","id":"a","url":"http://127.0.0.1:3000"}
//	{"op":"emit","id":"a","seq":1,"event":"ping","args":[1]}
//
// Each client is named by its "id" and has a Manager of its own
// (io(url, {forceNew: true, ...})); the namespace is the URL's path, as in
// io(). Commands (unknown fields are ignored):
//
//	{"op":"connect","id":…,"url":…,"path":"/socket.io/","auth":{…}|null,
//	 "extraHeaders":{…}|null,"transports":[…],"reconnection":false,
//	 "reconnectionDelay":ms,"query":{…}|null,"autoAck":{…}|null,"seq":n,
//	 "parser":"msgpack"}
//	    Creates and connects client id. Defaults: path "/socket.io/",
//	    transports ["websocket"] (or ["polling"], or ["polling","websocket"]
//	    to upgrade), reconnection false; reconnectionDelay (optional) sets
//	    reconnectionDelay and reconnectionDelayMax, with no randomization.
//	    An id whose socket is still connected is refused (an error); one
//	    whose socket is disconnected is replaced by the new one. seq
//	    (optional) is echoed on the first connect or connect_error of the
//	    new socket, so that the caller can tell its answer from the connect
//	    of an automatic reconnection. autoAck (optional) maps event names
//	    to answers: when the client receives such an event with an ack
//	    callback (the server asked for one), the driver calls it at once
//	    with the answer, in which every {"$sid":true} is replaced by the
//	    socket's current id (and {"$bin":hex} by a Buffer). For example
//	    {"q":{"$sid":true}} answers every "q" with the client's own id.
//	    The event is printed as usual. parser "msgpack" (optional) makes
//	    the client use socket.io-msgpack-parser (the server must too).
//	{"op":"emit","id":…,"seq":n,"event":…,"args":[…],"timeoutMs":5000}
//	    socket.timeout(timeoutMs).emit(event, ...args, cb): prints "ack" or
//	    "ack_timeout" with seq. timeoutMs defaults to 10000. With
//	    "noAck":true the event is emitted without a callback and nothing is
//	    printed. As with any socket.io-client, an emit on a socket that is
//	    not connected is buffered until it connects.
//	{"op":"disconnect","id":…}     socket.disconnect() (prints "disconnect"
//	                               with "io client disconnect" if it was connected)
//	{"op":"close_engine","id":…}   socket.io.engine.close(): a simulated network drop
//	{"op":"exit"}                  disconnects every client and exits 0
//
// Closing stdin does what "exit" does.
//
// Lines printed:
//
//	{"id":…,"ev":"connect","sid":…,"recovered":bool,"transport":…,"seq":n}
//	    seq only on the answer to a connect command; a connect without seq
//	    is an automatic reconnection.
//	{"id":…,"ev":"connect_error","message":…,"data":<err.data or null>,"type":…,"seq":n}
//	    data is what a middleware refusal carried; transport failures have
//	    data null and a type such as "TransportError".
//	{"id":…,"ev":"recv","name":…,"args":[…]}          every event received (socket.onAny)
//	{"id":…,"ev":"ack","seq":n,"args":[…]}             the ack's arguments
//	{"id":…,"ev":"ack_timeout","seq":n,"message":…}   "operation has timed out", or
//	                                                   "socket has been disconnected"
//	{"id":…,"ev":"disconnect","reason":…,"description":…}
//	{"id":…,"ev":"error","message":…,"seq":n}          a harness error (unknown id or op,
//	                                                   bad JSON, …); id and seq when known
//
// Binary values: a Buffer/ArrayBuffer received anywhere in args, data or an
// ack is printed as {"$bin":"<hex>"}, and an object of exactly that shape in
// the args of an emit is sent as a Buffer. A function (an ack callback asked
// by the server) is printed as {"$fn":true}: the driver never answers server
// acks unless autoAck names the event. undefined is printed as null.
//
// Every line is written with a single write, so lines never interleave.
import { createInterface } from "node:readline";
import { createRequire } from "node:module";
import { io } from "socket.io-client";

const msgpackParser = createRequire(import.meta.url)("socket.io-msgpack-parser");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// plain turns received values into JSON (see the header).
function plain(v) {
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("hex") };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  if (typeof v === "function") return { $fn: true };
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Error) {
    const o = { message: v.message };
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  if (v !== null && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  return v;
}

// binary turns {"$bin": hex} objects in emitted args into Buffers.
function binary(v) {
  if (Array.isArray(v)) return v.map(binary);
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === "$bin" && typeof v.$bin === "string") return Buffer.from(v.$bin, "hex");
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = binary(x);
    return o;
  }
  return v;
}

const clients = new Map(); // id -> socket

function harnessError(message, cmd) {
  const e = { ev: "error", message };
  if (cmd && typeof cmd.id === "string") e.id = cmd.id;
  if (cmd && Number.isInteger(cmd.seq)) e.seq = cmd.seq;
  out(e);
}

function socketOf(cmd) {
  if (typeof cmd.id !== "string" || cmd.id === "") {
    harnessError(`${cmd.op}: no id`, cmd);
    return null;
  }
  const s = clients.get(cmd.id);
  if (!s) harnessError(`${cmd.op}: unknown client ${JSON.stringify(cmd.id)}`, cmd);
  return s;
}

// withSid replaces every {"$sid":true} in an autoAck answer by socket s's id.
function withSid(v, s) {
  if (Array.isArray(v)) return v.map((x) => withSid(x, s));
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === "$sid" && v.$sid === true) return s.id;
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = withSid(x, s);
    return o;
  }
  return v;
}

function connect(cmd) {
  const id = cmd.id;
  if (typeof id !== "string" || id === "") return harnessError("connect: no id", cmd);
  if (typeof cmd.url !== "string") return harnessError("connect: no url", cmd);
  const autoAck = cmd.autoAck ?? null;
  if (autoAck !== null && (typeof autoAck !== "object" || Array.isArray(autoAck)))
    return harnessError("connect: autoAck must be an object of event names", cmd);
  const old = clients.get(id);
  if (old) {
    if (old.connected) return harnessError(`connect: client ${JSON.stringify(id)} is connected; disconnect it first`, cmd);
    // Replaced: it must neither print nor reconnect any more.
    old.offAny();
    old.off();
    old.disconnect();
  }
  const opts = {
    forceNew: true,
    path: cmd.path ?? "/socket.io/",
    transports: cmd.transports ?? ["websocket"],
    reconnection: cmd.reconnection ?? false,
  };
  if (cmd.auth != null) opts.auth = cmd.auth;
  if (cmd.extraHeaders != null) opts.extraHeaders = cmd.extraHeaders;
  if (cmd.query != null) opts.query = cmd.query;
  if (cmd.parser === "msgpack") opts.parser = msgpackParser;
  else if (cmd.parser != null) return harnessError(`connect: unknown parser ${JSON.stringify(cmd.parser)}`, cmd);
  if (Number.isFinite(cmd.reconnectionDelay)) {
    opts.reconnectionDelay = cmd.reconnectionDelay;
    opts.reconnectionDelayMax = cmd.reconnectionDelay;
    opts.randomizationFactor = 0;
  }
  let s;
  try {
    s = io(cmd.url, opts);
  } catch (err) {
    return harnessError(`connect: ${err && err.message ? err.message : err}`, cmd);
  }
  clients.set(id, s);
  // seq goes on the first connect or connect_error only: later ones come
  // from the Manager's reconnections.
  let seq = Number.isInteger(cmd.seq) ? cmd.seq : undefined;
  const takeSeq = () => {
    const v = seq;
    seq = undefined;
    return v;
  };
  s.on("connect", () => {
    const eng = s.io.engine;
    out({
      id,
      ev: "connect",
      sid: s.id,
      recovered: !!s.recovered,
      transport: eng && eng.transport ? eng.transport.name : null,
      seq: takeSeq(),
    });
  });
  s.on("connect_error", (err) => {
    out({
      id,
      ev: "connect_error",
      message: err && err.message !== undefined ? String(err.message) : String(err),
      data: plain(err ? err.data : undefined),
      type: err && err.type ? String(err.type) : undefined,
      seq: takeSeq(),
    });
  });
  s.on("disconnect", (reason, description) => {
    out({ id, ev: "disconnect", reason, description: plain(description) });
  });
  s.onAny((name, ...args) => {
    out({ id, ev: "recv", name, args: plain(args) });
    const ack = args[args.length - 1];
    if (autoAck !== null && Object.hasOwn(autoAck, name) && typeof ack === "function") ack(binary(withSid(autoAck[name], s)));
  });
}

function emit(cmd) {
  const s = socketOf(cmd);
  if (!s) return;
  if (typeof cmd.event !== "string") return harnessError("emit: no event", cmd);
  const args = binary(Array.isArray(cmd.args) ? cmd.args : []);
  if (cmd.noAck) {
    s.emit(cmd.event, ...args);
    return;
  }
  const { id, seq } = cmd;
  const timeoutMs = Number.isFinite(cmd.timeoutMs) ? cmd.timeoutMs : 10000;
  s.timeout(timeoutMs).emit(cmd.event, ...args, (err, ...reply) => {
    if (err) out({ id, ev: "ack_timeout", seq, message: err.message });
    else out({ id, ev: "ack", seq, args: plain(reply) });
  });
}

function closeEngine(cmd) {
  const s = socketOf(cmd);
  if (!s) return;
  const eng = s.io.engine;
  if (!eng) return harnessError(`close_engine: client ${JSON.stringify(cmd.id)} has no engine`, cmd);
  eng.close();
}

let exiting = false;
let rl;

function exit() {
  if (exiting) return;
  exiting = true;
  rl.close();
  process.stdin.destroy();
  for (const s of clients.values()) {
    try {
      s.disconnect();
    } catch {}
  }
  // Node exits by itself once the last connection has closed (the
  // DISCONNECT packets sent); the timer only bounds the wait.
  process.exitCode = 0;
  setTimeout(() => process.stdout.write("", () => process.exit(0)), 1000).unref();
}

function handle(line) {
  if (exiting || line.trim() === "") return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    return harnessError(`bad JSON: ${err.message}: ${line.slice(0, 200)}`);
  }
  if (cmd === null || typeof cmd !== "object" || Array.isArray(cmd)) return harnessError(`not a command: ${line.slice(0, 200)}`);
  switch (cmd.op) {
    case "connect":
      return connect(cmd);
    case "emit":
      return emit(cmd);
    case "disconnect": {
      const s = socketOf(cmd);
      if (s) s.disconnect();
      return;
    }
    case "close_engine":
      return closeEngine(cmd);
    case "exit":
      return exit();
    default:
      return harnessError(`unknown op ${JSON.stringify(cmd.op)}`, cmd);
  }
}

process.on("uncaughtException", (err) => {
  harnessError(`uncaught: ${err && err.stack ? err.stack : err}`);
});

rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  try {
    handle(line);
  } catch (err) {
    harnessError(`command failed: ${err && err.stack ? err.stack : err}: ${line.slice(0, 200)}`);
  }
});
rl.on("close", exit);
