// Benchmark target: the reference Node socket.io server (version pinned in
// package-lock.json) serving the app of bench/PROTOCOL.md.
//
//   node --expose-gc server.js [-addr 127.0.0.1:3100] [-reuseport]
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
  const out = { addr: process.env.ADDR || "127.0.0.1:3100", reusePort: process.env.REUSEPORT === "1" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i].replace(/^--?/, "");
    const [k, inline] = a.split("=", 2);
    const val = () => (inline !== undefined ? inline : argv[++i]);
    switch (k) {
      case "addr": out.addr = val(); break;
      case "loops": val(); break;
      case "reuseport": out.reusePort = inline === undefined ? true : inline !== "false"; break;
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
});

if (opts.reusePort) {
  const [maj, min] = process.versions.node.split(".").map(Number);
  if (maj < 22 || (maj === 22 && min < 12)) {
    console.error(`target-node: reusePort needs Node >= 22.12 (this is ${process.versions.node}); ignored`);
  }
}

httpServer.listen({ host, port, reusePort: opts.reusePort }, () => {
  const a = httpServer.address();
  const h = a.family === "IPv6" ? `[${a.address}]` : a.address;
  process.stdout.write(`READY ${h}:${a.port}\n`);
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
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000); // whatever io.close still waits for
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
