// eio-client.mjs drives the real npm engine.io-client against a server and
// prints one JSON line per observed event on stdout. engine/interop_test.go
// runs it; it can also be run by hand:
//
//	node eio-client.mjs <url> <scenario> <transports> [--path /engine.io/] [--idle-ms 1500] [--min-pings 4] [--timeout-ms 10000]
//
//	url         e.g. http://127.0.0.1:3000
//	scenario    echo | server-close | idle
//	transports  comma-separated, in the client's order: polling | websocket | polling,websocket
//
// Scenarios (in "upgrade" mode, i.e. polling then websocket, the client waits
// for the upgrade event before its main traffic, and also sends one message
// right after open and one while the upgrade is in progress, so data buffered
// across the upgrade is covered):
//
//	echo          send "stream:100" (the server answers with tick:1 … tick:100, one
//	              about every millisecond, which in upgrade mode spans the
//	              upgrade), a text and two binary messages; wait for the echoes
//	              (plus the pre-upgrade ones) and all ticks in order, then close
//	              from the client
//	server-close  send text "please-close" and wait for the server to close
//	idle          stay idle for --idle-ms and until --min-pings pings arrived (the
//	              server pings, the client pongs; the server sends its next ping
//	              only after the pong), then send "still-alive", wait for its echo
//	              and close
//
// Events printed (one JSON object per line, "t" = ms since start):
//
//	{"event":"open","transport":"polling","sid":"…","serverUpgrades":[…],"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}
//	{"event":"upgrading","transport":"websocket"}
//	{"event":"upgrade","transport":"websocket"}
//	{"event":"upgradeError","message":"…"}
//	{"event":"sent","data":"…"} / {"event":"sent","binary":true,"hex":"…"}
//	{"event":"message","transport":"…","data":"…"} / {"event":"message","transport":"…","binary":true,"hex":"…","length":n}
//	{"event":"ping","transport":"…"}
//	{"event":"idle-over","pings":n,"ms":n}
//	{"event":"error","message":"…"}
//	{"event":"close","reason":"…","description":{…}}
//	{"event":"done","scenario":"…"}
//
// Exit status: 0 when the scenario completed; 1 with a message on stderr on
// failure or when it did not complete within --timeout-ms; 2 on bad usage.
import { Socket } from "engine.io-client";

const start = Date.now();

function usage(msg) {
  process.stderr.write(`${msg}\nusage: node eio-client.mjs <url> <echo|server-close|idle> <transports> [--path p] [--idle-ms n] [--min-pings n] [--timeout-ms n]\n`);
  process.exit(2);
}

const positional = [];
const flags = { path: "/engine.io/", "idle-ms": "1500", "min-pings": "4", "timeout-ms": "10000" };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a.startsWith("--")) {
    const eq = a.indexOf("=");
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (!(name in flags)) usage(`unknown flag ${a}`);
    flags[name] = eq >= 0 ? a.slice(eq + 1) : process.argv[++i];
    if (flags[name] === undefined) usage(`flag ${a} needs a value`);
  } else {
    positional.push(a);
  }
}
if (positional.length !== 3) usage("expected 3 positional arguments");
const [url, scenario, transportList] = positional;
const transports = transportList.split(",").filter(Boolean);
if (!["echo", "server-close", "idle"].includes(scenario)) usage(`unknown scenario ${scenario}`);
if (transports.length === 0 || transports.some((t) => !["polling", "websocket"].includes(t))) {
  usage(`bad transports ${transportList}`);
}
const idleMs = Number(flags["idle-ms"]);
const minPings = Number(flags["min-pings"]);
const timeoutMs = Number(flags["timeout-ms"]);
const upgradeMode = transports.length > 1 && transports[0] === "polling" && transports.includes("websocket");

// The messages of the echo scenario. TEXT has multi-byte UTF-8 (2, 3 and 4
// bytes); BIG crosses the 16-bit WebSocket length and is base64 over polling.
const TEXT = "héllo wörld ✓ 🚀";
const SMALL = Uint8Array.from([1, 2, 3, 4]);
const BIG = Buffer.alloc(70000);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7) % 251;
// "stream:N" makes the server send N text messages "tick:1" … "tick:N", about
// one per millisecond, while the scenario (and, in upgrade mode, the upgrade)
// goes on: they must all arrive, once and in order.
const STREAM = 100;
let nextTick = 1;

function emit(obj) {
  process.stdout.write(JSON.stringify({ t: Date.now() - start, ...obj }) + "\n");
}

function hex(buf) {
  return Buffer.from(buf.buffer ?? buf, buf.byteOffset ?? 0, buf.byteLength).toString("hex");
}

// describe turns an engine.io-client close/error description (an Error, a
// TransportError, or {description, context} with a CloseEvent or an XHR as
// context) into plain JSON.
function describe(d) {
  if (d === undefined || d === null) return null;
  if (typeof d !== "object") return String(d);
  const out = {};
  if (d instanceof Error) out.message = d.message;
  if (d.type !== undefined && typeof d.type === "string") out.type = d.type;
  if (d.description !== undefined) {
    out.description = typeof d.description === "object" && d.description !== null ? describe(d.description) : d.description;
  }
  const ctx = d.context;
  if (ctx && typeof ctx === "object") {
    if (typeof ctx.code === "number") out.code = ctx.code; // CloseEvent
    if (typeof ctx.reason === "string" && ctx.reason !== "") out.closeReason = ctx.reason;
    if (typeof ctx.status === "number") out.status = ctx.status; // XHR
    if (typeof ctx.responseText === "string" && ctx.responseText !== "") out.responseText = ctx.responseText;
  }
  if (d.code !== undefined && typeof d.code !== "object") out.errorCode = d.code;
  if (d.transport !== undefined) out.transport = d.transport;
  return out;
}

// exitAfterFlush exits once stdout has been written out: process.exit()
// drops whatever a slow pipe reader has not taken yet.
function exitAfterFlush(code) {
  process.exitCode = code;
  process.stdout.write("", () => process.exit(code));
}

let finished = false;

function fail(msg) {
  if (finished) return;
  finished = true;
  process.stderr.write(`eio-client: ${scenario} [${transports.join(",")}]: ${msg}\n`);
  process.exitCode = 1;
  try {
    socket.close();
  } catch {}
  setTimeout(() => exitAfterFlush(1), 200).unref();
}

// succeed marks the scenario complete. The process then exits on its own
// once the client has released its connections (so a polling close packet or
// a WebSocket close frame really leaves), or after a grace period with a
// "linger" event.
function succeed() {
  if (finished) return;
  finished = true;
  emit({ event: "done", scenario });
  clearTimeout(overall);
  // Unref'd: it only fires if the connections are still open. The
  // setImmediate hops let pending I/O (a close frame the server already sent)
  // be processed first, as a stalled process runs its due timers before I/O.
  setTimeout(() => {
    setImmediate(() =>
      setImmediate(() => {
        emit({ event: "linger", note: "connections still open 3s after the scenario completed" });
        exitAfterFlush(0);
      }),
    );
  }, 3000).unref();
}

const overall = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);

process.on("exit", (code) => {
  if (!finished && code === 0) {
    process.stderr.write(`eio-client: ${scenario}: exited before the scenario completed\n`);
    process.exitCode = 1;
  }
});

const socket = new Socket(url, { transports, path: flags.path });

// expected: what we still wait for, keyed by a printable form of the message.
const expected = new Map();
function expect(key) {
  expected.set(key, (expected.get(key) ?? 0) + 1);
}
function keyOf(data) {
  return typeof data === "string" ? `text:${data}` : `bin:${hex(data)}`;
}

function send(data) {
  if (typeof data === "string") emit({ event: "sent", data });
  else emit({ event: "sent", binary: true, hex: hex(data), length: data.byteLength });
  if (scenario !== "server-close") expect(keyOf(data));
  socket.send(data);
}

let phase = "connecting"; // connecting → running → closing
let pings = 0;
let idleOver = false;

function maybeClose() {
  if (phase !== "running" || expected.size > 0) return;
  if (scenario === "idle" && !idleOver) return;
  if (scenario === "echo" && nextTick <= STREAM) return;
  if (scenario === "server-close") return;
  phase = "closing";
  socket.close(); // the client's own close: the reason is "forced close"
}

function run() {
  phase = "running";
  switch (scenario) {
    case "echo":
      if (!upgradeMode) send(`stream:${STREAM}`);
      send(TEXT);
      send(SMALL);
      send(BIG);
      break;
    case "server-close":
      send("please-close");
      break;
    case "idle": {
      // Idle for at least --idle-ms and until --min-pings pings were
      // answered: a stalled machine delays the end instead of failing it.
      const pingsBefore = pings;
      const idleStart = Date.now();
      let timeUp = false;
      const check = () => {
        if (idleOver || !timeUp || pings - pingsBefore < minPings) return;
        idleOver = true;
        socket.off("ping", check);
        emit({ event: "idle-over", pings: pings - pingsBefore, ms: Date.now() - idleStart });
        send("still-alive");
      };
      socket.on("ping", check);
      const wait = () => {
        const left = idleMs - (Date.now() - idleStart);
        if (left > 0) {
          setTimeout(wait, left); // timers may fire a millisecond early
          return;
        }
        timeUp = true;
        check();
      };
      wait();
      break;
    }
  }
}

let handshake = {};
socket.on("handshake", (data) => {
  handshake = data;
});

socket.on("open", () => {
  emit({
    event: "open",
    transport: socket.transport.name,
    sid: socket.id,
    serverUpgrades: handshake.upgrades, // as advertised by the server
    upgrades: socket._upgrades, // those the client will probe (filtered by its transports)
    pingInterval: socket._pingInterval,
    pingTimeout: socket._pingTimeout,
    maxPayload: socket._maxPayload,
  });
  if (upgradeMode) {
    // Travels over polling (or is buffered), before the upgrade.
    if (scenario !== "server-close") send("before-upgrade");
    // The ticks the server streams back span the upgrade.
    if (scenario === "echo") send(`stream:${STREAM}`);
    return; // the main traffic waits for the upgrade event
  }
  run();
});

socket.on("upgrading", (transport) => {
  emit({ event: "upgrading", transport: transport.name });
  // Polling is being paused: this one sits in the client's write buffer and
  // leaves over the WebSocket once the upgrade completes.
  if (upgradeMode && scenario !== "server-close") send("during-upgrade");
});

socket.on("upgrade", (transport) => {
  emit({ event: "upgrade", transport: transport.name });
  if (upgradeMode && phase === "connecting") run();
});

socket.on("upgradeError", (err) => {
  emit({ event: "upgradeError", message: String(err && err.message ? err.message : err) });
  if (upgradeMode) fail(`upgrade failed: ${err && err.message ? err.message : err}`);
});

socket.on("ping", () => {
  pings++;
  emit({ event: "ping", transport: socket.transport ? socket.transport.name : null });
});

socket.on("message", (data) => {
  const tr = socket.transport ? socket.transport.name : null;
  if (typeof data === "string") {
    emit({ event: "message", transport: tr, data });
  } else {
    const u8 = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    emit({ event: "message", transport: tr, binary: true, hex: hex(u8), length: u8.byteLength });
  }
  if (typeof data === "string" && data.startsWith("tick:")) {
    if (data !== `tick:${nextTick}`) {
      fail(`got ${data}, want tick:${nextTick} (lost, duplicated or reordered server messages)`);
      return;
    }
    nextTick++;
    maybeClose();
    return;
  }
  const k = keyOf(typeof data === "string" ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : data);
  const n = expected.get(k);
  if (n === undefined) {
    fail(`unexpected message ${k.slice(0, 80)}`);
    return;
  }
  if (n === 1) expected.delete(k);
  else expected.set(k, n - 1);
  maybeClose();
});

socket.on("error", (err) => {
  emit({ event: "error", message: String(err && err.message ? err.message : err), detail: describe(err) });
});

socket.on("close", (reason, description) => {
  emit({ event: "close", reason, description: describe(description) });
  if (finished) return;
  if (phase === "closing") {
    succeed();
    return;
  }
  if (scenario === "server-close" && phase === "running") {
    succeed();
    return;
  }
  fail(`closed unexpectedly in phase ${phase}: ${reason} ${JSON.stringify(describe(description))}`);
});
