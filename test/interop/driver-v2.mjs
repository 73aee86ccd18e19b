// driver-v2.mjs is driver.mjs for socket.io-client 2.5.0 (installed as
// socket.io-client-v2, pinned in package-lock.json): Engine.IO v3 and
// Socket.IO protocol v4, the client of many mobile apps, against a server
// with AllowEIO3. It speaks driver.mjs's line protocol (commands on stdin,
// events on stdout; see driver.mjs), so internal/testutil's NodeClients
// drives it the same way (StartNodeClientsV2). What differs, because the
// 2.x client does:
//
//   - "auth" is refused (2.x has none); "query" is sent both in the
//     handshake URL and, for a namespace other than "/", in its CONNECT
//     packet ("0/nsp?k=v,"), where the server takes it for the auth.
//   - A middleware refusal reaches 2.x as an "error" event carrying the
//     ERROR packet's data (a string, or the refusal's data object); it is
//     printed as a connect_error whose message is the string (or the
//     object's message) and whose data is the object. Transport failures
//     are 2.x's "connect_error", printed as in driver.mjs.
//   - 2.x has no onAny and no socket.timeout(): received events are taken
//     from Socket.onevent, and an emit's ack timeout is a timer here.
//   - One more command, {"op":"stop_pings","id":…}: the client stops
//     pinging (and stops timing the server out), to show that the server
//     closes a silent v3 client.
import { createInterface } from "node:readline";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const io = require("socket.io-client-v2");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

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

const clients = new Map();

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

function connect(cmd) {
  const id = cmd.id;
  if (typeof id !== "string" || id === "") return harnessError("connect: no id", cmd);
  if (typeof cmd.url !== "string") return harnessError("connect: no url", cmd);
  if (cmd.auth != null) return harnessError("connect: socket.io-client 2.x has no auth; use query", cmd);
  const autoAck = cmd.autoAck ?? null;
  const old = clients.get(id);
  if (old) {
    if (old.connected) return harnessError(`connect: client ${JSON.stringify(id)} is connected; disconnect it first`, cmd);
    old.off();
    old.disconnect();
  }
  const opts = {
    forceNew: true,
    path: cmd.path ?? "/socket.io/",
    transports: cmd.transports ?? ["websocket"],
    reconnection: cmd.reconnection ?? false,
  };
  if (cmd.extraHeaders != null) opts.extraHeaders = cmd.extraHeaders;
  if (cmd.query != null) opts.query = cmd.query;
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
  let seq = Number.isInteger(cmd.seq) ? cmd.seq : undefined;
  const takeSeq = () => {
    const v = seq;
    seq = undefined;
    return v;
  };
  s.on("connect", () => {
    const eng = s.io.engine;
    out({ id, ev: "connect", sid: s.id, recovered: false, transport: eng && eng.transport ? eng.transport.name : null, seq: takeSeq() });
  });
  s.on("connect_error", (err) => {
    out({
      id,
      ev: "connect_error",
      message: err && err.message !== undefined ? String(err.message) : String(err),
      data: null,
      type: err && err.type ? String(err.type) : undefined,
      seq: takeSeq(),
    });
  });
  // An ERROR packet: a middleware refusal or an invalid namespace.
  s.on("error", (d) => {
    const isObj = d !== null && typeof d === "object";
    out({
      id,
      ev: "connect_error",
      message: typeof d === "string" ? d : isObj ? (d.message !== undefined ? String(d.message) : "") : String(d),
      data: isObj ? plain(d) : null,
      seq: takeSeq(),
    });
  });
  s.on("disconnect", (reason) => {
    out({ id, ev: "disconnect", reason, description: null });
  });
  const onevent = s.onevent;
  s.onevent = function (packet) {
    const args = packet.data || [];
    const [name, ...rest] = args;
    if (packet.id != null) rest.push(() => {}); // printed as {"$fn":true}, as driver.mjs prints an ack callback
    out({ id, ev: "recv", name, args: plain(rest) });
    if (autoAck !== null && packet.id != null && Object.hasOwn(autoAck, name)) {
      s.ack(packet.id)(binary(withSid(autoAck[name], s)));
      packet = { ...packet, id: undefined };
    }
    return onevent.call(this, packet);
  };
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
  let done = false;
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    out({ id, ev: "ack_timeout", seq, message: "operation has timed out" });
  }, timeoutMs);
  s.emit(cmd.event, ...args, (...reply) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    out({ id, ev: "ack", seq, args: plain(reply) });
  });
}

function closeEngine(cmd) {
  const s = socketOf(cmd);
  if (!s) return;
  const eng = s.io.engine;
  if (!eng) return harnessError(`close_engine: client ${JSON.stringify(cmd.id)} has no engine`, cmd);
  eng.close();
}

function stopPings(cmd) {
  const s = socketOf(cmd);
  if (!s) return;
  const eng = s.io.engine;
  if (!eng) return harnessError(`stop_pings: client ${JSON.stringify(cmd.id)} has no engine`, cmd);
  eng.removeListener("heartbeat", Object.getPrototypeOf(eng).onHeartbeat);
  eng.setPing = () => {};
  eng.onHeartbeat = () => {};
  clearTimeout(eng.pingIntervalTimer);
  clearTimeout(eng.pingTimeoutTimer);
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
    case "stop_pings":
      return stopPings(cmd);
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
