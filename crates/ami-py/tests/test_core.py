"""The binding in memory: bytes fed to a Connection, outputs read back.

No socket: each test plays the server by hand, so it can send what a real
Asterisk rarely does (a Failure status, answers out of order, a banner from
another protocol) and move time with one call.
"""

from __future__ import annotations

import hashlib
import threading

import pytest

import ami
from ami import Action, Completion, Config, Connection, Event, EventQueue, Response, State
from ami import errors

T0 = 1000.0
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def frame(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def action_id(sent: bytes) -> str:
    for line in sent.decode().split("\r\n"):
        if line.startswith("ActionID: "):
            return line[len("ActionID: ") :]
    raise AssertionError(f"no ActionID in {sent!r}")


def take(conn: Connection) -> bytes:
    sent = conn.poll_transmit()
    assert sent is not None, "nothing to send"
    conn.advance(len(sent))
    return sent


def outputs(conn: Connection) -> list:
    out = []
    while (o := conn.poll_output()) is not None:
        out.append(o)
    return out


def ready(**options) -> Connection:
    """A connection logged in with a plain login."""
    options.setdefault("auth", "plain")
    conn = Connection(Config("pbx", "admin", "amp111", **options), T0)
    conn.handle_input(BANNER, T0)
    login = take(conn)
    conn.handle_input(
        frame("Response: Success", f"ActionID: {action_id(login)}", "Message: Authentication accepted"),
        T0,
    )
    assert [o.name for o in outputs(conn)] == ["ready"]
    return conn


def sent_action(conn: Connection, action, now: float = T0) -> str:
    aid = conn.send(action if isinstance(action, Action) else Action(action), now)
    assert action_id(take(conn)) == aid
    return aid


def completion(conn: Connection) -> Completion:
    out = conn.poll_completion()
    assert isinstance(out, Completion), out
    return out


# ---- login, both ways ----


def test_plain_login_sends_the_secret_and_becomes_ready():
    conn = Connection(Config("pbx", "admin", "amp111", auth="plain"), T0)
    assert conn.poll_transmit() is None, "nothing before the banner"
    conn.handle_input(BANNER, T0)
    login = take(conn)
    assert b"Action: Login\r\n" in login and b"Secret: amp111\r\n" in login
    conn.handle_input(frame("Response: Success", f"ActionID: {action_id(login)}"), T0)
    assert conn.is_ready and conn.state.name == "ready"


def test_md5_login_answers_the_challenge_without_the_secret():
    conn = Connection(Config("pbx", "admin", "amp111"), T0)
    conn.handle_input(BANNER, T0)
    challenge = take(conn)
    assert b"Action: Challenge\r\n" in challenge
    conn.handle_input(
        frame("Response: Success", f"ActionID: {action_id(challenge)}", "Challenge: 840415273"), T0
    )
    login = take(conn)
    key = hashlib.md5(b"840415273amp111").hexdigest()
    assert f"Key: {key}\r\n".encode() in login and b"amp111" not in login
    conn.handle_input(frame("Response: Success", f"ActionID: {action_id(login)}"), T0)
    assert conn.is_ready


# ---- every completion kind ----


def test_a_response_is_a_case_insensitive_ordered_multimap():
    conn = ready()
    aid = sent_action(conn, "Ping")
    conn.handle_input(frame("Response: Success", f"ActionID: {aid}", "Ping: Pong", "X: 1", "x: 2"), T0)
    done = completion(conn)
    assert done.ok and done.action_id == aid
    response = done.result()
    assert isinstance(response, Response) and isinstance(response, ami.Message)
    assert response.status == "Success" and response["PING"] == "Pong"
    assert response.get_all("x") == ["1", "2"] and response.get("missing") is None
    assert response.keys() == ["Response", "ActionID", "Ping", "X", "x"]
    assert response.to_dict() == {"Response": "Success", "ActionID": aid, "Ping": "Pong", "X": "1"}
    assert "ping" in response and "nope" not in response and len(response) == 5
    with pytest.raises(KeyError):
        response["nope"]


def test_a_list_collects_its_items_up_to_its_end():
    conn = ready()
    aid = sent_action(conn, "CoreShowChannels")
    conn.handle_input(
        frame("Response: Success", f"ActionID: {aid}", "EventList: start")
        + frame("Event: CoreShowChannel", f"ActionID: {aid}", "Channel: PJSIP/a")
        + frame("Event: Newchannel", "Channel: PJSIP/unrelated")
        + frame("Event: CoreShowChannel", f"ActionID: {aid}", "Channel: PJSIP/b")
        + frame("Event: CoreShowChannelsComplete", f"ActionID: {aid}", "EventList: Complete"),
        T0,
    )
    result = completion(conn).result()
    assert isinstance(result, ami.EventList)
    assert [e["Channel"] for e in result] == ["PJSIP/a", "PJSIP/b"] and len(result) == 2
    assert result.complete.name == "CoreShowChannelsComplete"
    assert result.response.get("EventList") == "start"
    event = conn.poll_output()
    assert isinstance(event, Event) and event["Channel"] == "PJSIP/unrelated"


@pytest.mark.parametrize(
    "reply",
    [
        frame("Response: Success", "ActionID: {id}", "Output: Asterisk 22", "Output: ", "Output: last"),
        b"Response: Follows\r\nActionID: {id}\r\nPrivilege: Command\r\nAsterisk 22\r\n\r\nlast\r\n--END COMMAND--\r\n\r\n",
    ],
    ids=["output-headers", "legacy-follows"],
)
def test_command_output_both_styles(reply):
    conn = ready()
    aid = sent_action(conn, Action.command("core show version"))
    conn.handle_input(reply.replace(b"{id}", aid.encode()), T0)
    output = completion(conn).result()
    assert isinstance(output, ami.CommandOutput)
    assert output.lines == ["Asterisk 22", "", "last"] and output.text == "Asterisk 22\n\nlast"


@pytest.mark.parametrize("answered", [True, False])
def test_async_originate_completes_with_its_outcome(answered):
    conn = ready()
    aid = sent_action(conn, Action.originate("PJSIP/100", context="default", exten="200"))
    conn.handle_input(frame("Response: Success", f"ActionID: {aid}", "Message: Originate successfully queued"), T0)
    assert conn.poll_completion() is None, "the acknowledgement does not complete it"
    status, reason = ("Success", 4) if answered else ("Failure", 5)
    conn.handle_input(
        frame("Event: OriginateResponse", f"ActionID: {aid}", f"Response: {status}", f"Reason: {reason}"), T0
    )
    outcome = completion(conn).result()
    assert isinstance(outcome, ami.OriginateOutcome)
    assert outcome.success is answered and outcome.reason == reason
    assert outcome.event.name == "OriginateResponse" and outcome.response.status == "Success"


# ---- every typed error ----


def failed(conn: Connection) -> errors.ActionError:
    done = completion(conn)
    assert not done.ok and done.value is None
    with pytest.raises(errors.ActionError) as raised:
        done.result()
    assert raised.value is done.error
    return done.error


def test_response_error_is_server_error():
    conn = ready()
    aid = sent_action(conn, "Bogus")
    conn.handle_input(frame("Response: Error", f"ActionID: {aid}", "Message: Invalid/unknown command"), T0)
    err = failed(conn)
    assert type(err) is errors.ServerError and isinstance(err, errors.Refused)
    assert err.message == "Invalid/unknown command"


def test_another_status_is_failed_never_success():
    conn = ready()
    aid = sent_action(conn, Action("QueueAdd", Queue="support", Interface="PJSIP/100"))
    conn.handle_input(frame("Response: Failure", f"ActionID: {aid}", "Message: Unable to add"), T0)
    err = failed(conn)
    assert type(err) is errors.Failed and isinstance(err, errors.Refused)
    assert (err.status, err.message) == ("Failure", "Unable to add")


def test_no_answer_times_out_with_the_action_timeout():
    conn = ready(action_timeout=2.0)
    sent_action(conn, "Ping")
    due = conn.poll_timeout()
    assert due is not None and T0 + 2.0 <= due < T0 + 2.01
    conn.handle_timeout(T0 + 1.9)
    assert conn.poll_completion() is None, "an early wake-up fires nothing"
    conn.handle_timeout(due)
    err = failed(conn)
    assert type(err) is errors.ActionTimeout and isinstance(err, TimeoutError)
    assert err.timeout == 2.0


def test_a_closed_connection_loses_pending_actions_never_succeeds():
    conn = ready()
    sent_action(conn, "Ping")
    conn.handle_closed(T0)
    err = failed(conn)
    assert type(err) is errors.ConnectionLost and isinstance(err, ConnectionError)
    state = conn.poll_completion()
    assert isinstance(state, State) and state.name == "closed"
    assert state.reason.kind == "lost" and state.reason.failure == "lost"


def test_an_oversized_answer_is_frame_too_large_and_the_connection_goes_on():
    conn = ready(max_frame=64 * 1024)
    aid = sent_action(conn, "Ping")
    filler = "".join(f"Filler: {'x' * 70}\r\n" for _ in range(1200))
    conn.handle_input(f"Response: Success\r\nActionID: {aid}\r\n{filler}\r\n".encode(), T0)
    err = failed(conn)
    assert type(err) is errors.FrameTooLarge and err.limit == 64 * 1024
    aid = sent_action(conn, "Ping")
    conn.handle_input(frame("Response: Success", f"ActionID: {aid}"), T0)
    assert completion(conn).ok


def test_cancel_completes_at_once_and_absorbs_the_late_answer():
    conn = ready()
    aid = sent_action(conn, "Ping")
    assert conn.cancel(aid, T0) is True
    assert type(failed(conn)) is errors.Cancelled
    assert conn.cancel(aid, T0) is False
    conn.handle_input(frame("Response: Success", f"ActionID: {aid}"), T0)
    assert conn.poll_output() is None
    stats = conn.stats()
    assert (stats["actions_failed"], stats["cancelled"]) == (1, 1)


def test_an_answer_to_a_later_action_first_is_desync_for_the_skipped_one():
    conn = ready()
    first = sent_action(conn, "Ping")
    second = sent_action(conn, "Ping")
    conn.handle_input(frame("Response: Success", f"ActionID: {second}"), T0)
    err = failed(conn)
    assert type(err) is errors.Desync and err.reason
    assert completion(conn).action_id == second
    assert conn.stats()["desyncs"] == 1 and first != second


# ---- refused before sending ----


def test_malformed_actions_are_refused_with_nothing_sent():
    conn = ready()
    for action in [
        Action("Setvar", Variable="A\r\nAction: Hangup"),
        Action("Setvar", [("Bad:Name", "x")]),
        Action("Setvar", Value="x" * 2000),
        Action("Setvar", Variable=[f"V{i}=1" for i in range(200)]),
        Action("QueueAdd", Queue="support"),
    ]:
        with pytest.raises(errors.InvalidAction):
            conn.send(action, T0)
        assert isinstance(errors.InvalidAction(), ValueError)
    assert conn.poll_transmit() is None
    with pytest.raises(errors.MissingParameter) as raised:
        conn.send(Action("QueueAdd", Queue="support"), T0)
    assert (raised.value.action, raised.value.parameter) == ("QueueAdd", "Interface")


def test_a_refused_chosen_action_id_has_its_own_error():
    conn = ready()
    assert sent_action(conn, Action("Ping", ActionID="mine")) == "mine"
    with pytest.raises(errors.DuplicateActionId) as duplicate:
        conn.send(Action("Ping", ActionID="mine"), T0)
    assert duplicate.value.id == "mine"
    with pytest.raises(errors.InvalidActionId) as invalid:
        conn.send(Action("Ping", ActionID="two words"), T0)
    assert invalid.value.id == "two words"
    with pytest.raises(errors.ActionIdTooLong) as long:
        conn.send(Action("Ping", ActionID="x" * 65), T0)
    assert (long.value.len, long.value.max) == (65, 64)
    assert conn.poll_transmit() is None
    for refusal in (duplicate, invalid, long):
        assert isinstance(refusal.value, errors.SendError)
        assert not isinstance(refusal.value, errors.InvalidAction)
    # A value the caller chose badly, as InvalidAction is; a duplicate is not.
    assert isinstance(invalid.value, ValueError) and isinstance(long.value, ValueError)
    assert not isinstance(duplicate.value, ValueError)


def test_not_ready_too_many_pending_and_write_buffer_full():
    conn = Connection(Config("pbx", "admin", "amp111"), T0)
    with pytest.raises(errors.NotReady) as raised:
        conn.send(Action("Ping"), T0)
    assert raised.value.state == "logging in"

    conn = ready(max_pending=2)  # the login's slot is free again
    conn.send(Action("Ping"), T0)
    conn.send(Action("Ping"), T0)
    with pytest.raises(errors.TooManyPending) as raised:
        conn.send(Action("Ping"), T0)
    assert raised.value.max == 2

    conn = ready(max_write_buffer=128 * 1024, max_pending=1000)
    big = Action("UserEvent", UserEvent="big", Data=["y" * 1000] * 120)
    with pytest.raises(errors.WriteBufferFull) as raised:
        for _ in range(10):
            conn.send(big, T0)  # the socket never takes anything
    assert raised.value.max == 128 * 1024 and raised.value.buffered > 0


def test_async_originate_without_call_events_is_refused():
    conn = ready(events="off")
    with pytest.raises(errors.NoCallEvents) as raised:
        conn.send(Action.originate("PJSIP/100", application="Wait", data="1"), T0)
    assert raised.value.setting == "Events: off"
    sync = Action.originate("PJSIP/100", application="Wait", data="1", async_=False)
    assert sync.strategy == "single"
    conn.send(sync, T0)


# ---- login errors ----


def login_error(conn: Connection) -> errors.LoginError:
    states = [o for o in outputs(conn) if isinstance(o, State)]
    assert states[-1].name == "closed" and states[-1].reason.kind == "login_failed"
    err = states[-1].reason.error
    assert isinstance(err, errors.LoginError)
    return err


def test_login_errors_name_their_kind():
    conn = Connection(Config("pbx", "admin", "wrong", auth="plain"), T0)
    conn.handle_input(BANNER, T0)
    login = take(conn)
    conn.handle_input(frame("Response: Error", f"ActionID: {action_id(login)}", "Message: Authentication failed"), T0)
    err = login_error(conn)
    assert type(err) is errors.AuthenticationFailed and err.message == "Authentication failed"
    assert conn.state.reason.failure == "auth_failed"

    conn = Connection(Config("pbx", "admin", "x"), T0)
    conn.handle_input(BANNER, T0)
    challenge = take(conn)
    conn.handle_input(frame("Response: Error", f"ActionID: {action_id(challenge)}", "Message: Must specify AuthType"), T0)
    assert type(login_error(conn)) is errors.LoginRefused

    conn = Connection(Config("pbx", "admin", "x", auth="plain"), T0)
    conn.handle_input(BANNER, T0)
    login = take(conn)
    conn.handle_input(frame("Response: Failure", f"ActionID: {action_id(login)}"), T0)
    err = login_error(conn)
    assert type(err) is errors.LoginFailed and err.status == "Failure"

    conn = Connection(Config("pbx", "admin", "x"), T0)
    conn.handle_input(b"SSH-2.0-OpenSSH_9.6\r\n", T0)
    err = login_error(conn)
    assert type(err) is errors.BadBanner and "SSH" in err.banner

    conn = Connection(Config("pbx", "admin", "x", login_timeout=3.0), T0)
    conn.handle_timeout(conn.poll_timeout())
    assert type(login_error(conn)) is errors.LoginTimeout

    conn = Connection(Config("pbx", "admin", "x"), T0)
    conn.handle_closed(T0)
    err = login_error(conn)
    assert type(err) is errors.LoginConnectionLost and conn.state.reason.failure == "login"


def test_config_is_validated_when_built():
    with pytest.raises(errors.ConfigError, match="max_frame"):
        Config("pbx", "a", "b", max_frame=1024)
    with pytest.raises(errors.ConfigError, match="queue policy"):
        Config("pbx", "a", "b", queue_policy="drop-everything")
    with pytest.raises(ValueError):
        Config("pbx", "a", "b", auth="kerberos")
    config = Config("pbx", "a", "hunter2", queue_policy="backpressure")
    assert "hunter2" not in repr(config) and config.queue_policy == "backpressure"


# ---- values never raise ----


def test_invalid_utf8_is_replaced_in_str_and_kept_in_bytes():
    conn = ready()
    conn.handle_input(b"Event: Newchannel\r\nCallerIDName: Jos\xe9 M\xfcller\r\nExten: 100\r\n\r\n", T0)
    event = conn.poll_event()
    assert event["CallerIDName"] == "Jos\ufffd M\ufffdller"
    assert event.get_bytes("calleridname") == b"Jos\xe9 M\xfcller"
    assert event.get_bytes("calleridname").decode("latin-1") == "José Müller"
    assert b"Jos\xe9" in event.raw and event.items()[1] == ("CallerIDName", "Jos\ufffd M\ufffdller")


def test_secrets_never_show_in_repr():
    conn = ready()
    conn.handle_input(frame("Event: UserEvent", "Secret: hunter2", "Token: abc123"), T0)
    shown = repr(conn.poll_event())
    assert "hunter2" not in shown and "abc123" not in shown
    assert "hunter2" not in repr(Action("Login", Username="u", Secret="hunter2"))


# ---- events, queues and their policies ----


def events(n: int, start: int = 0) -> bytes:
    return b"".join(frame("Event: Tick", f"N: {i}") for i in range(start, start + n))


def names(queue: EventQueue) -> list:
    return [int(e["N"]) for e in queue.pop_many(10_000)]


@pytest.mark.parametrize(
    "policy,kept,dropped",
    [("drop-oldest", [7, 8, 9, 99], 7), ("drop-newest", [0, 1, 2, 3], 7)],
)
def test_fan_out_applies_each_queues_drop_policy(policy, kept, dropped):
    conn = ready()
    small = EventQueue(4, policy)
    everything = EventQueue(100, policy)
    hangups = EventQueue(100, policy, ["HANGUP"])
    conn.handle_input(events(10) + frame("Event: Hangup", "N: 99"), T0)
    assert conn.fan_out([small, everything, hangups]) is False
    assert names(small) == kept and small.dropped == dropped
    assert names(everything) == list(range(10)) + [99] and everything.dropped == 0
    assert names(hangups) == [99]


def test_backpressure_holds_events_back_and_loses_none():
    conn = ready(event_queue=8, queue_policy="backpressure")
    queue = EventQueue(4, "backpressure")
    conn.handle_input(events(100), T0)
    assert conn.fan_out([queue]) is True, "held back"
    assert len(queue) == 4 and not conn.wants_read, "the core's own queue is full too"
    seen = []
    while True:
        batch = names(queue)
        if not batch:
            break
        seen += batch
        conn.fan_out([queue])
    assert seen == list(range(100)) and queue.dropped == 0
    assert conn.wants_read and conn.stats()["events_dropped_full"] == 0


def test_backpressure_never_holds_an_answer_back():
    conn = ready(event_queue=8, queue_policy="backpressure")
    queue = EventQueue(4, "backpressure")
    aid = sent_action(conn, "Ping")
    conn.handle_input(events(100) + frame("Response: Success", f"ActionID: {aid}"), T0)
    conn.fan_out([queue])
    done = completion(conn)
    assert done.ok and done.action_id == aid
    assert len(queue) == 4 and queue.dropped > 0, "events nobody read were counted"


# ---- the GIL ----


def test_large_inputs_are_decoded_without_the_gil():
    conn = ready(event_queue=1_000_000)
    data = events(200_000)
    saw_busy = threading.Event()
    stop = threading.Event()

    def probe() -> None:
        # Only a thread that runs while handle_input holds the connection
        # can find it busy: with the GIL held throughout, none can.
        while not stop.is_set():
            try:
                conn.queue_depth
            except RuntimeError:  # already mutably borrowed: mid-decode
                saw_busy.set()
                return

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        conn.handle_input(data, T0)
    finally:
        stop.set()
        prober.join()
    assert conn.queue_depth == 200_000
    assert saw_busy.is_set(), "another thread ran while the input was decoded"


# ---- the reconnect policy ----


def test_reconnect_policy_backs_off_and_never_hammers_bad_credentials():
    policy = ami.ReconnectPolicy(7, healthy_after=10.0)
    assert policy.may_attempt(T0)
    retry = policy.on_failure(T0, "connect")
    assert T0 < retry <= T0 + 0.1 + 1e-3
    assert not policy.may_attempt(T0) and policy.may_attempt(retry)
    auth = policy.on_failure(retry, "auth_failed")
    assert retry + 30.0 <= auth <= retry + 45.0 + 1e-3
    policy.on_ready(auth)
    assert policy.failures == 2 and not policy.refresh(auth + 9.0)
    assert policy.refresh(auth + 10.0) and policy.failures == 0
    with pytest.raises(ValueError):
        policy.on_failure(T0, "meteor")
