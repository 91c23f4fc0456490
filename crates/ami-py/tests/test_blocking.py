"""The blocking client over TCP against the fake Asterisk (``ami serve``)."""

from __future__ import annotations

import time

import pytest

import ami
from ami import Action
from ami.blocking import Client
from ami import errors


def connect(server, **options) -> Client:
    options.setdefault("username", server.user)
    options.setdefault("secret", server.secret)
    return Client.connect(server.host, server.port, **options)


@pytest.mark.parametrize("auth", ["md5", "plain"])
def test_login_both_ways_and_log_off(pbx, auth):
    client = connect(pbx, auth=auth)
    assert client.state == "ready"
    assert client.send("Ping")["Ping"] == "Pong"
    reason = client.close()
    assert reason.kind == "logged_off"
    with pytest.raises(errors.NotReady):
        client.send("Ping")


def test_every_completion_kind_and_typed_errors(pbx):
    with connect(pbx, max_list_items=1) as client:
        assert isinstance(client.send("Ping"), ami.Response)
        output = client.send(Action.command("core show version"))
        assert output.lines[0].startswith("Asterisk 22")
        outcome = client.send(Action.originate("Local/busy@default", application="Wait", data="1"))
        assert not outcome.success and outcome.reason == 5
        with pytest.raises(errors.FrameTooLarge):
            client.send("CoreShowChannels")
        with pytest.raises(errors.ServerError):
            client.send("NoSuchAction")
        with pytest.raises(errors.ActionTimeout):
            client.send(Action("Ping").with_strategy("list").with_timeout(0.2))
        with pytest.raises(errors.InvalidAction):
            client.send("Setvar", Variable="X\nAction: Hangup")
    with connect(pbx) as client:
        channels = client.send("CoreShowChannels")
        assert len(channels) == 12
        while client.next_event(timeout=0.1) is not None:
            pass  # the login's events
        started = time.monotonic()
        assert client.next_event(timeout=0.3) is None, "a quiet server"
        assert 0.3 <= time.monotonic() - started < 2.0


def test_login_failure_raises(pbx):
    with pytest.raises(errors.AuthenticationFailed):
        connect(pbx, secret="wrong")


def test_events_wait_with_a_deadline_and_a_killed_server_ends_the_session(serve):
    server = serve("--flood", "500/s")
    client = connect(server)
    assert isinstance(client.next_event(timeout=5.0), ami.Event)
    server.kill()
    with pytest.raises(errors.ConnectionLost):
        client.send(Action("Ping").with_strategy("list").with_timeout(10))
    assert client.close_reason.kind == "lost"
    # What was received before the end can still be read; then None.
    while client.next_event(timeout=0.1) is not None:
        pass
    assert client.next_event(timeout=0.1) is None
    client.close()


def successors(seen: list) -> dict:
    """What follows each event in a run read without loss: the flood is a
    pool of distinct events sent round-robin."""
    return {a: b for a, b in zip(seen, seen[1:])}


@pytest.mark.parametrize("policy", ["drop-oldest", "drop-newest", "backpressure"])
def test_a_flood_with_a_slow_reader(serve, policy):
    server = serve("--flood", "20000/s")
    with connect(server, queue_policy=policy, event_queue=500) as client:
        seen = [client.next_event(timeout=5.0).raw for _ in range(3000)]
        order = successors(seen)
        time.sleep(0.3)  # nothing reads: the socket holds the backlog
        after = [client.next_event(timeout=5.0).raw for _ in range(3000)]
        chain = seen[-1:] + after
        assert all(order.get(a) == b for a, b in zip(chain, chain[1:])), "a reader loses nothing"
        assert client.stats()["events_dropped_full"] == 0

        time.sleep(0.3)
        # A send reads past the backlog: the answer comes, and the queue
        # keeps its bound by dropping (and counting) events per its policy.
        assert client.send("Ping")["Ping"] == "Pong"
        stats = client.stats()
        assert stats["queue_depth"] <= 500 and stats["events_dropped_full"] > 0
        assert client.next_event(timeout=5.0) is not None
