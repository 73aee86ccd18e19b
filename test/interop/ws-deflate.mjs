// ws-deflate.mjs drives the real npm ws client (pinned in package-lock.json)
// against an Engine.IO WebSocket endpoint with permessage-deflate, and shows
// what crossed the wire: every frame the server sent is sniffed from the
// socket (its RSV1 bit tells a compressed frame) besides the message ws
// decoded from it. engine/deflate_interop_test.go runs it; by hand:
//
//	node ws-deflate.mjs <ws-url> '<perMessageDeflate JSON, or false>'
//	{"op":"send","data":"4hello","compress":true}
//
// Commands, one JSON object per line on stdin:
//
//	{"op":"send","data":…,"binary":bool,"hex":bool,"compress":bool}
//	    ws.send(data, {binary, compress}); with hex, data is hex (a Buffer)
//	{"op":"raw","hex":…,"rsv1":bool,"opcode":n}
//	    writes one masked frame built by ws's own Sender.frame straight to
//	    the socket, bypassing the client's compression: how a peer sends
//	    corrupt compressed data or RSV1 without negotiation
//	{"op":"close"}                    ws.close()
//
// Lines printed on stdout:
//
//	{"ev":"head","extensions":…}              the server's Sec-WebSocket-Extensions
//	{"ev":"open","extensions":…}              the extensions ws accepted
//	{"ev":"frame","rsv1":bool,"opcode":n,"len":n}  a frame as it came off the wire
//	{"ev":"message","binary":bool,"data":…}   what ws delivered (binary as hex)
//	{"ev":"close","code":n}                   the close code ws reports
//	{"ev":"error","message":…}
//
// The process exits after close, or after 15 s.
import net from "node:net";
import { createInterface } from "node:readline";
import WebSocket, { Sender } from "ws";

const [url, pmdArg] = process.argv.slice(2);
const perMessageDeflate = JSON.parse(pmdArg ?? "false");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// sniff parses the server's side of the connection: the HTTP response,
// then unmasked frames.
function sniff(sock) {
  let buf = Buffer.alloc(0);
  let inHead = true;
  sock.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (inHead) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const m = /\r\nsec-websocket-extensions: *([^\r]*)/i.exec(buf.subarray(0, end).toString());
      out({ ev: "head", extensions: m ? m[1] : "" });
      // What followed the head in this chunk comes again: ws unshifts
      // the upgrade's head bytes back into the socket.
      buf = Buffer.alloc(0);
      inHead = false;
      return;
    }
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      out({ ev: "frame", rsv1: (buf[0] & 0x40) !== 0, opcode: buf[0] & 0x0f, len });
      buf = buf.subarray(off + len);
    }
  });
}

let sock;
const ws = new WebSocket(url, {
  perMessageDeflate,
  createConnection(opts) {
    sock = net.connect(opts);
    sniff(sock);
    return sock;
  },
});

ws.on("open", () => out({ ev: "open", extensions: ws.extensions }));
ws.on("message", (data, isBinary) =>
  out({ ev: "message", binary: isBinary, data: isBinary ? Buffer.from(data).toString("hex") : data.toString() }),
);
ws.on("close", (code) => {
  out({ ev: "close", code });
  process.exit(0);
});
ws.on("error", (err) => out({ ev: "error", message: err.message }));

// Commands wait for the open (a send before it would throw).
const opened = new Promise((resolve) => ws.once("open", resolve));
const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  await opened;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    out({ ev: "error", message: "bad command: " + e.message });
    return;
  }
  switch (cmd.op) {
    case "send": {
      const data = cmd.hex ? Buffer.from(cmd.data, "hex") : cmd.data;
      ws.send(data, { binary: !!cmd.binary, compress: !!cmd.compress });
      break;
    }
    case "raw": {
      const frame = Sender.frame(Buffer.from(cmd.hex, "hex"), {
        fin: true,
        rsv1: !!cmd.rsv1,
        opcode: cmd.opcode ?? 1,
        mask: true,
        readOnly: false,
      });
      sock.write(Buffer.concat(frame));
      break;
    }
    case "close":
      ws.close();
      break;
    default:
      out({ ev: "error", message: "unknown op " + cmd.op });
  }
});

setTimeout(() => {
  out({ ev: "error", message: "timed out" });
  process.exit(1);
}, 15000).unref();
