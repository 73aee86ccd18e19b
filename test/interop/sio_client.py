#!/usr/bin/env python3
"""sio_client.py drives python-socketio's sync client (socketio.Client, the
Debian package python3-socketio) against a Socket.IO server and prints one
JSON line per observed event on stdout, like sio-client.mjs does for the npm
client. socketio/interop_test.go runs it; it can also be run by hand:

    python3 sio_client.py <url> <scenario> <transport> [--path /socket.io/] [--timeout-ms 20000]

    url        e.g. http://127.0.0.1:3000
    scenario   core
    transport  polling | websocket

The server application is the one of socketio/interop_test.go
(interopStartApp); keep the two in sync.

core:
  1. a client connects to /private: the server's middleware refuses it; the
     connect_error handler gets {"message":…,"data":…} and connect() raises
     socketio.exceptions.ConnectionError;
  2. a client (auth {"tag":"py"}) connects to / and /admin, emits "echo" with
     nested binary (the server echoes it and sends "server-bin"), call()s
     "ack-me" (server e.Ack), emits "ask-me" (the server emits "question" with
     an ack, answered by the handler's return value; the server then sends
     "answer-seen"), call()s "whoami" on /admin, then disconnects.

Events printed (one JSON object per line; "t" = ms since start; binary values
anywhere are {"$bin":"<hex>"}):

    {"event":"connect","sock":"py","nsp":…,"id":…,"transport":…}
    {"event":"connect_error","sock":…,"nsp":…,"message":…,"data":…}
    {"event":"exception","sock":…,"type":…,"message":…}
    {"event":"recv","sock":…,"nsp":…,"name":…,"args":[…],"transport":…}
    {"event":"ack","sock":…,"nsp":…,"name":…,"round":1,"args":[…],"transport":…}
    {"event":"disconnect","sock":…,"nsp":…}
    {"event":"wire","via":"post","body":…,"status":n}            (see RecordingSession)
    {"event":"wire","via":"ws","opcode":"text","text":…}          (and "binary", "close")
    {"event":"done","scenario":…}

Exit status: 0 when the scenario completed; 1 with a message on stderr on
failure or when it did not complete within --timeout-ms; 2 on bad usage.
"""

import json
import os
import sys
import threading
import time

START = time.monotonic()
_out_lock = threading.Lock()


def usage(msg):
    sys.stderr.write(msg + "\nusage: python3 sio_client.py <url> core <polling|websocket> "
                     "[--path p] [--timeout-ms n]\n")
    sys.stderr.flush()
    os._exit(2)


def parse_args(argv):
    positional = []
    flags = {"path": "/socket.io/", "timeout-ms": "20000"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if name not in flags:
                usage("unknown flag " + a)
            if not eq:
                i += 1
                if i >= len(argv):
                    usage("flag %s needs a value" % a)
                value = argv[i]
            flags[name] = value
        else:
            positional.append(a)
        i += 1
    if len(positional) != 3:
        usage("expected 3 positional arguments")
    url, scenario, transport = positional
    if scenario not in ("core",):
        usage("unknown scenario " + scenario)
    if transport not in ("polling", "websocket"):
        usage("bad transport " + transport)
    return url, scenario, transport, flags["path"], int(flags["timeout-ms"])


URL, SCENARIO, TRANSPORT, PATH, TIMEOUT_MS = parse_args(sys.argv[1:])

try:
    import socketio  # noqa: E402
except ImportError as exc:  # the Go test checks this before running us
    sys.stderr.write("sio_client.py: cannot import socketio (apt-get install python3-socketio): %s\n" % exc)
    sys.exit(1)


def plain(v):
    """JSON-able form of received values: binary becomes {"$bin": hex}."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"$bin": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    return v


def emit(**obj):
    line = json.dumps(dict(t=int((time.monotonic() - START) * 1000), **obj), ensure_ascii=False)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def finish(code, msg=None):
    with _out_lock:
        if msg:
            sys.stderr.write("sio_client.py: %s [%s]: %s\n" % (SCENARIO, TRANSPORT, msg))
        sys.stdout.flush()
        sys.stderr.flush()
    # The client's background threads (reader, writer, pinger) would keep
    # the process alive: leave at once.
    os._exit(code)


def on_overall_timeout():
    finish(1, "timed out after %d ms" % TIMEOUT_MS)


_timer = threading.Timer(TIMEOUT_MS / 1000.0, on_overall_timeout)
_timer.daemon = True
_timer.start()

# history of received events, for waiting on them
_hist = []
_hist_cond = threading.Condition()


def record(sock, nsp, name, args):
    with _hist_cond:
        _hist.append((sock, nsp, name, args))
        _hist_cond.notify_all()


def wait_event(sock, nsp, name, n=1, timeout=10.0):
    deadline = time.monotonic() + timeout
    with _hist_cond:
        while sum(1 for e in _hist if e[0] == sock and e[1] == nsp and e[2] == name) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("no %r event on %s (%s) within %.0fs" % (name, nsp, sock, timeout))
            _hist_cond.wait(left)


def transport_of(c):
    try:
        return c.transport()
    except Exception:  # noqa: BLE001
        return None


def wire(c, sock, nsp):
    """Log every event of client c on namespace nsp."""

    def on_connect():
        emit(event="connect", sock=sock, nsp=nsp, id=c.get_sid(nsp), transport=transport_of(c))
        record(sock, nsp, "$connect", [])

    def on_connect_error(*data):
        d = data[0] if len(data) == 1 else list(data)
        message = d.get("message") if isinstance(d, dict) else d
        extra = d.get("data") if isinstance(d, dict) else None
        emit(event="connect_error", sock=sock, nsp=nsp, message=message, data=plain(extra), raw=plain(d))
        record(sock, nsp, "$connect_error", [])

    def on_disconnect():
        emit(event="disconnect", sock=sock, nsp=nsp)
        record(sock, nsp, "$disconnect", [])

    def on_any(name, *args):
        emit(event="recv", sock=sock, nsp=nsp, name=name, args=plain(list(args)), transport=transport_of(c))
        record(sock, nsp, name, list(args))

    def on_question(*args):
        emit(event="recv", sock=sock, nsp=nsp, name="question", args=plain(list(args)), transport=transport_of(c))
        record(sock, nsp, "question", list(args))
        r, binary = args[0], args[1]
        # A tuple is sent as several acknowledgement arguments.
        return ("answer", bytes([r, 0xAA]), {"round": r, "got": binary})

    c.on("connect", on_connect, namespace=nsp)
    c.on("connect_error", on_connect_error, namespace=nsp)
    c.on("disconnect", on_disconnect, namespace=nsp)
    c.on("question", on_question, namespace=nsp)
    c.on("*", on_any, namespace=nsp)


def call(c, sock, nsp, name, *args):
    data = args[0] if len(args) == 1 else (tuple(args) if args else None)
    r = c.call(name, data, namespace=nsp, timeout=10)
    # call() returns the only argument, a tuple of several, or None.
    reply = list(r) if isinstance(r, tuple) else ([] if r is None else [r])
    emit(event="ack", sock=sock, nsp=nsp, name=name, round=1, args=plain(reply), transport=transport_of(c))
    return reply


# SIO_CLIENT_DEBUG=1 logs the client's and its engine's own traces on stderr.
DEBUG = bool(os.environ.get("SIO_CLIENT_DEBUG"))
if DEBUG:
    import logging

    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(relativeCreated)6dms %(threadName)s %(name)s: %(message)s")


# What the client really put on the wire, in order, so that the Go test can
# tell the server's behaviour from the client's races (python-engineio 4.3.4's
# disconnect() may close the WebSocket, or stop its polling writer thread,
# before its DISCONNECT packets leave):
#   {"event":"wire","via":"post","body":…,"status":n}   each polling POST, once answered
#   {"event":"wire","via":"ws","opcode":"text"|"binary"|"close",…}  each WebSocket frame sent
# Both are observed through public hooks: a requests.Session passed as the
# engine's http_session, and a wrapper of websocket.WebSocket.send_frame that
# records each frame once written (serialized, as the library does).
import requests  # noqa: E402
import websocket  # noqa: E402


class RecordingSession(requests.Session):
    def request(self, method, url, *args, **kwargs):
        r = super().request(method, url, *args, **kwargs)
        if method == "POST":
            body = kwargs.get("data")
            if isinstance(body, bytes):
                body = body.decode("utf-8", "replace")
            emit(event="wire", via="post", body=body, status=r.status_code)
        return r


_ws_lock = threading.RLock()
_orig_send_frame = websocket.WebSocket.send_frame


def _recording_send_frame(self, frame):
    with _ws_lock:
        n = _orig_send_frame(self, frame)
        if frame.opcode == websocket.ABNF.OPCODE_TEXT:
            data = frame.data.decode("utf-8", "replace") if isinstance(frame.data, bytes) else frame.data
            emit(event="wire", via="ws", opcode="text", text=data)
        elif frame.opcode == websocket.ABNF.OPCODE_BINARY:
            emit(event="wire", via="ws", opcode="binary", length=len(frame.data))
        elif frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            emit(event="wire", via="ws", opcode="close")
        return n


websocket.WebSocket.send_frame = _recording_send_frame


def new_client():
    return socketio.Client(reconnection=False, logger=DEBUG, engineio_logger=DEBUG,
                           http_session=RecordingSession())


def core():
    # 1. A middleware refusal with data.
    refused = new_client()
    wire(refused, "private", "/private")
    try:
        refused.connect(URL, transports=[TRANSPORT], namespaces=["/private"], socketio_path=PATH,
                        auth={"tag": "private"}, wait_timeout=2)
        emit(event="connect-succeeded", sock="private")
    except socketio.exceptions.ConnectionError as exc:
        emit(event="exception", sock="private", type=type(exc).__name__, message=str(exc))
    finally:
        try:
            refused.disconnect()
        except Exception:  # noqa: BLE001
            pass

    # 2. Events, acks, namespaces.
    c = new_client()
    wire(c, "py", "/")
    wire(c, "py", "/admin")
    c.connect(URL, transports=[TRANSPORT], namespaces=["/", "/admin"], socketio_path=PATH,
              auth={"tag": "py"}, wait_timeout=5)
    wait_event("py", "/", "welcome")
    wait_event("py", "/admin", "welcome")

    # Nested binary: bytes inside a dict inside a list, and deeper.
    payload = (
        1,
        "text ✓",
        [{"name": "inner", "buf": bytes([0, 1, 2, 253, 254, 255]), "list": ["héllo".encode(), 3]}],
        {"deep": {"arr": [[bytes([7])]]}},
    )
    c.emit("echo", payload)
    wait_event("py", "/", "echo")
    wait_event("py", "/", "server-bin")

    call(c, "py", "/", "ack-me", {"n": 7, "buf": bytes([5, 6])})

    c.emit("ask-me", 1)
    wait_event("py", "/", "answer-seen")

    call(c, "py", "/admin", "whoami")

    # The server may answer before the POST that carried "whoami" is
    # complete; python-engineio's writer would then drop the DISCONNECT
    # packets (its loop ends once the client is closing): let it finish.
    time.sleep(0.3)
    c.disconnect()
    emit(event="disconnected-by-client", sock="py")


def main():
    try:
        {"core": core}[SCENARIO]()
    except Exception as exc:  # noqa: BLE001
        emit(event="error", message="%s: %s" % (type(exc).__name__, exc))
        finish(1, "scenario failed: %s: %s" % (type(exc).__name__, exc))
    emit(event="done", scenario=SCENARIO)
    # Let the DISCONNECT packets and the close leave.
    time.sleep(0.2)
    finish(0)


if __name__ == "__main__":
    main()
