"""Benchmarks of the Python package against the fake Asterisk, each beside a
pure-Python baseline measured in the same run.

    python crates/ami-py/tests/bench.py [--quick] [--panoramisk] [flood] [ping]

(``cargo xtask bench`` runs it with the test virtual environment.)

- event flood: ``async for event in client.events()`` of ``ami.aio``, reading
  each ``event.name`` (events as objects, drop-oldest with the default
  10,000-event queue, counted as delivered) against a pure-Python asyncio reader that only
  splits the stream into frames (``bytes.split`` in ``data_received``:
  the least any Python AMI client must do), both reading the same ``ami
  serve --flood`` server: events/s, CPU time per event, peak RSS;
- pings: ``await client.send("Ping")`` one at a time and with 64 in flight,
  against a raw asyncio request/response loop over the same protocol;
- with ``--panoramisk``: panoramisk's event flood (``pip install
  panoramisk==1.4`` first), side by side.

Each client runs in a child process, so its CPU time and peak RSS
(``ru_maxrss``) are its own.

The flood is ``ami serve``'s own: a few thousand of its ``--flood`` events
are captured once, then a replay server (another child process) writes
them pre-rendered, round-robin, as fast as the socket takes them, after
answering the login. ``ami serve --flood`` itself stops at 1,000,000
events/s, a rate a Python reader can reach: measured against it, both
clients would show the server's cap. The replay keeps the figures
client-bound, as the design asks of every baseline.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

WORKSPACE = Path(__file__).resolve().parents[3]
FLOOD_RATE = "1000000/s"
LOGIN = b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: %s\r\n\r\n"

# ---- the children: one measurement each, printed as one JSON line ----


def _usage() -> Dict[str, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu": ru.ru_utime + ru.ru_stime, "rss_kb": _peak_rss_kb(ru.ru_maxrss)}


def _peak_rss_kb(maxrss: int) -> int:
    """This process's peak RSS: ``VmHWM`` where there is one (``ru_maxrss``
    keeps the parent's across ``exec``, so it would show the bench's own)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return maxrss


def _report(count: int, secs: float, cpu_before: float) -> None:
    usage = _usage()
    print(json.dumps({"count": count, "secs": secs, "cpu": usage["cpu"] - cpu_before,
                      "rss_kb": usage["rss_kb"]}))


class _Splitter(asyncio.Protocol):
    """The baseline: logs in, then only splits the stream into frames."""

    def __init__(self, wanted: int, done: "asyncio.Future[float]", events: bytes) -> None:
        self.wanted, self.done, self.events = wanted, done, events
        self.tail = b""
        self.frames = 0
        self.started: Optional[float] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(LOGIN % self.events)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.started is None:
            self.started = time.perf_counter()
        frames = (self.tail + data).split(b"\r\n\r\n")
        self.tail = frames.pop()
        for _frame in frames:
            self.frames += 1
        if self.frames >= self.wanted and not self.done.done():
            self.done.set_result(time.perf_counter() - self.started)


async def flood_split(port: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    cpu = _usage()["cpu"]
    done: asyncio.Future[float] = loop.create_future()
    transport, proto = await loop.create_connection(
        lambda: _Splitter(count, done, b"on"), "127.0.0.1", port
    )
    secs = await done
    transport.close()
    _report(proto.frames, secs, cpu)


async def flood_ami(port: int, count: int) -> None:
    import ami.aio

    cpu = _usage()["cpu"]
    client = await ami.aio.Client.connect("127.0.0.1", port, "admin", "amp111", auth="plain")
    n, started = 0, 0.0
    async for event in client.events():
        event.name  # what any consumer reads first, to dispatch
        if n == 0:
            started = time.perf_counter()
        n += 1
        if n == count:
            break
    secs = time.perf_counter() - started
    _report(n, secs, cpu)
    await client.close(timeout=0.1)  # the replay never says Goodbye


async def flood_panoramisk(port: int, count: int) -> None:
    import panoramisk

    cpu = _usage()["cpu"]
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    manager = panoramisk.Manager(loop=loop, host="127.0.0.1", port=port,
                                 username="admin", secret="amp111", ping_delay=3600)
    state = {"n": 0, "started": 0.0}

    def on_event(_manager: Any, _message: Any) -> None:
        if state["n"] == 0:
            state["started"] = time.perf_counter()
        state["n"] += 1
        if state["n"] == count and not done.done():
            done.set_result(None)

    manager.register_event("*", on_event)
    await manager.connect()
    await done
    _report(int(state["n"]), time.perf_counter() - state["started"], cpu)
    manager.close()


class _Pinger(asyncio.Protocol):
    """The ping baseline: raw Ping actions, answers counted by frame."""

    def __init__(self, total: int, window: int, done: "asyncio.Future[float]") -> None:
        self.total, self.window, self.done = total, window, done
        self.sent = self.answered = 0
        self.tail = b""
        self.logged_in = False
        self.started = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(LOGIN % b"off")  # type: ignore[attr-defined]

    def _send(self, n: int) -> None:
        n = min(n, self.total - self.sent)
        if n > 0:
            self.transport.write(b"".join(  # type: ignore[attr-defined]
                b"Action: Ping\r\nActionID: p%d\r\n\r\n" % (self.sent + i) for i in range(n)))
            self.sent += n

    def data_received(self, data: bytes) -> None:
        frames = (self.tail + data).split(b"\r\n\r\n")
        self.tail = frames.pop()
        answered = self.answered
        for frame in frames:
            if frame.startswith(b"Asterisk Call Manager/"):
                frame = frame.partition(b"\r\n")[2]  # the banner, then the login's answer
            if not frame.startswith(b"Response:"):
                continue
            if not self.logged_in:
                self.logged_in = True
                self.started = time.perf_counter()
                self._send(self.window)
                continue
            self.answered += 1
        # One write for every answer of this read, as a tuned client would.
        self._send(self.answered - answered)
        if self.answered >= self.total and not self.done.done():
            self.done.set_result(time.perf_counter() - self.started)


async def ping_raw(port: int, count: int, window: int) -> None:
    loop = asyncio.get_running_loop()
    cpu = _usage()["cpu"]
    done: asyncio.Future[float] = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: _Pinger(count, window, done), "127.0.0.1", port
    )
    secs = await done
    transport.close()
    _report(count, secs, cpu)


async def ping_ami(port: int, count: int, window: int) -> None:
    import ami.aio

    cpu = _usage()["cpu"]
    client = await ami.aio.Client.connect(
        "127.0.0.1", port, "admin", "amp111", auth="plain", events="off", heartbeat_interval=None
    )

    async def worker(n: int) -> None:
        for _ in range(n):
            await client.send("Ping")

    started = time.perf_counter()
    share, extra = divmod(count, window)
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(window)))
    secs = time.perf_counter() - started
    _report(count, secs, cpu)
    await client.close()


def replay_server(pool_file: str) -> None:
    """Serves the captured flood to every client: the banner, ``Success``
    to its login, then the events round-robin until it hangs up."""
    pool = Path(pool_file).read_bytes()
    chunk = pool * max(1, (1 << 20) // len(pool))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    print(listener.getsockname()[1], flush=True)

    def session(conn: socket.socket) -> None:
        with conn:
            conn.sendall(b"Asterisk Call Manager/11.0.0\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
            action_id = re.search(rb"ActionID: (\S+)", buf)
            answer = b"Response: Success\r\n"
            if action_id:
                answer += b"ActionID: " + action_id.group(1) + b"\r\n"
            conn.sendall(answer + b"Message: Authentication accepted\r\n\r\n")
            try:
                while True:
                    conn.sendall(chunk)
            except OSError:
                return

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=session, args=(conn,), daemon=True).start()


CHILDREN = {
    "flood-split": flood_split,
    "flood-ami": flood_ami,
    "flood-panoramisk": flood_panoramisk,
    "ping-raw": ping_raw,
    "ping-ami": ping_ami,
}


def child(name: str, port: int, args: List[int]) -> None:
    asyncio.run(asyncio.wait_for(CHILDREN[name](port, *args), 300))


def capture(port: int, events: int) -> bytes:
    """``events`` events of a flooding ``ami serve``, as it wrote them."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(LOGIN % b"on")
        buf = b""
        while buf.count(b"\r\n\r\n") < events + 10:
            buf += sock.recv(1 << 20)
    frames = buf.split(b"\r\n\r\n")[:-1]
    flood = [f for f in frames if f.startswith(b"Event: ")][-events:]
    return b"".join(f + b"\r\n\r\n" for f in flood)


class Replay:
    """The replay server, a child process (see the module's doc)."""

    def __init__(self, pool: bytes) -> None:
        self._file = tempfile.NamedTemporaryFile(prefix="ami-bench-flood-", delete=False)
        self._file.write(pool)
        self._file.close()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--replay", self._file.name],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        os.unlink(self._file.name)


# ---- the parent: servers, children, the table ----


class Serve:
    """``ami serve`` on a free port (see tests/conftest.py for its interface)."""

    def __init__(self, *flags: str) -> None:
        binary = os.environ.get("AMI_BIN") or self._build()
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", "0", "--channels", "0", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.match(r"listening \S+:(\d+)", line)
        if match is None:
            self.stop()
            raise SystemExit(f"bench: ami serve printed {line!r}")
        self.port = int(match.group(1))

    @staticmethod
    def _build() -> str:
        subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "ami-cli"],
                       cwd=WORKSPACE, check=True)
        target = Path(os.environ.get("CARGO_TARGET_DIR", WORKSPACE / "target"))
        return str(target / "release" / "ami")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


def measure(name: str, port: int, *args: int) -> Optional[Dict[str, float]]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, str(port), *map(str, args)],
        capture_output=True, text=True, timeout=600,
    )
    if out.returncode != 0:
        print(f"  {name}: failed\n{out.stderr.strip()[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(label: str, run: Optional[Dict[str, float]], base: Optional[Dict[str, float]] = None,
        unit: str = "events") -> None:
    if run is None:
        return
    rate = run["count"] / run["secs"]
    cpu_us = run["cpu"] / run["count"] * 1e6
    ratio = ""
    if base is not None:
        base_rate, base_cpu = base["count"] / base["secs"], base["cpu"] / base["count"] * 1e6
        ratio = f"  {rate / base_rate:6.1%} of the baseline's rate, {base_cpu / cpu_us:6.1%} of its CPU efficiency"
    print(f"  {label:<44} {rate:>12,.0f} {unit}/s  {cpu_us:6.2f} us CPU each  "
          f"{run['rss_kb'] / 1024:6.1f} MB peak RSS{ratio}")


def main(argv: List[str]) -> None:
    if argv[:1] == ["--child"]:
        return child(argv[1], int(argv[2]), [int(a) for a in argv[3:]])
    if argv[:1] == ["--replay"]:
        return replay_server(argv[1])
    quick = "--quick" in argv
    parts = [a for a in argv if not a.startswith("--")] or ["flood", "ping"]
    events, pings = (100_000, 5_000) if quick else (1_000_000, 40_000)
    print(f"ami-py bench: {events} flood events, {pings} pings per client "
          f"(Python {sys.version.split()[0]}; each client a child process)")

    if "flood" in parts:
        flood_part(events, "--panoramisk" in argv)
    if "ping" in parts:
        ping_part(pings)


def flood_part(events: int, panoramisk: bool) -> None:
    flood = Serve("--flood", FLOOD_RATE)
    try:
        pool = capture(flood.port, 4096)
    finally:
        flood.stop()
    replay = Replay(pool)
    try:
        print(f"event flood (ami serve's events, {len(pool) // 4096} bytes each on average, replayed):")
        base = measure("flood-split", replay.port, events)
        row("pure-Python asyncio frame splitter (baseline)", base)
        row("ami.aio: async for event in client.events(), event.name", measure("flood-ami", replay.port, events), base)
        if panoramisk:
            try:
                import panoramisk  # noqa: F401
            except ImportError:
                print("  panoramisk: not installed (pip install panoramisk==1.4): skipped")
            else:
                row("panoramisk 1.4: register_event('*')",
                    measure("flood-panoramisk", replay.port, events // 10), base)
    finally:
        replay.stop()


def ping_part(pings: int) -> None:
    quiet = Serve()
    try:
        for window in (1, 64):
            print(f"ping, {window} in flight:")
            base = measure("ping-raw", quiet.port, pings, window)
            row("raw asyncio request/response (baseline)", base, unit="pings")
            row("ami.aio: await client.send('Ping')", measure("ping-ami", quiet.port, pings, window),
                base, unit="pings")
    finally:
        quiet.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
