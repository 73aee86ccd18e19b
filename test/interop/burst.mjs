// burst.mjs drives the real npm socket.io-client (pinned in package-lock.json)
// through a pipelined burst: it connects, emits n acknowledged "echo" events of
// `size` characters back to back, as fast as the client lets it, and counts the
// acknowledgements while it keeps reading. socketio/burst_interop_test.go runs it
// against a server whose "echo" handler acks its arguments. By hand:
//
//	node burst.mjs <url> <n> <size> <transports> [--timeout-ms 60000]
//
// It prints one JSON line and exits 0 when every ack arrived with the payload
// it was sent:
//
//	{"acks":n,"ms":elapsed,"transport":"websocket"}
//	{"acks":k,"disconnect":"transport close"}            (exit 1)
//	{"acks":k,"error":"…"} / {"acks":k,"timeout":true}   (exit 1)
import { io } from "socket.io-client";

const args = process.argv.slice(2);
let timeoutMs = 60000;
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--timeout-ms") timeoutMs = +args[++i];
  else pos.push(args[i]);
}
const [url, nStr, sizeStr, transports] = pos;
if (!url || !nStr || !sizeStr || !transports) {
  process.stderr.write("usage: node burst.mjs <url> <n> <size> <transports> [--timeout-ms n]\n");
  process.exit(2);
}
const n = +nStr, size = +sizeStr;
const payload = "x".repeat(size);
const s = io(url, { transports: transports.split(","), reconnection: false });
let acks = 0, bad = 0;
const t0 = Date.now();
const finish = (obj, code) => {
  process.stdout.write(JSON.stringify({ acks, bad, ...obj }) + "\n");
  process.exit(code);
};
s.on("connect", () => {
  for (let i = 0; i < n; i++) {
    s.emit("echo", i, payload, (j, p) => {
      if (j !== i || p !== payload) bad++;
      if (++acks === n) finish({ ms: Date.now() - t0, transport: s.io.engine.transport.name }, bad ? 1 : 0);
    });
  }
});
s.on("disconnect", (reason) => finish({ disconnect: reason }, 1));
s.on("connect_error", (e) => finish({ error: e.message }, 1));
setTimeout(() => finish({ timeout: true }, 1), timeoutMs);
