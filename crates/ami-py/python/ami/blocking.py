"""The blocking client: the core's session loop on a plain socket.

One session, driven by the calling thread: :meth:`Client.send` reads and
writes until its action completes, :meth:`Client.next_event` until an event
arrives or its timeout passes. Every wait is bounded: by the action's
timeout (the config's ``action_timeout``, or ``Action.with_timeout``), the
login timeout, or the timeout you pass. Events wait in the core's bounded
queue (``event_queue``, ``queue_policy``) until read; a ``send`` reads past
a full queue (dropping and counting events under ``backpressure``), so an
answer never waits for a consumer of events. It does not reconnect: after
:class:`ami.errors.ConnectionLost`, make a new client.

Example::

    with ami.blocking.Client.connect("127.0.0.1", 5038, "admin", "amp111") as client:
        print(client.send("Ping")["Ping"])
        for event in client.events(timeout=5):
            print(event.name)

A client belongs to one thread at a time.
"""

from __future__ import annotations

import collections
import selectors
import socket
import time
from typing import Any, Deque, Dict, Iterator, Optional, Union

from . import _util
from ._core import Action, CloseReason, Completion, Config, Connection, Event, State
from .errors import SendError

__all__ = ["Client"]

#: Bytes read per `recv`: the core's per-wake budget.
_READ = 64 * 1024


class Client:
    """One blocking AMI session. Make it with :meth:`connect`.

    ``options`` are :class:`ami.Config`'s keywords, or pass a whole
    ``config``. ``connect_timeout`` bounds the TCP connect; the login is
    bounded by the config's ``login_timeout``.
    """

    def __init__(self, sock: socket.socket, config: Config) -> None:
        self.config = config
        self._sock = sock
        self._sock.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ)
        self._conn = Connection(config, time.monotonic())
        self._done: Dict[str, Completion] = {}
        self._events: Deque[Event] = collections.deque()
        self.close_reason: Optional[CloseReason] = None

    @classmethod
    def connect(
        cls,
        host: str,
        port: int = _util.PORT,
        username: str = "",
        secret: str = "",
        *,
        config: Optional[Config] = None,
        connect_timeout: float = 5.0,
        **options: Any,
    ) -> "Client":
        """A client logged in to ``host``:``port``. Raises ``OSError`` if the
        connect fails and a :class:`ami.errors.LoginError` if the login does."""
        config = _util.config(host, port, username, secret, config, options)
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(sock, config)
        try:
            while not client._conn.is_ready:
                if client._conn.is_closed:
                    reason = client.close_reason
                    if reason is not None and reason.error is not None:
                        raise reason.error
                    raise ConnectionError(f"session ended: {reason}")
                client._turn(None)
        except BaseException:
            client._shut()
            raise
        return client

    def send(self, action: Union[Action, str], /, **headers: Any) -> Any:
        """Sends an action and waits for its result (see
        :meth:`ami.aio.Client.send` for what it returns and raises)."""
        action_id = self._conn.send(_util.action(action, headers), time.monotonic())
        while action_id not in self._done:
            self._turn(None)
        return self._done.pop(action_id).result()

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, waiting up to ``timeout`` seconds (forever if
        ``None``); ``None`` if none came or the session has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._events:
                return self._events.popleft()
            self._events.extend(self._conn.poll_events(256))
            if self._events:
                return self._events.popleft()
            if self._conn.is_closed:
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            self._turn(deadline)

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Events as they come, until ``timeout`` seconds pass without one
        (never, if ``None``) or the session ends."""
        while True:
            event = self.next_event(timeout)
            if event is None:
                return
            yield event

    @property
    def is_ready(self) -> bool:
        """Whether actions can be sent."""
        return self._conn.is_ready

    @property
    def state(self) -> str:
        """The session's state: ``logging_in``, ``ready``, ``degraded``,
        ``logging_off`` or ``closed``."""
        return self._conn.state.name

    def stats(self) -> Dict[str, int]:
        """The core's counters."""
        return self._conn.stats()

    def close(self, timeout: float = 2.0) -> Optional[CloseReason]:
        """Logs off, waiting up to ``timeout`` seconds for ``Goodbye``, and
        closes the socket. Returns how the session ended."""
        conn = self._conn
        deadline = time.monotonic() + timeout
        if conn.is_ready:
            try:
                conn.logoff(time.monotonic())
            except SendError:  # no room to write it: just hang up
                pass
        while not conn.is_closed and time.monotonic() < deadline:
            self._turn(deadline)
        if not conn.is_closed:
            conn.handle_closed(time.monotonic())
            self._drain()
        self._shut()
        return self.close_reason

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- the loop ----

    def _turn(self, deadline: Optional[float]) -> None:
        """One turn of the loop: write, drain, wait for the socket or the
        next deadline (or ``deadline``), then feed what happened."""
        conn, sock = self._conn, self._sock
        while True:
            data = conn.poll_transmit()
            if data is None:
                break
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                conn.handle_closed(time.monotonic())
                break
            conn.advance(sent)
        self._drain()
        if conn.is_closed:
            return
        wake = conn.poll_timeout()
        if deadline is not None:
            wake = deadline if wake is None else min(wake, deadline)
        # Read while the core wants bytes, and always while an answer is
        # awaited: completions never wait for a consumer of events.
        mask = selectors.EVENT_READ if conn.wants_read or conn.pending > 0 else 0
        if conn.wants_write:
            mask |= selectors.EVENT_WRITE
        now = time.monotonic()
        ready = []
        if mask:
            self._selector.modify(sock, mask)
            ready = self._selector.select(None if wake is None else max(0.0, wake - now))
        elif wake is not None:
            time.sleep(max(0.0, wake - now))
        for _key, events in ready:
            if events & selectors.EVENT_READ:
                self._read()
        now = time.monotonic()
        due = conn.poll_timeout()
        if due is not None and due <= now:
            conn.handle_timeout(now)
        self._drain()

    def _read(self) -> None:
        try:
            data = self._sock.recv(_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self._conn.handle_input(data, time.monotonic())
        else:
            self._conn.handle_closed(time.monotonic())

    def _drain(self) -> None:
        while True:
            out = self._conn.poll_completion()
            if out is None:
                return
            if isinstance(out, Completion):
                self._done[out.action_id] = out
            elif isinstance(out, State) and out.name == "closed":
                self.close_reason = out.reason

    def _shut(self) -> None:
        self._selector.close()
        self._sock.close()
