// msgpack-vectors.mjs writes codec/testdata/msgpack_sio_vectors.json.gz (gzipped JSON): Socket.IO
// packets encoded by the real socket.io-msgpack-parser (3.0.2, with its
// notepack.io 2.2.0, pinned in package-lock.json), for codec/sio_msgpack_test.go.
// Regenerate with:
//
//	cd test/interop && node msgpack-vectors.mjs | gzip -9n > ../../codec/testdata/msgpack_sio_vectors.json.gz
//
// Each vector is {name, dir, type, nsp, id, data, att, hex}: hex is what the
// npm Encoder writes for the packet as socket.io 4.8 (dir "out": the server's
// packets, key order as the server builds them) or socket.io-client 4.8
// (dir "in": the client's, with its "options" member and undefined auth) builds
// it; type, nsp, id (-1: none), data and att are the same packet in the JSON
// parser's form (data the JSON text, "" when absent, with every Buffer a
// placeholder {"_placeholder":true,"num":N} numbered depth first, att the
// Buffers in hex; type 5 / 6 when there are attachments).
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { Encoder } = require("socket.io-msgpack-parser");

const enc = new Encoder();

function jsonForm(v, att) {
  if (Buffer.isBuffer(v)) {
    att.push(v.toString("hex"));
    return { _placeholder: true, num: att.length - 1 };
  }
  if (Array.isArray(v)) return v.map((x) => jsonForm(x, att));
  if (v instanceof Date) return v;
  if (v !== null && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = jsonForm(x, att);
    return o;
  }
  return v;
}

const out = [];
function vec(name, dir, packet) {
  const att = [];
  const data = packet.data === undefined ? "" : JSON.stringify(jsonForm(packet.data, att));
  let type = packet.type;
  if (att.length > 0 && (type === 2 || type === 3)) type += 3;
  const [bytes] = enc.encode(packet);
  out.push({ name, dir, type, nsp: packet.nsp, id: packet.id ?? -1, data, att, hex: Buffer.from(bytes).toString("hex") });
}

const ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 9007199254740991,
  -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, -9007199254740991];
const floats = [0.5, -3.25, 0.1, 1e-7, 123456.789, 1.7976931348623157e300 / 1e300, -1e-300];
const strs = ["", "a".repeat(31), "b".repeat(32), "c".repeat(255), "d".repeat(256), "e".repeat(65535), "f".repeat(65536),
  "é€😀", "quote\" backslash\\ newline\n tab\t ctl\u0001", "/chat,x"];
const arr = (n) => Array.from({ length: n }, (_, i) => i);
const map = (n) => Object.fromEntries(arr(n).map((i) => ["k" + i, i]));

// Server to client, as socket.io 4.8 builds them.
vec("connect ack", "out", { type: 0, data: { sid: "Hd8p2Ye3vWbmrTZ7AAAB" }, nsp: "/" });
vec("connect ack with pid", "out", { type: 0, data: { sid: "Hd8p2Ye3vWbmrTZ7AAAB", pid: "pJ3w-x" }, nsp: "/chat" });
vec("connect error", "out", { type: 4, data: { message: "not authorized", data: { code: 42, retry: false } }, nsp: "/" });
vec("disconnect", "out", { type: 1, nsp: "/chat" });
vec("event", "out", { type: 2, data: ["hello", "world", 1], nsp: "/" });
vec("event with ack id", "out", { type: 2, data: ["q", { a: 1 }], id: 7, nsp: "/chat" });
vec("ack", "out", { id: 3, type: 3, data: ["ok", null, true, false], nsp: "/" });
vec("big ack id", "out", { id: 9007199254740991, type: 3, data: [], nsp: "/" });
vec("ints", "out", { type: 2, data: ["n", ...ints], nsp: "/" });
vec("floats", "out", { type: 2, data: ["f", ...floats], nsp: "/" });
vec("strings", "out", { type: 2, data: ["s", ...strs], nsp: "/" });
vec("containers", "out", { type: 2, data: ["c", arr(15), arr(16), new Array(65536).fill(0), map(15), map(16), [[[{ deep: [{}] }]]], []], nsp: "/" });
vec("binary", "out", { type: 2, data: ["bin", Buffer.from([1, 2, 3]), { nested: Buffer.alloc(300, 7), list: [Buffer.alloc(0), Buffer.alloc(70000, 9)] }], nsp: "/" });
vec("binary ack", "out", { id: 12, type: 3, data: [Buffer.from("reply")], nsp: "/b" });

// Client to server, as socket.io-client 4.8 builds them.
vec("client connect", "in", { type: 0, data: undefined, nsp: "/" });
vec("client connect auth", "in", { type: 0, data: { token: "t0k", n: 1.5 }, nsp: "/chat" });
vec("client event", "in", { type: 2, data: ["ev", 1, 2.5, "s", null, [1, 2], { a: { b: true } }], options: { compress: true }, nsp: "/" });
vec("client event with ack", "in", { type: 2, data: ["ev"], options: { compress: true }, id: 0, nsp: "/" });
vec("client binary event", "in", { type: 2, data: ["up", Buffer.from([0, 1, 2]), { x: Buffer.from("xyz") }], options: { compress: false }, id: 4, nsp: "/" });
vec("client ack", "in", { type: 3, id: 5, data: ["r", Buffer.from([255])], nsp: "/" });
vec("client disconnect", "in", { type: 1, nsp: "/chat" });
vec("client date and undefined", "in", { type: 2, data: ["d", new Date(1700000000123), undefined, -0], options: { compress: true }, nsp: "/" });
vec("client ints floats strings", "in", { type: 2, data: ["m", ...ints, ...floats, ...strs.slice(0, 5)], options: { compress: true }, nsp: "/" });

process.stdout.write("[\n" + out.map((v) => JSON.stringify(v)).join(",\n") + "\n]\n");
