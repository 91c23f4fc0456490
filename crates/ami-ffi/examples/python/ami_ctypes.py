#!/usr/bin/env python3
"""One AMI session from Python through the ami-ffi C API, with ctypes only.

Shows the sans-IO loop in another language: Python owns the socket and the
monotonic clock, the Rust core owns the protocol. It logs in, sends a Ping, a
CoreShowChannels list and a Command, prints events, and logs off.

    cargo build -p ami-ffi
    AMI_FFI_LIB=target/debug/libami_ffi.so \
        python3 crates/ami-ffi/examples/python/ami_ctypes.py 127.0.0.1 5038 admin amp111

Without AMI_FFI_LIB the library is looked for in target/{debug,release}
(and their deps/) above this file, or in CARGO_TARGET_DIR. Run by
crates/ami-ffi/tests/c_abi.rs against the ami-testkit fake server.
"""

import ctypes as C
import os
import selectors
import socket
import sys
import time

# Constants of include/ami.h used here.
AMI_OK = 0
AMI_ACTION_ID_CAP = 65
AMI_AUTH_PLAIN = 1
AMI_OUTPUT_STATE, AMI_OUTPUT_COMPLETION, AMI_OUTPUT_EVENT = 1, 2, 3
AMI_STATE_READY, AMI_STATE_CLOSED = 2, 5
AMI_CLOSE_LOGGED_OFF = 4
CLOSE_NAMES = {1: "login failed", 2: "lost", 3: "heartbeat timeout", 4: "logged off"}


class Options(C.Structure):
    """`ami_options`, field for field."""

    _fields_ = [
        ("server", C.c_char_p),
        ("username", C.c_char_p),
        ("secret", C.c_char_p),
        ("auth", C.c_int),
        ("events", C.c_char_p),
        ("max_frame", C.c_uint64),
        ("event_queue", C.c_uint64),
        ("queue_policy", C.c_int),
        ("action_timeout_ms", C.c_uint64),
        ("login_timeout_ms", C.c_uint64),
        ("heartbeat_ms", C.c_uint64),
        ("seed", C.c_uint64),
    ]


STAT_FIELDS = (
    "bytes_in bytes_out frames responses events events_queued events_dropped_full "
    "events_dropped_oversized oversized_frames garbage desyncs actions_sent actions_ok "
    "actions_failed timeouts pending queue_depth queue_high_water write_buffered "
    "heartbeats heartbeat_misses"
).split()


class Stats(C.Structure):
    """`ami_stats`: 21 counters."""

    _fields_ = [(name, C.c_uint64) for name in STAT_FIELDS]


def find_library():
    """The shared library: $AMI_FFI_LIB, or the nearest cargo target dir."""
    if os.environ.get("AMI_FFI_LIB"):
        return os.environ["AMI_FFI_LIB"]
    name = "libami_ffi.dylib" if sys.platform == "darwin" else "libami_ffi.so"
    here = os.path.dirname(os.path.abspath(__file__))
    roots = [os.environ.get("CARGO_TARGET_DIR", "")]
    roots += [os.path.join(here, *[".."] * up, "target") for up in range(1, 5)]
    for root in filter(None, roots):
        for sub in ("debug", "release", "debug/deps", "release/deps"):
            path = os.path.join(root, sub, name)
            if os.path.exists(path):
                return path
    sys.exit("libami_ffi not found: build with `cargo build -p ami-ffi` or set AMI_FFI_LIB")


def load(path):
    """Loads the library and declares the signatures used here."""
    lib = C.CDLL(path)
    P, S, I, U64 = C.c_void_p, C.c_size_t, C.c_int, C.c_uint64
    STR, PSTR, PS = C.c_char_p, C.POINTER(C.c_char_p), C.POINTER(C.c_size_t)
    sigs = {
        "ami_version": (C.c_uint32, []),
        "ami_strerror": (STR, [I]),
        "ami_last_error": (STR, []),
        "ami_options_init": (I, [C.POINTER(Options)]),
        "ami_conn_new": (I, [C.POINTER(Options), U64, C.POINTER(P)]),
        "ami_conn_free": (None, [P]),
        "ami_conn_input": (I, [P, C.c_char_p, S, U64]),
        "ami_conn_timeout": (I, [P, U64]),
        "ami_conn_closed": (I, [P, U64]),
        "ami_conn_send": (I, [P, STR, C.POINTER(STR), C.POINTER(STR), S, U64, U64, C.c_char_p, S]),
        "ami_conn_transmit": (I, [P, C.POINTER(C.POINTER(C.c_uint8)), PS]),
        "ami_conn_advance": (I, [P, S]),
        "ami_conn_poll": (I, [P, C.POINTER(P)]),
        "ami_conn_next_timeout_ms": (I, [P, C.POINTER(U64)]),
        "ami_conn_wants_read": (I, [P]),
        "ami_conn_wants_write": (I, [P]),
        "ami_conn_stats": (I, [P, C.POINTER(Stats)]),
        "ami_conn_cancelled": (I, [P, C.POINTER(U64)]),
        "ami_output_kind": (I, [P]),
        "ami_output_state": (I, [P, C.POINTER(I), C.POINTER(I)]),
        "ami_output_action_id": (I, [P, PSTR, PS]),
        "ami_output_error": (I, [P, C.POINTER(I), PSTR, PS]),
        "ami_output_header_count": (S, [P]),
        "ami_output_header_name": (I, [P, S, PSTR, PS]),
        "ami_output_header_value": (I, [P, S, PSTR, PS]),
        "ami_output_get": (I, [P, STR, PSTR, PS]),
        "ami_output_item_count": (S, [P]),
        "ami_output_item_get": (I, [P, S, STR, PSTR, PS]),
        "ami_output_line_count": (S, [P]),
        "ami_output_line": (I, [P, S, PSTR, PS]),
        "ami_output_free": (None, [P]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def now_ms():
    """The caller's clock: monotonic milliseconds."""
    return int(time.monotonic() * 1000)


class Output:
    """One `ami_output`, copied into Python values and freed at once."""

    def __init__(self, lib, ptr):
        self.kind = lib.ami_output_kind(ptr)
        self.state = self.reason = None
        self.action_id = None
        if self.kind == AMI_OUTPUT_STATE:
            state, reason = C.c_int(), C.c_int()
            check(lib, lib.ami_output_state(ptr, C.byref(state), C.byref(reason)))
            self.state, self.reason = state.value, reason.value
        if self.kind == AMI_OUTPUT_COMPLETION:
            self.action_id = self._text(lib, lib.ami_output_action_id, ptr)
        code = C.c_int()
        self.error = self._text(lib, lambda p, s, n: lib.ami_output_error(p, C.byref(code), s, n), ptr)
        self.fail = code.value
        self.headers = [
            (self._text(lib, lib.ami_output_header_name, ptr, i),
             self._text(lib, lib.ami_output_header_value, ptr, i))
            for i in range(lib.ami_output_header_count(ptr))
        ]
        self.items = []
        for item in range(lib.ami_output_item_count(ptr)):
            s, n = C.c_char_p(), C.c_size_t()
            found = lib.ami_output_item_get(ptr, item, b"Channel", C.byref(s), C.byref(n))
            self.items.append(C.string_at(s, n.value).decode() if found == 1 else None)
        self.lines = [self._text(lib, lib.ami_output_line, ptr, i)
                      for i in range(lib.ami_output_line_count(ptr))]
        s, n = C.c_char_p(), C.c_size_t()
        self.name = None
        if lib.ami_output_get(ptr, b"event", C.byref(s), C.byref(n)) == 1:
            self.name = C.string_at(s, n.value).decode()
        lib.ami_output_free(ptr)

    @staticmethod
    def _text(lib, fn, ptr, *index):
        s, n = C.c_char_p(), C.c_size_t()
        check(lib, fn(ptr, *index, C.byref(s), C.byref(n)))
        return C.string_at(s, n.value).decode("utf-8", "replace")

    def get(self, name):
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def check(lib, rc):
    if rc < 0:
        raise RuntimeError(f"{lib.ami_strerror(rc).decode()}: {lib.ami_last_error().decode()}")
    return rc


class Session:
    """The loop of ami.h: flush, drain, wait; repeated until a goal is met."""

    def __init__(self, lib, host, port, user, secret):
        self.lib = lib
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.setblocking(False)
        opts = Options()
        check(lib, lib.ami_options_init(C.byref(opts)))
        opts.server, opts.username, opts.secret = b"pbx-py", user.encode(), secret.encode()
        opts.auth = AMI_AUTH_PLAIN  # loopback only
        self.conn = C.c_void_p()
        check(lib, lib.ami_conn_new(C.byref(opts), now_ms(), C.byref(self.conn)))
        self.state = None
        self.done = {}

    def flush(self):
        data, n = C.POINTER(C.c_uint8)(), C.c_size_t()
        while check(self.lib, self.lib.ami_conn_transmit(self.conn, C.byref(data), C.byref(n))) == 1:
            try:
                sent = self.sock.send(C.string_at(data, n.value))
            except BlockingIOError:
                return
            except OSError:
                check(self.lib, self.lib.ami_conn_closed(self.conn, now_ms()))
                return
            check(self.lib, self.lib.ami_conn_advance(self.conn, sent))

    def drain(self):
        ptr = C.c_void_p()
        while check(self.lib, self.lib.ami_conn_poll(self.conn, C.byref(ptr))) == 1:
            out = Output(self.lib, ptr)
            if out.kind == AMI_OUTPUT_STATE:
                self.state = out.state
                if out.state == AMI_STATE_READY:
                    print("state: ready")
                elif out.state == AMI_STATE_CLOSED:
                    print(f"state: closed ({CLOSE_NAMES.get(out.reason, out.reason)})")
            elif out.kind == AMI_OUTPUT_EVENT:
                print(f"event: {out.name}")
            elif out.kind == AMI_OUTPUT_COMPLETION:
                self.done[out.action_id] = out

    def wait(self, give_up):
        deadline = give_up
        at = C.c_uint64()
        if check(self.lib, self.lib.ami_conn_next_timeout_ms(self.conn, C.byref(at))) == 1:
            deadline = min(deadline, at.value)
        events = 0
        if self.lib.ami_conn_wants_read(self.conn) == 1:
            events |= selectors.EVENT_READ
        if self.lib.ami_conn_wants_write(self.conn) == 1:
            events |= selectors.EVENT_WRITE
        ready = []
        if events:
            with selectors.DefaultSelector() as sel:
                sel.register(self.sock, events)
                ready = sel.select(max(0, deadline - now_ms()) / 1000)
        else:
            time.sleep(max(0, deadline - now_ms()) / 1000)
        if any(mask & selectors.EVENT_READ for _, mask in ready):
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data:
                check(self.lib, self.lib.ami_conn_input(self.conn, data, len(data), now_ms()))
            elif data == b"":
                check(self.lib, self.lib.ami_conn_closed(self.conn, now_ms()))
        check(self.lib, self.lib.ami_conn_timeout(self.conn, now_ms()))
        if now_ms() > give_up:
            raise TimeoutError("gave up waiting")

    def run_until(self, goal, seconds=5):
        give_up = now_ms() + int(seconds * 1000)
        while True:
            self.flush()
            self.drain()
            if goal():
                return
            if self.state == AMI_STATE_CLOSED:
                raise RuntimeError("session closed")
            self.wait(give_up)

    def call(self, action, **headers):
        """Sends an action and returns its completion."""
        names = (C.c_char_p * len(headers))(*[k.encode() for k in headers])
        values = (C.c_char_p * len(headers))(*[v.encode() for v in headers.values()])
        id_buf = C.create_string_buffer(AMI_ACTION_ID_CAP)
        check(self.lib, self.lib.ami_conn_send(
            self.conn, action.encode(), names, values, len(headers), 0, now_ms(),
            id_buf, AMI_ACTION_ID_CAP))
        action_id = id_buf.value.decode()
        self.run_until(lambda: action_id in self.done)
        return self.done.pop(action_id)


def main():
    if len(sys.argv) < 3:
        sys.exit(f"usage: {sys.argv[0]} HOST PORT [USER] [SECRET]")
    host, port = sys.argv[1], int(sys.argv[2])
    user = sys.argv[3] if len(sys.argv) > 3 else "admin"
    secret = sys.argv[4] if len(sys.argv) > 4 else "amp111"
    lib = load(find_library())
    v = lib.ami_version()
    print(f"ami-ffi C API {v >> 16}.{(v >> 8) & 0xff}.{v & 0xff}")

    s = Session(lib, host, port, user, secret)
    try:
        s.run_until(lambda: s.state == AMI_STATE_READY)
        ping = s.call("Ping")
        print(f"ping: {ping.get('Ping')}")
        channels = s.call("CoreShowChannels")
        print(f"channels: {len(channels.items)}")
        for name in channels.items:
            print(f"channel: {name}")
        version = s.call("Command", Command="core show version")
        for line in version.lines:
            print(f"line: {line}")
        s.call("Logoff")
        s.run_until(lambda: s.state == AMI_STATE_CLOSED)
        stats = Stats()
        check(lib, lib.ami_conn_stats(s.conn, C.byref(stats)))
        cancelled = C.c_uint64()
        check(lib, lib.ami_conn_cancelled(s.conn, C.byref(cancelled)))
        print(f"stats: actions_sent={stats.actions_sent} events={stats.events} "
              f"cancelled={cancelled.value}")
    finally:
        lib.ami_conn_free(s.conn)
        s.sock.close()


if __name__ == "__main__":
    main()
