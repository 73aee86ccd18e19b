// admin-node.mjs is a Node socket.io 4.8 server instrumented by the real
// @socket.io/admin-ui 0.5 (instrument), running the same small app as
// admin/admin_test.go runs on our server, so that the test can compare what
// an admin client receives from each:
//
//	node admin-node.mjs [--username U --password-hash BCRYPT] [--readonly]
//
// It listens on 127.0.0.1 (a free port) and prints one line:
//
//	admin-node listening on 127.0.0.1:PORT
//
// and exits when its stdin closes. The app, namespace "/": a socket joins
// "lobby" on connection; "echo" (x, ack) emits "echoed" x back and acks x.
// Admin: namespace /admin, mode development, auth false unless a username
// and bcrypt hash are given, serverId "node".
import { createServer } from "node:http";
import { Server } from "socket.io";
import { instrument } from "@socket.io/admin-ui";

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const username = arg("--username");
const hash = arg("--password-hash");

const httpServer = createServer();
const io = new Server(httpServer, { cors: { origin: true, credentials: true } });
io.on("connection", (socket) => {
  socket.join("lobby");
  socket.on("echo", (x, ack) => {
    socket.emit("echoed", x);
    if (typeof ack === "function") ack(x);
  });
});
instrument(io, {
  auth: username ? { type: "basic", username, password: hash } : false,
  mode: "development",
  serverId: "node",
  readonly: process.argv.includes("--readonly"),
});
httpServer.listen(0, "127.0.0.1", () => {
  console.log(`admin-node listening on 127.0.0.1:${httpServer.address().port}`);
});
process.stdin.on("end", () => {
  io.close();
  process.exit(0);
});
process.stdin.resume();
