"""The asyncio client over TCP against the fake Asterisk (``ami serve``).

Every wait is bounded (``run`` gives each test 60 s at most; each step has
its own short timeout), and every assertion is about what came back over
the socket.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

import ami
from ami import Action, ReconnectPolicy
from ami.aio import Client
from ami import errors

from conftest import plain_login, read_action, until_closed


def run(coro, timeout: float = 60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(server, **options) -> "asyncio.Future[Client]":
    options.setdefault("username", server.user)
    options.setdefault("secret", server.secret)
    return Client.connect(server.host, server.port, **options)


#: An action the server answers with a plain Success and no list: collected
#: as a list, it never completes (a stand-in for a lost answer).
def never_completes(timeout: float = 30.0) -> Action:
    return Action("Ping").with_strategy("list").with_timeout(timeout)


# ---- login, both ways ----


@pytest.mark.parametrize("auth", ["md5", "plain"])
def test_login_both_ways_and_log_off(pbx, auth):
    async def main():
        client = await connect(pbx, auth=auth)
        assert client.state == "ready" and client.is_ready
        assert (await client.send("Ping"))["Ping"] == "Pong"
        reason = await client.close()
        assert reason.kind == "logged_off" and reason.failure is None
        assert client.state == "closed"
        with pytest.raises(errors.NotReady):
            await client.send("Ping")

    run(main())


# ---- every completion kind ----


def test_every_completion_kind(pbx):
    async def main():
        async with await connect(pbx) as client:
            response = await client.send("Ping")
            assert isinstance(response, ami.Response) and response.status == "Success"

            channels = await client.send("CoreShowChannels")
            assert isinstance(channels, ami.EventList) and len(channels) == 12
            assert all(e.name == "CoreShowChannel" for e in channels)
            assert channels.complete["ListItems"] == "12"

            output = await client.send(Action.command("core show version"))
            assert isinstance(output, ami.CommandOutput)
            assert output.lines[0].startswith("Asterisk 22")

            answered = await client.send(
                Action.originate("Local/100@default", application="Wait", data="1")
            )
            assert isinstance(answered, ami.OriginateOutcome)
            assert answered.success and answered.reason == 4
            busy = await client.send(Action.originate("Local/busy@default", application="Wait", data="1"))
            assert not busy.success and busy.reason == 5
            failed = await client.send(Action.originate("Local/999@default", application="Wait", data="1"))
            assert not failed.success and failed.reason == 0

    run(main())


def test_legacy_command_output(serve):
    server = serve("--legacy-command")

    async def main():
        async with await connect(server) as client:
            output = await client.send(Action.command("core show version"))
            assert output.response.status == "Follows"
            assert output.lines[0].startswith("Asterisk 22")

    run(main())


# ---- every typed error ----


def test_typed_errors_from_the_server_and_the_core(pbx):
    async def main():
        async with await connect(pbx, max_list_items=1) as client:
            with pytest.raises(errors.ServerError) as raised:
                await client.send("NoSuchAction")
            assert "Invalid/unknown command" in raised.value.message

            with pytest.raises(errors.ActionTimeout) as raised:
                await client.send(never_completes(0.2))
            assert raised.value.timeout == pytest.approx(0.2)

            with pytest.raises(errors.FrameTooLarge):
                await client.send("CoreShowChannels")  # 12 items, the limit is 1

            pending = client.submit(never_completes())
            assert pending.cancel() is True
            with pytest.raises(errors.Cancelled):
                await pending

            # A caller who stops waiting cancels the action in the core.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.send(never_completes()), 0.1)
            assert client.stats()["pending"] == 0

            with pytest.raises(errors.InvalidAction):
                await client.send("Setvar", Variable="X\r\nAction: Hangup")

            assert (await client.send("Ping"))["Ping"] == "Pong", "the session goes on"

        # Cancelled and timed-out actions keep their slot until their late
        # answer is absorbed: a fresh client shows the bound alone.
        async with await connect(pbx, max_pending=2) as client:
            held = [client.submit(never_completes()) for _ in range(2)]
            with pytest.raises(errors.TooManyPending) as raised:
                client.submit("Ping")
            assert raised.value.max == 2
            for pending in held:
                pending.cancel()

    run(main())


def test_async_originate_without_call_events_is_refused(pbx):
    async def main():
        async with await connect(pbx, events="off") as client:
            with pytest.raises(errors.NoCallEvents):
                await client.send(Action.originate("Local/100@default", application="Wait", data="1"))

    run(main())


def test_a_killed_server_loses_pending_actions_and_the_client_reconnects(serve):
    server = serve("--flood", "200/s")

    async def main():
        policy = ReconnectPolicy(healthy_after=0.2)
        async with await connect(server, policy=policy) as client:
            stream = client.events()
            assert await stream.next(5.0) is not None
            await asyncio.sleep(0.3)  # healthy: the next outage starts from 100 ms
            pending = client.submit(never_completes())
            server.kill()
            with pytest.raises(errors.ConnectionLost):
                await asyncio.wait_for(pending, 5.0)
            assert client.close_reason.kind == "lost"
            with pytest.raises(errors.NotReady):
                await client.send("Ping")

            started = time.monotonic()
            server.restart()
            await client.wait_ready(5.0)
            assert time.monotonic() - started < 5.0
            assert client.stats()["sessions"] == 2
            assert (await client.send("Ping"))["Ping"] == "Pong"
            # The stream lives across sessions: the new session's flood comes.
            while len(stream.queue):
                stream.queue.pop_many(10_000)
            assert await stream.next(5.0) is not None

    run(main())


def test_refused_credentials_are_not_retried_in_a_hot_loop(serve):
    server = serve()

    async def main():
        policy = ReconnectPolicy(healthy_after=0.2)
        client = await connect(server, policy=policy)
        await asyncio.sleep(0.3)
        server.kill()
        server.args = ["--users", "admin:changed"]
        server.restart()
        loop = asyncio.get_running_loop()
        for _ in range(100):  # the failed login (the server answers after 1 s)
            reason = client.close_reason
            if reason is not None and reason.kind == "login_failed":
                break
            await asyncio.sleep(0.05)
        assert isinstance(client.close_reason.error, errors.AuthenticationFailed)
        await asyncio.sleep(0.1)
        assert client.state == "reconnecting"
        assert policy.next_allowed(loop.time()) - loop.time() >= 29.0
        await client.close()

    run(main())


def test_login_failures_over_tcp(serve, scripted):
    server = serve()

    async def main():
        with pytest.raises(errors.AuthenticationFailed):
            await connect(server, secret="wrong")

        wrong_port = scripted(lambda conn: conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
        with pytest.raises(errors.BadBanner):
            await Client.connect("127.0.0.1", wrong_port.port, "admin", "x")

        silent = scripted(until_closed)
        with pytest.raises(errors.LoginTimeout):
            await Client.connect("127.0.0.1", silent.port, "admin", "x", login_timeout=0.3)

        hangs_up = scripted(lambda conn: conn.sendall(b"Asterisk Call Manager/11.0.0\r\n"))
        with pytest.raises(errors.LoginConnectionLost):
            await Client.connect("127.0.0.1", hangs_up.port, "admin", "x")

        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        with pytest.raises(ConnectionRefusedError):
            await Client.connect("127.0.0.1", port, "admin", "x")

    run(main())


def test_failed_status_and_desync_from_a_misbehaving_server(scripted):
    def script(conn):
        buf = bytearray()
        plain_login(conn, buf)
        first, second = read_action(conn, buf), read_action(conn, buf)
        conn.sendall(
            b"Response: Failure\r\nActionID: %s\r\nMessage: Unable to add\r\n\r\n"
            % first["ActionID"].encode()
        )
        conn.sendall(b"Response: Success\r\nActionID: %s\r\n\r\n" % second["ActionID"].encode())
        read_action(conn, buf)  # the third: its answer never comes
        fourth = read_action(conn, buf)  # answered first
        conn.sendall(b"Response: Success\r\nActionID: %s\r\n\r\n" % fourth["ActionID"].encode())
        until_closed(conn)

    server = scripted(script)

    async def main():
        client = await Client.connect("127.0.0.1", server.port, "admin", "x", auth="plain", reconnect=False)
        first = client.submit("QueueAdd", Queue="support", Interface="PJSIP/100")
        second = client.submit("Ping")
        with pytest.raises(errors.Failed) as raised:
            await first
        assert raised.value.status == "Failure" and raised.value.message == "Unable to add"
        assert (await second).status == "Success"
        third, fourth = client.submit("Ping"), client.submit("Ping")
        with pytest.raises(errors.Desync):
            await third
        assert (await fourth).status == "Success"
        await client.close(timeout=0.2)  # no Goodbye from this one

    run(main())


def test_heartbeat_ends_a_half_open_session(scripted):
    def script(conn):
        plain_login(conn, bytearray())
        until_closed(conn)  # silence, with the socket open

    server = scripted(script)

    async def main():
        client = await Client.connect(
            "127.0.0.1", server.port, "admin", "x", auth="plain",
            heartbeat_interval=0.1, action_timeout=0.2, reconnect=False,
        )
        for _ in range(100):
            if client.state == "closed":
                break
            await asyncio.sleep(0.05)
        assert client.close_reason.kind == "heartbeat_timeout"
        assert client.close_reason.failure == "heartbeat"
        await client.close()

    run(main())


# ---- a flood and a slow consumer, under each policy ----


async def read_some(stream, n: int) -> list:
    return [(await stream.next(5.0)).raw for _ in range(n)]


def successors(seen: list) -> dict:
    """What follows each event in a run read without loss: the flood is a
    pool of distinct events sent round-robin."""
    return {a: b for a, b in zip(seen, seen[1:])}


@pytest.mark.parametrize("policy", ["drop-oldest", "drop-newest", "backpressure"])
def test_a_flood_with_a_slow_consumer(serve, policy):
    server = serve("--flood", "20000/s")
    capacity = 200

    async def main():
        async with await connect(server, queue_policy=policy, event_queue=capacity) as client:
            stream = client.events()
            # Keep up first, to learn the flood's order.
            seen = await read_some(stream, 3000)
            order = successors(seen)
            # The flood's cycle of distinct events, to tell how far apart two are.
            cycle = {event: i for i, event in enumerate(dict.fromkeys(seen))}
            # Drops so far, by the stream or by the core's queue (a read of
            # more events than it holds): each later one is of an event
            # that follows `last`.
            def dropped():
                return stream.dropped + client.stats()["events_dropped_full"]

            dropped_before = dropped()
            await asyncio.sleep(0.5)  # the consumer stalls: 10,000 events come
            reading = client.stats()["bytes_in"]
            await asyncio.sleep(0.2)
            # Events the stream had taken before the stall come first.
            taken = await read_some(stream, len(stream) - len(stream.queue))
            last = (seen + taken)[-1]
            if policy == "backpressure":
                # The socket is no longer read; the core and the stream
                # hold what came; nothing is lost.
                assert client.stats()["bytes_in"] == reading
                assert len(stream.queue) == capacity and stream.dropped == 0
                after = await read_some(stream, 1000)
                chain = [last] + after
                assert all(order.get(a) == b for a, b in zip(chain, chain[1:])), "no gap"
                # An answer still comes while the stream is full.
                await asyncio.sleep(0.2)
                assert (await client.send("Ping"))["Ping"] == "Pong"
            else:
                assert client.stats()["bytes_in"] > reading, "still reading"
                assert len(stream.queue) == capacity and stream.dropped > 1000
                # Taken from the queue at once (a batch holds 256), so
                # nothing arrives or drops while they are read.
                queued = await read_some(stream, capacity)
                assert all(order.get(a) == b for a, b in zip(queued, queued[1:])), "no gap"
                if policy == "drop-newest":
                    assert queued[0] == order[last], "the oldest were kept"
                else:
                    # Exactly the events dropped since `last` lie between it
                    # and the oldest kept: the oldest went, the newest stayed.
                    skipped = (cycle[queued[0]] - cycle[last] - 1) % len(cycle)
                    gone = dropped() - dropped_before
                    assert skipped == gone % len(cycle), "the newest were kept"
                assert (await client.send("Ping"))["Ping"] == "Pong"
            assert await stream.next(5.0) is not None, "events flow again"

    run(main())


def test_a_bug_in_the_driver_ends_the_client_loudly_never_silently(pbx):
    async def main():
        loop = asyncio.get_running_loop()
        reported = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        client = await connect(pbx)
        stream = client.events()
        pending = client.submit(never_completes())

        def broken(conn):
            raise ZeroDivisionError("a bug in the adapter")

        client._deliver = broken
        client.submit("Ping")
        with pytest.raises(errors.ConnectionLost):
            await asyncio.wait_for(pending, 5.0)
        assert client.close_reason.kind == "internal"
        assert "ZeroDivisionError" in str(client.close_reason)
        assert await stream.next(1.0) is None, "the stream ended"
        assert client.state == "closed"
        assert any(isinstance(c.get("exception"), ZeroDivisionError) for c in reported)
        await client.close()

    run(main())
