// Benchmark target: the reference Node socket.io server (version pinned in
// package-lock.json) serving the app of bench/PROTOCOL.md.
//
//   node --expose-gc server.js [-addr 127.0.0.1:3100] [-reuseport] [-redis redis://host:port] [-server-id ID]
//
// -redis (env REDIS_URL) joins a cluster with @socket.io/redis-adapter (classic
// format) over two node-redis clients (pub and sub), both versions pinned in
// package-lock.json; READY then waits until both clients are connected and the
// adapter's subscriptions are acknowledged. Without it the in-memory adapter
// is used and neither package is loaded. -server-id (env SERVER_ID) only names
// the process in its log lines.
//
// -addr (env ADDR) is host:port. -loops is accepted and ignored (Node has one
// event loop). -reuseport passes reusePort to listen(), which Node supports
// from 22.12 / 23.1 on; older versions ignore it (a warning goes to stderr).
//
// Prints "READY <host:port>" on stdout once listening. SIGTERM/SIGINT close
// the server and exit 0. SIGUSR1 (which this process takes over from the
// inspector) runs global.gc() when started with --expose-gc and prints one
// JSON line of process.memoryUsage():
//   {"rss":N,"heap_total":N,"heap_used":N,"external":N,"array_buffers":N}
// (numbers only: the harness decodes the line into map[string]float64).
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

function parseArgs(argv) {
  const out = {
    addr: process.env.ADDR || "127.0.0.1:3100",
    reusePort: process.env.REUSEPORT === "1",
    redis: process.env.REDIS_URL || "",
    serverId: process.env.SERVER_ID || "",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i].replace(/^--?/, "");
    const [k, inline] = a.split("=", 2);
    const val = () => (inline !== undefined ? inline : argv[++i]);
    switch (k) {
      case "addr": out.addr = val(); break;
      case "loops": val(); break;
      case "reuseport": out.reusePort = inline === undefined ? true : inline !== "false"; break;
      case "redis": out.redis = val(); break;
      case "server-id": out.serverId = val(); break;
      default:
        console.error(`unknown flag ${argv[i]}`);
        process.exit(2);
    }
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
const sep = opts.addr.lastIndexOf(":");
const host = opts.addr.slice(0, sep).replace(/^\[|\]$/g, "") || "127.0.0.1";
const port = Number(opts.addr.slice(sep + 1));

// What new Server(port, opts) does, except that it binds the given host
// rather than every interface.
const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  path: "/socket.io/",
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  // cors: none; connectionStateRecovery: none (the defaults)
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("echo", (payload, ack) => {
    if (typeof ack === "function") ack(payload);
  });
  socket.on("bcast", (room, payload) => {
    io.to(room).emit("bcast", payload);
  });
  // io.emit to every socket (of every node, with -redis).
  socket.on("bcastall", (payload) => {
    io.emit("bcast", payload);
  });
});

// joinCluster connects the Redis adapter; resolves once its subscriptions
// are in place, so a broadcast published after READY reaches this node.
async function joinCluster(url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const tag = `target-node${opts.serverId ? " " + opts.serverId : ""}`;
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const [name, c] of [["pub", pub], ["sub", sub]]) {
    c.on("error", (err) => console.error(`${tag}: redis ${name}: ${err.message}`));
  }
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  // The adapter subscribes without waiting; a PING on the subscriber
  // connection is answered after the (P)SUBSCRIBEs sent before it.
  await sub.ping();
  return { pub, sub };
}

if (opts.reusePort) {
  const [maj, min] = process.versions.node.split(".").map(Number);
  if (maj < 22 || (maj === 22 && min < 12)) {
    console.error(`target-node: reusePort needs Node >= 22.12 (this is ${process.versions.node}); ignored`);
  }
}

let redisClients = null;
const clusterReady = opts.redis ? joinCluster(opts.redis) : Promise.resolve(null);
clusterReady.then((clients) => {
  redisClients = clients;
  httpServer.listen({ host, port, reusePort: opts.reusePort }, () => {
    const a = httpServer.address();
    const h = a.family === "IPv6" ? `[${a.address}]` : a.address;
    process.stdout.write(`READY ${h}:${a.port}\n`);
  });
}, (err) => {
  console.error(`target-node: redis adapter: ${err.message}`);
  process.exit(1);
});

process.on("SIGUSR1", () => {
  if (typeof global.gc === "function") global.gc();
  const m = process.memoryUsage();
  process.stdout.write(JSON.stringify({
    rss: m.rss, heap_total: m.heapTotal, heap_used: m.heapUsed,
    external: m.external, array_buffers: m.arrayBuffers,
  }) + "\n");
});

let closing = false;
function shutdown() {
  if (closing) process.exit(0); // a second signal: do not wait
  closing = true;
  // io.close() disconnects every client and closes the HTTP server.
  io.close(() => {
    if (!redisClients) process.exit(0);
    Promise.allSettled([redisClients.pub.quit(), redisClients.sub.quit()]).then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 5000); // whatever io.close still waits for
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
