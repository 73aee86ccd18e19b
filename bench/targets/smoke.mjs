// smoke.mjs checks that a running target serves the app of bench/PROTOCOL.md,
// with the real socket.io-client (the devDependency of targets/node: run
// `npm ci` there first).
//
//   node bench/targets/smoke.mjs http://127.0.0.1:3100 [--floor]
//
// Two clients connect over WebSocket only. Each joins room "r1" (ack with no
// arguments), echoes several payloads (the ack must return each unchanged),
// then client A emits bcast("r1", payload) and both A (the sender is in the
// room) and B must receive "bcast" with the payload. --floor runs only
// connect + join + echo with one client. Prints one line per check and
// "SMOKE OK" (exit 0) or "SMOKE FAIL …" (exit 1).
import { createRequire } from "node:module";
import { isDeepStrictEqual } from "node:util";

const require = createRequire(new URL("./node/package.json", import.meta.url));
const { io } = require("socket.io-client");
const clientVersion = require("socket.io-client/package.json").version;

const url = process.argv[2] || "http://127.0.0.1:3100";
const floor = process.argv.includes("--floor");
const log = (...a) => console.log(...a);

function fail(msg) {
  console.log(`SMOKE FAIL ${msg}`);
  process.exit(1);
}
setTimeout(() => fail("timeout"), 10000).unref();

function connect(name) {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
    s.on("connect", () => {
      log(`${name}: connected id=${s.id} transport=${s.io.engine.transport.name}`);
      resolve(s);
    });
    s.on("connect_error", (e) => reject(new Error(`${name}: connect_error ${e.message}`)));
  });
}

const ack = (s, ...args) => s.timeout(3000).emitWithAck(...args);

async function main() {
  log(`socket.io-client ${clientVersion} -> ${url}${floor ? " (floor)" : ""}`);
  const clients = floor ? [await connect("A")] : [await connect("A"), await connect("B")];
  const [a] = clients;

  for (const [i, s] of clients.entries()) {
    const t0 = process.hrtime.bigint();
    const res = await s.timeout(3000).emitWithAck("join", "r1");
    // emitWithAck resolves with the first ack argument: undefined for an empty ack.
    if (res !== undefined) fail(`join ack carried ${JSON.stringify(res)}`);
    log(`${"AB"[i]}: join r1 -> ack() in ${Number(process.hrtime.bigint() - t0) / 1e3} µs`);
  }

  const payloads = [
    { t: Date.now() * 1e6, p: "x".repeat(64) },
    "plain string with \"quotes\", \\ and ünïcødé ✓",
    42.5,
    null,
    [1, [2, { three: [true, false] }]],
    { big: "y".repeat(70000) }, // > 64 KiB: 8-byte WebSocket length
  ];
  for (const p of payloads) {
    const got = await ack(a, "echo", p);
    const shown = JSON.stringify(p).slice(0, 60);
    if (!isDeepStrictEqual(got, p)) fail(`echo ${shown}: got ${JSON.stringify(got).slice(0, 60)}`);
    log(`A: echo ${shown}${JSON.stringify(p).length > 60 ? "…" : ""} -> same payload`);
  }
  // Several acks in flight at once (replies may be coalesced into one write).
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => ack(a, "echo", { i })));
  if (!many.every((v, i) => v.i === i)) fail("pipelined echoes out of order or wrong");
  log("A: 50 pipelined echoes -> all acked with their payloads");

  if (!floor) {
    const payload = { t: Date.now() * 1e6, p: "bcast-padding" };
    const got = clients.map((s) => new Promise((resolve) => s.once("bcast", (...args) => resolve(args))));
    a.emit("bcast", "r1", payload);
    const res = await Promise.all(got);
    res.forEach((args, i) => {
      if (args.length !== 1 || !isDeepStrictEqual(args[0], payload)) fail(`bcast to ${"AB"[i]}: ${JSON.stringify(args)}`);
      log(`${"AB"[i]}: received bcast ${JSON.stringify(args[0])}`);
    });
    // A room nobody joined reaches nobody.
    let stray = 0;
    clients.forEach((s) => s.on("bcast", () => stray++));
    a.emit("bcast", "empty-room", payload);
    await ack(a, "echo", "barrier");
    await new Promise((r) => setTimeout(r, 100));
    if (stray) fail("bcast to an empty room was delivered");
    log("A: bcast to a room nobody joined -> nothing delivered");
  }

  clients.forEach((s) => s.disconnect());
  log("SMOKE OK");
  process.exit(0);
}

main().catch((e) => fail(e.message));
