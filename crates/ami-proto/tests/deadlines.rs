//! No duration a caller or a server can choose makes the core panic: every
//! deadline saturates at the latest instant the platform can represent.

mod common;

use std::time::{Duration, Instant};

use ami_proto::{Action, ActionError, Completion, ConnState, Output, QueuePolicy};
use common::{config, success, Session};

/// The latest instant the platform can represent (to the nanosecond): a
/// clock there cannot add even one more nanosecond.
fn end_of_time(now: Instant) -> Instant {
    let mut t = now;
    for step in (0..64).rev().map(|k| Duration::from_secs(1 << k)) {
        t = t.checked_add(step).unwrap_or(t);
    }
    for step in (0..30).rev().map(|k| Duration::from_nanos(1 << k)) {
        t = t.checked_add(step).unwrap_or(t);
    }
    assert!(t.checked_add(Duration::from_nanos(1)).is_none());
    t
}

const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);

#[test]
fn an_action_timeout_of_duration_max_times_out_only_at_the_end_of_time() {
    let mut s = Session::ready(config());
    let id = s.send(Action::ping().with_timeout(Duration::MAX));
    let at = s.conn.poll_timeout().expect("the action's deadline");
    assert!(at > s.now + CENTURY, "{:?} from now", at - s.now);
    s.wait(CENTURY);
    assert!(s.outputs.is_empty(), "{:?}", s.outputs);
    s.wait_until(at);
    assert!(
        matches!(s.only(&id), Err(ActionError::Timeout(Duration::MAX))),
        "{:?}",
        s.only(&id)
    );
    // Its tombstone (kept for a late answer) saturates too; the session goes on.
    s.wait_until(end_of_time(s.now));
    assert!(s.conn.is_ready());
}

#[test]
fn cancelling_or_closing_with_huge_timeouts_does_not_panic() {
    let mut s = Session::ready(config());
    let cancelled = s.send(Action::ping().with_timeout(Duration::MAX));
    let lost = s.send(Action::ping().with_timeout(Duration::MAX));
    let short = s.send(Action::ping());
    assert!(s.conn.cancel(&cancelled, s.now));
    s.drain();
    assert!(
        matches!(s.only(&cancelled), Err(ActionError::Cancelled)),
        "{:?}",
        s.only(&cancelled)
    );
    s.conn.handle_closed(s.now);
    s.drain();
    assert!(
        matches!(s.only(&lost), Err(ActionError::ConnectionLost)),
        "{:?}",
        s.only(&lost)
    );
    assert!(
        matches!(s.only(&short), Err(ActionError::ConnectionLost)),
        "{:?}",
        s.only(&short)
    );
}

#[test]
fn an_originate_dial_timeout_of_u64_max_milliseconds_waits_for_its_outcome() {
    // Dial timeouts are capped at a day: the outcome after 23 hours still
    // completes the action.
    let mut s = Session::ready(config());
    let id = s.send(
        Action::new("Originate")
            .header("Channel", "Local/100@test")
            .header("Async", "true")
            .header("Timeout", u64::MAX.to_string()),
    );
    s.input(success(&id).as_bytes());
    s.wait(Duration::from_secs(23 * 3600));
    s.input(
        format!(
            "Event: OriginateResponse\r\nActionID: {id}\r\nResponse: Success\r\nReason: 4\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(matches!(s.only(&id), Ok(Completion::Originate(o)) if o.is_success()));
}

#[test]
fn time_itself_may_reach_the_latest_instant() {
    // An adapter whose clock (or a test's) is at the far end: sends, inputs,
    // heartbeats and back-pressure re-checks all compute deadlines past it.
    // Every deadline saturates to `now`, so everything is due at once.
    let mut c = config();
    c.heartbeat_interval = Some(Duration::from_secs(15));
    c.queue_policy = QueuePolicy::Backpressure;
    c.event_queue = 1;
    let mut s = Session::ready(c);
    let far = end_of_time(s.now);
    s.now = far;
    let id = s.send(Action::ping());
    let late = s.send(Action::ping().with_timeout(Duration::MAX));
    s.input(b"Event: A\r\n\r\nEvent: B\r\n\r\nEvent: C\r\n\r\n");
    s.wait_until(far);
    s.input(success(&late).as_bytes());
    s.wait_until(far);
    s.conn.handle_closed(far);
    s.drain();
    // Each action ends exactly once, whichever deadline fired first.
    assert!(s.only(&id).is_err());
    assert!(s.only(&late).is_err());
    assert!(s
        .outputs
        .iter()
        .any(|o| matches!(o, Output::State(ConnState::Closed(_)))));
}
