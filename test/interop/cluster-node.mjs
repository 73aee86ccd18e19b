// cluster-node.mjs is one Node socket.io 4.8 node of a Redis cluster running
// the cluster conformance app, the same app as `conformance -mode cluster`
// (cmd/conformance) on our side; redisadapter/mixed_test.go runs both kinds
// side by side on one Redis and checks that they behave as one cluster.
//
//	node cluster-node.mjs --port N --redis URL [--sharded]
//	     [--sub-mode static|dynamic|dynamic-private] --id NAME
//
// --port 0 picks a free port. The adapter is @socket.io/redis-adapter's
// classic createAdapter (PUBLISH/PSUBSCRIBE, requestsTimeout 3000 ms), or
// with --sharded its createShardedAdapter (SPUBLISH/SSUBSCRIBE, Redis 7)
// with the given subscriptionMode (default dynamic), on node-redis 4
// clients. Once the adapter's subscriptions are live in Redis and the HTTP
// server listens on 127.0.0.1, it prints one line:
//
//	cluster-node NAME listening on 127.0.0.1:PORT uid UID
//
// It exits 0 on SIGTERM, SIGINT or when its stdin closes (so run it with a
// stdin that stays open, not </dev/null), after closing the server and its
// Redis connections.
//
// The app: path /socket.io/, namespace /, socket.data = {node: NAME}. Events
// from clients (ack is the client's ack callback):
//
//	join (room, ack)                 socket joins room; ack(socket.id)
//	leave (room, ack)                socket leaves room; ack()
//	to (room|null, event, payload)   io.to(room) (io when null) .emit(event, payload)
//	except (room, event, payload)    io.except(room).emit(event, payload)
//	fetch (room|null, ack)           ack([{id, rooms, data}]) of the sockets in room
//	                                 (all when null) across the cluster, sorted by
//	                                 id, each rooms sorted
//	remoteJoin (room, newRoom, ack)  io.in(room).socketsJoin(newRoom); ack()
//	remoteLeave (room, oldRoom, ack) io.in(room).socketsLeave(oldRoom); ack()
//	remoteDisconnect (room, ack)     io.in(room).disconnectSockets(); ack()
//	sse (payload, ack)               io.serverSideEmit("hello", payload, cb); ack(the
//	                                 other nodes' answers, sorted). Every node answers
//	                                 "hello" with its NAME.
//	bcastAck (room|null, ack)        io.to(room).timeout(3000).emit("q", room, cb);
//	                                 ack(the clients' answers, sorted)
//
// A request that fails (a timeout) is acked with {error: message, replies:
// [what arrived, sorted]} instead, so that a test shows what is missing.
//
// Node's BroadcastOperator has no serverSideEmit, so the server-side emit's
// timeout is the adapter's: 3000 ms with the classic adapter
// (requestsTimeout), a fixed 5000 ms with the sharded one (ClusterAdapter).
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";
import { createClient } from "redis";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    redis: { type: "string" },
    sharded: { type: "boolean", default: false },
    "sub-mode": { type: "string", default: "dynamic" },
    id: { type: "string" },
  },
});
function usage(msg) {
  process.stderr.write(`cluster-node: ${msg}\nusage: node cluster-node.mjs --port N --redis URL [--sharded] [--sub-mode static|dynamic|dynamic-private] --id NAME\n`);
  process.exit(2);
}
if (!args.redis) usage("--redis is required");
if (!args.id) usage("--id is required");
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port ${args.port}`);
const subMode = args["sub-mode"];
if (!["static", "dynamic", "dynamic-private"].includes(subMode)) usage(`bad --sub-mode ${subMode}`);
const id = args.id;

const REQUEST_TIMEOUT = 3000;

function logErr(what, err) {
  process.stderr.write(`cluster-node ${id}: ${what}: ${err && err.stack ? err.stack : err}\n`);
}

const pub = createClient({ url: args.redis });
const sub = pub.duplicate();
pub.on("error", (err) => logErr("redis pub", err));
sub.on("error", (err) => logErr("redis sub", err));
await Promise.all([pub.connect(), sub.connect()]);
const subId = await sub.clientId(); // before it enters the subscribed state

const adapter = args.sharded
  ? createShardedAdapter(pub, sub, { subscriptionMode: subMode })
  : createAdapter(pub, sub, { requestsTimeout: REQUEST_TIMEOUT });

const httpServer = createServer();
const io = new Server(httpServer, { path: "/socket.io/", adapter });
const nsp = io.of("/");

const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const sorted = (xs) => [...xs].sort();
const sel = (room) => (room === null || room === undefined ? io : io.in(room));
const failed = (err, replies) => ({ error: err && err.message ? err.message : String(err), replies: sorted(replies ?? []) });

nsp.on("hello", (_payload, cb) => {
  if (typeof cb === "function") cb(id);
});

io.on("connection", (socket) => {
  socket.data = { node: id };
  // on registers a handler whose last argument, when it is a function, is
  // the client's ack; a handler that throws is logged, not fatal.
  const on = (event, fn) =>
    socket.on(event, async (...a) => {
      const ack = typeof a[a.length - 1] === "function" ? a.pop() : () => {};
      try {
        await fn(ack, ...a);
      } catch (err) {
        logErr(`${event} failed`, err);
        ack(failed(err));
      }
    });
  on("join", async (ack, room) => {
    await socket.join(room);
    ack(socket.id);
  });
  on("leave", async (ack, room) => {
    await socket.leave(room);
    ack();
  });
  on("to", (_ack, room, event, payload) => {
    sel(room).emit(event, payload);
  });
  on("except", (_ack, room, event, payload) => {
    io.except(room).emit(event, payload);
  });
  on("fetch", async (ack, room) => {
    const sockets = await sel(room).fetchSockets();
    ack(sockets.map((s) => ({ id: s.id, rooms: sorted(s.rooms), data: s.data })).sort(byId));
  });
  on("remoteJoin", (ack, room, newRoom) => {
    io.in(room).socketsJoin(newRoom);
    ack();
  });
  on("remoteLeave", (ack, room, oldRoom) => {
    io.in(room).socketsLeave(oldRoom);
    ack();
  });
  on("remoteDisconnect", (ack, room) => {
    io.in(room).disconnectSockets();
    ack();
  });
  on("sse", (ack, payload) => {
    io.serverSideEmit("hello", payload, (err, replies) => ack(err ? failed(err, replies) : sorted(replies)));
  });
  on("bcastAck", (ack, room) => {
    const op = room === null || room === undefined ? io : io.to(room);
    op.timeout(REQUEST_TIMEOUT).emit("q", room, (err, answers) => ack(err ? failed(err, answers) : sorted(answers)));
  });
});

// subscribed resolves once Redis shows the adapter's subscriptions on the
// sub connection: the classic adapter's pattern and its three channels
// (request, response, own response), or the sharded adapter's two.
async function subscribed() {
  const want = args.sharded ? { ssub: 2 } : { psub: 1, sub: 3 };
  const deadline = Date.now() + 10000;
  for (;;) {
    const line = await pub.sendCommand(["CLIENT", "LIST", "ID", String(subId)]);
    const got = Object.fromEntries(
      String(line)
        .trim()
        .split(" ")
        .map((kv) => kv.split("=")),
    );
    if (Object.entries(want).every(([k, n]) => Number(got[k]) >= n)) return;
    if (Date.now() > deadline) throw new Error(`subscriptions not live after 10 s: ${String(line).trim()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let closing = false;
async function shutdown(code) {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(code), 3000);
  force.unref();
  try {
    await new Promise((resolve) => io.close(() => resolve()));
  } catch (err) {
    logErr("close", err);
  }
  await Promise.allSettled([pub.quit(), sub.quit()]);
  process.exit(code);
}
process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
process.stdin.on("end", () => shutdown(0));
process.stdin.on("close", () => shutdown(0));
process.stdin.resume();

try {
  await subscribed();
} catch (err) {
  logErr("not ready", err);
  await shutdown(1);
}
httpServer.listen(port, "127.0.0.1", () => {
  const { port: bound } = httpServer.address();
  process.stdout.write(`cluster-node ${id} listening on 127.0.0.1:${bound} uid ${nsp.adapter.uid}\n`);
});
