"""The asyncio client: the core's session loop on asyncio's callbacks.

Everything about the protocol is the core's (``ami._core.Connection``); this
module only moves bytes and times between it and asyncio, as every adapter
of the core does:

- bytes the transport reads go to ``handle_input``; what ``poll_transmit``
  lends goes to the transport (held back while the transport's buffer is
  above its high-water mark, so the core's write buffer bound applies);
- completions resolve the futures of ``send``; events move into each
  stream's bounded ``EventQueue`` (``fan_out``), under the configured drop
  policy; under ``backpressure`` a full stream stops the reading of the
  socket, except while an answer is awaited (completions never wait for a
  consumer of events);
- one timer, armed at ``poll_timeout``, drives action timeouts, the login
  deadline and the heartbeat;
- between sessions, the core's ``ReconnectPolicy`` says when to try again.

Example::

    async with await ami.aio.Client.connect("127.0.0.1", 5038, "admin", "amp111") as client:
        print(await client.send("Ping"))
        async for event in client.events("Hangup"):
            print(event["Channel"], event["Cause-txt"])
"""

from __future__ import annotations

import asyncio
import collections
import socket
from typing import Any, Deque, Dict, List, Optional, Union

from . import _util
from ._core import (
    Action,
    CloseReason,
    Completion,
    Config,
    Connection,
    Event,
    EventQueue,
    ReconnectPolicy,
    State,
)
from .errors import ConnectionLost, NotReady, SendError

__all__ = ["Client", "EventStream", "Pending"]

#: Events a stream takes from its queue at once.
_BATCH = 256


class Pending:
    """An action on its way: await it for its result, or ``cancel()`` it.

    Awaiting gives what :meth:`Client.send` returns, or raises its error.
    """

    __slots__ = ("action_id", "_future", "_client")

    def __init__(self, client: "Client", action_id: str, future: "asyncio.Future[Any]") -> None:
        self.action_id = action_id
        self._future = future
        self._client = client

    def __await__(self):
        return self._future.__await__()

    def done(self) -> bool:
        """Whether the action has completed."""
        return self._future.done()

    def cancel(self) -> bool:
        """Completes the action with :class:`ami.errors.Cancelled` now (a late
        answer is ignored). Returns whether it was still pending."""
        cancelled = self._client._cancel(self.action_id)
        if self._future.done() and not self._future.cancelled():
            self._future.exception()  # seen: awaiting it still raises
        return cancelled


class EventStream:
    """A subscription to a client's events: ``async for event in stream``.

    Backed by its own bounded :class:`ami.EventQueue` (the client's
    ``event_queue`` capacity and ``queue_policy`` unless given), filled by
    the client as events arrive; reading takes them from it 256 at a time,
    so a stream holds at most its capacity plus 256 events. It ends after
    the client closes for good, once its queued events are consumed, or when
    :meth:`close` is called. Also an async context manager that closes it.
    """

    def __init__(self, client: "Client", queue: EventQueue) -> None:
        self._client = client
        self.queue = queue
        self._buf: Deque[Event] = collections.deque()
        self._waiter: Optional[asyncio.Future[None]] = None

    def __aiter__(self) -> "EventStream":
        return self

    async def __anext__(self) -> Event:
        if self._buf:
            return self._buf.popleft()
        event = await self._wait(None)
        if event is None:
            raise StopAsyncIteration
        return event

    async def next(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, or ``None`` if ``timeout`` seconds pass first or
        the stream has ended."""
        if self._buf:
            return self._buf.popleft()
        deadline = None if timeout is None else self._client._loop.time() + timeout
        return await self._wait(deadline)

    async def _wait(self, deadline: Optional[float]) -> Optional[Event]:
        loop = self._client._loop
        while True:
            batch = self.queue.pop_many(_BATCH)
            if batch:
                self._client._consumed()
                self._buf.extend(batch)
                return self._buf.popleft()
            if self.queue.closed:
                return None
            waiter = self._waiter = loop.create_future()
            timer = None
            if deadline is not None:
                timer = loop.call_at(deadline, _wake, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if deadline is not None and loop.time() >= deadline and not len(self.queue):
                return None

    def _wake(self) -> None:
        if self._waiter is not None:
            _wake(self._waiter)

    def __len__(self) -> int:
        """Events waiting: taken from the queue but not yet read, and queued."""
        return len(self._buf) + len(self.queue)

    @property
    def dropped(self) -> int:
        """Events this stream lost to its policy."""
        return self.queue.dropped

    def close(self) -> None:
        """Unsubscribes: no more events are queued; those already queued can
        still be read."""
        self._client._unsubscribe(self)
        self.queue.close()
        self._wake()

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


def _wake(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Protocol(asyncio.Protocol):
    """Forwards one transport's callbacks to its client, with the session's
    number, so a late callback of an old transport is ignored."""

    def __init__(self, client: "Client", session: int) -> None:
        self._client = client
        self._session = session

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._client._guard(self._session, self._client._on_connected, transport)

    def data_received(self, data: bytes) -> None:
        self._client._guard(self._session, self._client._on_data, data)

    def eof_received(self) -> bool:
        return False  # close the transport: AMI has no half-close

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._client._guard(self._session, self._client._on_lost)

    def pause_writing(self) -> None:
        self._client._write_paused = True

    def resume_writing(self) -> None:
        self._client._write_paused = False
        self._client._guard(self._session, self._client._pump)


class Client:
    """An AMI client on asyncio that reconnects by itself.

    Make one with :meth:`connect` (which waits for the first login and
    raises if it fails), then ``await client.send(...)`` and
    ``async for event in client.events(...)``. After a lost session it
    reconnects as the core's :class:`ami.ReconnectPolicy` says; sends made
    meanwhile raise :class:`ami.errors.NotReady` (see :meth:`wait_ready`).

    ``options`` are :class:`ami.Config`'s keywords (``auth``, ``events``,
    ``action_timeout``, ``event_queue``, ``queue_policy``, ...), or pass a
    whole ``config``. ``connect_timeout`` bounds each TCP connect;
    ``policy`` replaces the default reconnect policy; ``reconnect=False``
    ends the client with its first session.
    """

    def __init__(
        self,
        host: str,
        port: int = _util.PORT,
        username: str = "",
        secret: str = "",
        *,
        config: Optional[Config] = None,
        policy: Optional[ReconnectPolicy] = None,
        connect_timeout: float = 5.0,
        reconnect: bool = True,
        **options: Any,
    ) -> None:
        self.config = _util.config(host, port, username, secret, config, options)
        self._host, self._port = host, port
        self._policy = policy if policy is not None else ReconnectPolicy(self.config.session_seed(2**64 - 1))
        self._connect_timeout = connect_timeout
        self._reconnect = reconnect
        self._loop = asyncio.get_running_loop()
        # The session (None between sessions).
        self._conn: Optional[Connection] = None
        self._transport: Optional[asyncio.Transport] = None
        self._session = 0
        self._session_end: Optional[asyncio.Future[CloseReason]] = None
        self._write_paused = False
        self._read_paused = False
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at: Optional[float] = None
        self._pump_scheduled = False
        # Across sessions.
        self._waiters: Dict[str, asyncio.Future[Any]] = {}
        self._streams: List[EventStream] = []
        self._queues: List[EventQueue] = []
        self._held = False
        self._state = "connecting"
        self._ready = asyncio.Event()
        self._first: Optional[asyncio.Future[None]] = None
        self._closing = False
        self._wake: Optional[asyncio.Future[None]] = None
        self._task: Optional[asyncio.Task[None]] = None
        self.close_reason: Optional[CloseReason] = None
        self._sessions = 0
        self._ready_seen = False  # this session has logged in

    # ---- public API ----

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int = _util.PORT,
        username: str = "",
        secret: str = "",
        **kwargs: Any,
    ) -> "Client":
        """A client logged in to ``host``:``port``. Raises ``OSError`` (or
        ``TimeoutError``) if the first connect fails and a
        :class:`ami.errors.LoginError` if the first login does; later
        sessions reconnect by themselves."""
        client = cls(host, port, username, secret, **kwargs)
        await client.start()
        return client

    async def start(self) -> None:
        """Starts the client and waits for its first login (see :meth:`connect`)."""
        if self._task is not None:
            raise RuntimeError("the client has already started")
        self._first = self._loop.create_future()
        self._task = self._loop.create_task(self._run())
        try:
            await self._first
        except BaseException:
            await self.close()
            raise

    def submit(self, action: Union[Action, str], /, **headers: Any) -> Pending:
        """Sends an action and returns at once with its :class:`Pending`
        handle (await it, or cancel it). Raises a
        :class:`ami.errors.SendError` if refused (nothing was sent)."""
        action_id, future = self._send(_util.action(action, headers))
        return Pending(self, action_id, future)

    async def send(self, action: Union[Action, str], /, **headers: Any) -> Any:
        """Sends an action and returns its result: a :class:`ami.Response`,
        an :class:`ami.EventList` (list actions), a :class:`ami.CommandOutput`
        (``Command``) or an :class:`ami.OriginateOutcome` (async Originate).

        ``send("Originate", Channel="PJSIP/100", ...)`` or
        ``send(Action(...))``. Raises :class:`ami.errors.SendError` if
        refused before sending, an :class:`ami.errors.ActionError` if it
        ended badly (server error, timeout, connection lost, ...). Cancelling
        the awaiting task cancels the action in the core.
        """
        action_id, future = self._send(_util.action(action, headers))
        try:
            return await future
        except asyncio.CancelledError:
            self._cancel(action_id)
            raise

    def _send(self, action: Action) -> "tuple[str, asyncio.Future[Any]]":
        conn = self._conn
        if conn is None:
            raise NotReady(f"connection is not ready ({self._state})", state=self._state)
        action_id = conn.send(action, self._loop.time())
        future = self._loop.create_future()
        self._waiters[action_id] = future
        if len(self._waiters) == 1:
            self._pump()  # alone in flight: written at once
        else:
            # Written at the end of this turn of the loop: the actions sent
            # in one turn leave in one write.
            self._pump_soon()
        return action_id, future

    def events(
        self,
        *names: str,
        capacity: Optional[int] = None,
        policy: Optional[str] = None,
    ) -> EventStream:
        """A new stream of the events named ``names`` (ASCII case ignored;
        all events if none), from now on. ``capacity`` and ``policy``
        (``drop-oldest``, ``drop-newest``, ``backpressure``) default to the
        config's ``event_queue`` and ``queue_policy``."""
        queue = EventQueue(
            capacity if capacity is not None else self.config.event_queue,
            policy if policy is not None else self.config.queue_policy,
            list(names) or None,
        )
        stream = EventStream(self, queue)
        if self._task is not None and self._task.done():
            queue.close()
        else:
            self._streams.append(stream)
            self._queues.append(queue)
        return stream

    async def wait_ready(self, timeout: Optional[float] = None) -> None:
        """Waits until a session is logged in (``TimeoutError`` after
        ``timeout`` seconds)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    @property
    def is_ready(self) -> bool:
        """Whether actions can be sent now."""
        return self._conn is not None and self._conn.is_ready

    @property
    def state(self) -> str:
        """``connecting``, ``logging_in``, ``ready``, ``degraded``,
        ``logging_off``, ``reconnecting`` (waiting for the next attempt) or
        ``closed`` (for good)."""
        return self._state

    def stats(self) -> Dict[str, Any]:
        """The current session's counters (the core's), plus ``sessions``
        (logins so far) and ``state``."""
        stats: Dict[str, Any] = self._conn.stats() if self._conn is not None else {}
        stats["sessions"] = self._sessions
        stats["state"] = self._state
        return stats

    async def close(self, timeout: float = 2.0) -> Optional[CloseReason]:
        """Logs off (waiting up to ``timeout`` seconds for the server's
        ``Goodbye``), closes the socket and ends every stream. Returns how
        the last session ended."""
        self._closing = True
        if self._wake is not None:
            _wake(self._wake)
        conn = self._conn
        if conn is not None and not conn.is_closed:
            if conn.is_ready:
                try:
                    conn.logoff(self._loop.time())
                except SendError:  # no room to write it: just hang up
                    conn.handle_closed(self._loop.time())
            else:
                conn.handle_closed(self._loop.time())
            self._pump()
        task = self._task
        if task is None:
            self._finish()
        elif not task.done():
            if conn is None:
                # Between sessions or connecting: nothing to log off.
                task.cancel()
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                if self._conn is not None:
                    self._conn.handle_closed(self._loop.time())
                    self._pump()
                task.cancel()
                await asyncio.wait({task})
        return self.close_reason

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ---- the supervisor ----

    async def _run(self) -> None:
        try:
            await self._supervise()
        finally:
            self._finish()

    async def _supervise(self) -> None:
        loop, policy = self._loop, self._policy
        while not self._closing:
            now = loop.time()
            if not policy.may_attempt(now):
                self._state = "reconnecting"
                await self._sleep_until(max(policy.next_allowed(now), now + 0.001))
                continue
            self._session += 1
            self._state = "connecting"
            self._session_end = loop.create_future()
            try:
                await asyncio.wait_for(
                    loop.create_connection(
                        lambda: _Protocol(self, self._session), self._host, self._port
                    ),
                    self._connect_timeout,
                )
            except (OSError, asyncio.TimeoutError) as err:
                if self._first_failed(err) or not self._reconnect:
                    return
                policy.on_failure(loop.time(), "connect")
                continue
            policy.on_connected()
            reason = await self._session_end
            if reason.kind == "login_failed" and self._first_failed(reason.error):
                return
            if reason.failure is None or self._closing or not self._reconnect:
                return
            policy.on_failure(loop.time(), reason.failure)

    def _first_failed(self, err: BaseException) -> bool:
        """Hands the first attempt's failure to :meth:`start`; returns
        whether it was the first (the client then ends)."""
        first = self._first
        if first is None or first.done():
            return False
        first.set_exception(err)
        return True

    async def _sleep_until(self, when: float) -> None:
        self._wake = self._loop.create_future()
        timer = self._loop.call_at(when, _wake, self._wake)
        try:
            await self._wake
        finally:
            timer.cancel()
            self._wake = None

    def _finish(self) -> None:
        """The end of the client: every awaited action fails, every stream
        ends (after what it holds)."""
        self._state = "closed"
        self._ready.clear()
        if self.close_reason is None:
            self.close_reason = CloseReason.internal("closed before any session")
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(ConnectionLost("connection lost before completion"))
        self._waiters.clear()
        for stream in self._streams:
            stream.queue.close()
            stream._wake()
        self._streams.clear()
        self._queues.clear()
        if self._first is not None and not self._first.done():
            self._first.set_exception(ConnectionLost("the client closed before logging in"))

    # ---- one session ----

    def _guard(self, session: int, callback: Any, *args: Any) -> None:
        """Runs a transport callback of session ``session`` (if still the
        current one). If it raises, the session ends with an internal
        reason rather than dying silently."""
        if session != self._session:
            return
        try:
            callback(*args)
        except Exception as err:  # a bug: never swallowed, never silent
            self._crash(err)
            raise

    def _crash(self, err: Exception) -> None:
        self._conn = None
        if self._transport is not None:
            self._transport.abort()
        self.close_reason = CloseReason.internal(f"the session's driver raised: {err!r}")
        end = self._session_end
        if end is not None and not end.done():
            end.set_result(self.close_reason)
        self._closing = True

    def _on_connected(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self._transport = transport
        self._write_paused = self._read_paused = False
        self._state = "logging_in"
        self._conn = Connection(self.config, self._loop.time(), self._session)
        self._pump()

    def _on_data(self, data: bytes) -> None:
        conn = self._conn
        if conn is not None:
            conn.handle_input(data, self._loop.time())
            self._pump()

    def _on_lost(self) -> None:
        conn = self._conn
        if conn is not None:
            conn.handle_closed(self._loop.time())
            self._pump()

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        conn = self._conn
        if conn is not None:
            conn.handle_timeout(self._loop.time())
            self._pump()

    def _consumed(self) -> None:
        """A stream took events: if events were held back, move them."""
        if self._held or self._read_paused:
            self._pump_soon()

    def _pump_soon(self) -> None:
        """Pumps once at the end of this turn of the loop, however many
        actions and streams asked for it meanwhile."""
        if not self._pump_scheduled:
            self._pump_scheduled = True
            self._loop.call_soon(self._pump_later, self._session)

    def _pump_later(self, session: int) -> None:
        self._pump_scheduled = False
        self._guard(session, self._pump)

    def _pump(self) -> None:
        """The drain step after every input, command or timer: write,
        deliver, then choose what to wait for."""
        conn, transport = self._conn, self._transport
        if conn is None or transport is None:
            return
        while not self._write_paused:
            data = conn.poll_transmit()
            if data is None:
                break
            transport.write(data)
            conn.advance(len(data))
        self._deliver(conn)
        self._held = conn.fan_out(self._queues)
        self._deliver(conn)
        for stream in self._streams:
            if stream._waiter is not None and len(stream.queue):
                _wake(stream._waiter)
        if conn.is_closed:
            return self._end_session(conn)
        # Read while the core wants bytes, and always while an answer is
        # awaited: completions never wait for a consumer of events.
        read = conn.wants_read or conn.pending > 0
        if read and self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        elif not read and not self._read_paused:
            self._read_paused = True
            transport.pause_reading()
        self._arm(conn.poll_timeout())

    def _arm(self, at: Optional[float]) -> None:
        """Keeps one timer: moved only to an earlier deadline (firing early
        is harmless: ``handle_timeout`` ignores early calls)."""
        if at is None or (self._timer_at is not None and self._timer_at <= at):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._on_timer)

    def _deliver(self, conn: Connection) -> None:
        while True:
            out = conn.poll_completion()
            if out is None:
                return
            if isinstance(out, Completion):
                future = self._waiters.pop(out.action_id, None)
                if future is not None and not future.done():
                    if out.ok:
                        future.set_result(out.value)
                    else:
                        future.set_exception(out.error)
            elif isinstance(out, State):
                self._on_state(out)

    def _on_state(self, state: State) -> None:
        name = state.name
        if name == "closed":
            return  # handled by _end_session, after the last outputs
        self._state = name
        if name in ("ready", "degraded"):
            if not self._ready.is_set():
                self._ready.set()
            if name == "ready" and not self._ready_seen:
                self._ready_seen = True
                self._sessions += 1
                self._policy.on_ready(self._loop.time())
                if self._first is not None and not self._first.done():
                    self._first.set_result(None)
        else:
            self._ready.clear()

    def _end_session(self, conn: Connection) -> None:
        reason = conn.state.reason
        self._conn = None
        self._ready_seen = False
        self._ready.clear()
        self._state = "reconnecting"
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        self.close_reason = reason
        end = self._session_end
        if end is not None and not end.done():
            end.set_result(reason)

    def _cancel(self, action_id: str) -> bool:
        conn = self._conn
        if conn is None or not conn.cancel(action_id, self._loop.time()):
            return False
        self._pump()
        return True

    def _unsubscribe(self, stream: EventStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)
            self._queues.remove(stream.queue)

