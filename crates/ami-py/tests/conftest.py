"""Fixtures: the fake Asterisk (``ami serve``) as a subprocess, and small
scripted servers for what a faithful Asterisk never does.

The interface of ``ami serve`` these tests rely on (crates/ami-cli, ``ami
serve --help``):

- ``ami serve --port 0 [FLAGS]`` listens on 127.0.0.1 on a free port and
  prints ONE line on stdout, ``listening 127.0.0.1:PORT user=NAME
  secret=SECRET``, then serves until SIGTERM/SIGINT (exit 0); ``--port N``
  takes that port (the listener sets SO_REUSEADDR, so a killed server's
  port can be taken again at once);
- accounts ``admin:amp111`` (every permission) unless ``--users`` or
  ``--account`` replace them; a wrong secret is answered after a second;
- the stage of ``ami demo``: 12 channels up (``CoreShowChannels`` lists
  them), ``core show version`` and other CLI commands, ``--dest
  EXTEN=OUTCOME`` (``answer``, ``busy``, ``fail``, ...) for Originate
  outcomes of ``Local/EXTEN@default``, ``--legacy-command`` for Asterisk
  13's ``Response: Follows`` output;
- ``--flood N/s``: an endless flood of call events to every session that
  receives events, from its login on (written as fast as the socket takes
  them while the reader lags behind the rate).

The binary is ``$AMI_BIN`` if set, else ``target/debug/ami`` of this
workspace, built once per test session with ``cargo build -p ami-cli``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

WORKSPACE = Path(__file__).resolve().parents[3]
LISTENING = re.compile(r"^listening (\S+):(\d+) user=(\S+) secret=(\S+)")
#: How long a server may take to print its start line.
START_TIMEOUT = 30.0


def _ami_bin() -> str:
    explicit = os.environ.get("AMI_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", WORKSPACE / "target"))
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "ami-cli"],
        cwd=WORKSPACE,
        check=True,
    )
    return str(target / "debug" / "ami")


@pytest.fixture(scope="session")
def ami_bin() -> str:
    return _ami_bin()


class AmiServe:
    """One ``ami serve`` process: ``host``, ``port``, ``user``, ``secret``."""

    def __init__(self, binary: str, args: List[str], port: int = 0) -> None:
        self.args = args
        self._binary = binary
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", str(port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self._first_line()
        match = LISTENING.match(line)
        if match is None:
            self.kill()
            raise RuntimeError(f"ami serve printed {line!r}, not a listening line")
        self.host, self.port = match.group(1), int(match.group(2))
        self.user, self.secret = match.group(3), match.group(4)

    def _first_line(self) -> str:
        assert self.proc.stdout is not None
        found: List[str] = []
        reader = threading.Thread(target=lambda: found.append(self.proc.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(START_TIMEOUT)
        if not found:
            self.kill()
            raise RuntimeError("ami serve printed nothing")
        return found[0]

    def kill(self) -> None:
        """SIGKILL: connections drop without a word, as a crashed Asterisk's."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> "AmiServe":
        """A new server on the same port, with the same flags, in this
        object's place: the fixture that started it stops it."""
        self.proc = AmiServe(self._binary, self.args, self.port).proc
        return self


@pytest.fixture
def serve(ami_bin: str) -> Iterator[Callable[..., AmiServe]]:
    """``serve(*flags)`` starts an ``ami serve``; all are stopped at the end."""
    started: List[AmiServe] = []

    def start(*flags: str, port: int = 0) -> AmiServe:
        server = AmiServe(ami_bin, list(flags), port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def pbx(ami_bin: str) -> Iterator[AmiServe]:
    """One shared ``ami serve`` with the default stage, for tests that only
    read from it (and Originate to its ``--dest`` outcomes)."""
    server = AmiServe(
        ami_bin,
        ["--dest", "100=answer:0:1", "--dest", "busy=busy", "--dest", "999=fail"],
    )
    yield server
    server.stop()


class Scripted:
    """A one-connection TCP server on 127.0.0.1 that runs ``script(conn)``
    in a thread: for what a faithful Asterisk never does (a wrong banner,
    silence, answers out of order)."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self.port = self._listener.getsockname()[1]
        self._script = script
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            try:
                self._script(conn)
            except OSError:
                pass

    def close(self) -> None:
        self._listener.close()
        self._thread.join(5)


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[socket.socket], None]], Scripted]]:
    servers: List[Scripted] = []

    def start(script: Callable[[socket.socket], None]) -> Scripted:
        server = Scripted(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def read_action(conn: socket.socket, buf: bytearray) -> Optional[dict]:
    """Reads one action (up to its blank line) from ``conn``: its headers."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(4096)
        if not data:
            return None
        buf += data
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    buf[:] = rest
    headers = {}
    for line in head.decode().split("\r\n"):
        name, _, value = line.partition(": ")
        headers.setdefault(name, value)
    return headers


def until_closed(conn: socket.socket, limit: float = 10.0) -> None:
    """Reads and ignores everything until the client closes (at most
    ``limit`` seconds): a server that has stopped answering."""
    conn.settimeout(limit)
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def plain_login(conn: socket.socket, buf: bytearray) -> None:
    """The banner, then ``Success`` to whatever login comes."""
    conn.sendall(b"Asterisk Call Manager/11.0.0\r\n")
    login = read_action(conn, buf)
    assert login is not None
    conn.sendall(
        b"Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n"
        % login["ActionID"].encode()
    )
