// emitter.mjs drives a real @socket.io/redis-emitter (5.1.0, on a node-redis
// 4 client) on command, so that redisadapter/mixed_test.go can check that
// it reaches the clients of Node and Go nodes alike. The emitter speaks only
// the classic adapter's channel layout.
//
//	node emitter.mjs --redis URL [--key socket.io] [--nsp /]
//
// It prints "emitter ready" once connected, then reads one JSON command per
// line on stdin and answers each on stdout with {"seq":n,"ok":true} once
// its message has been published (a PING on the same connection has
// returned), or {"seq":n,"error":…}. rooms/except select sockets as
// emitter.in(rooms).except(except) does; both may be omitted (every socket).
//
//	{"seq":n,"op":"emit","rooms":[…],"except":[…],"event":…,"args":[…]}
//	{"seq":n,"op":"socketsJoin","rooms":[…],"except":[…],"join":[…]}
//	{"seq":n,"op":"socketsLeave","rooms":[…],"except":[…],"leave":[…]}
//	{"seq":n,"op":"disconnectSockets","rooms":[…],"except":[…],"close":bool}
//	{"seq":n,"op":"serverSideEmit","args":[event, …]}
//
// It exits 0 when stdin closes, or on SIGTERM.
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";

const { values: args } = parseArgs({
  options: {
    redis: { type: "string" },
    key: { type: "string", default: "socket.io" },
    nsp: { type: "string", default: "/" },
  },
});
if (!args.redis) {
  process.stderr.write("usage: node emitter.mjs --redis URL [--key socket.io] [--nsp /]\n");
  process.exit(2);
}

const client = createClient({ url: args.redis });
client.on("error", (err) => process.stderr.write(`emitter: redis: ${err && err.stack ? err.stack : err}\n`));
await client.connect();
const emitter = new Emitter(client, { key: args.key }, args.nsp);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function select(cmd) {
  let op = emitter;
  if (Array.isArray(cmd.rooms) && cmd.rooms.length > 0) op = op.in(cmd.rooms);
  if (Array.isArray(cmd.except) && cmd.except.length > 0) op = op.except(cmd.except);
  return op;
}

async function run(cmd) {
  switch (cmd.op) {
    case "emit":
      select(cmd).emit(cmd.event, ...(cmd.args ?? []));
      break;
    case "socketsJoin":
      select(cmd).socketsJoin(cmd.join);
      break;
    case "socketsLeave":
      select(cmd).socketsLeave(cmd.leave);
      break;
    case "disconnectSockets":
      select(cmd).disconnectSockets(!!cmd.close);
      break;
    case "serverSideEmit":
      emitter.serverSideEmit(...cmd.args);
      break;
    default:
      throw new Error(`unknown op ${JSON.stringify(cmd.op)}`);
  }
  // Commands go out in order on the one connection: once the PING is
  // answered, the PUBLISH before it has been handled by Redis.
  await client.ping();
}

let queue = Promise.resolve();
let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  await queue;
  await client.quit().catch(() => {});
  process.exit(0);
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (line.trim() === "") return;
  queue = queue.then(async () => {
    let cmd;
    try {
      cmd = JSON.parse(line);
      await run(cmd);
      out({ seq: cmd.seq, ok: true });
    } catch (err) {
      out({ seq: cmd ? cmd.seq : null, error: err && err.message ? err.message : String(err) });
    }
  });
});
rl.on("close", shutdown);
process.on("SIGTERM", shutdown);
process.stdout.write("emitter ready\n");
