//! ActionIDs the caller chooses ([`Action::with_action_id`]), for actions
//! whose outcome another process must match: sent as given, correlated as
//! generated ones are, and refused before anything is queued when they
//! break the generated ones' bounds or repeat a pending action's.

mod common;

use std::time::Duration;

use ami_proto::{Action, ActionError, ActionIdGenerator, Originate, Output, SendError};
use common::{config, success, Session};

#[test]
fn a_chosen_action_id_is_sent_once_and_completes_its_action() {
    let mut s = Session::ready(config());
    let id = s
        .conn
        .send(Action::ping().with_action_id("crm-7.42"), s.now)
        .expect("accepted");
    assert_eq!(id.as_str(), "crm-7.42");
    let wire = s.sent();
    assert_eq!(
        wire, "Action: Ping\r\nActionID: crm-7.42\r\n\r\n",
        "one ActionID line, in its usual place"
    );
    s.input(b"Response: Success\r\nActionID: crm-7.42\r\nPing: Pong\r\n\r\n");
    let pong = s.only(&id).as_ref().expect("a success");
    assert_eq!(pong.response().get("Ping"), Some(&b"Pong"[..]));

    // An async Originate: its outcome event carries the chosen id, which is
    // what another process (a CRM, a second dialer node) matches on.
    let call = Originate::new("PJSIP/100").extension("default", "200", 1);
    let call = Action::originate(call).with_action_id("campaign-9.lead-1234");
    let id = s.send(call);
    assert_eq!(id.as_str(), "campaign-9.lead-1234");
    s.input(success(&id).as_bytes());
    s.input(
        b"Event: OriginateResponse\r\nActionID: campaign-9.lead-1234\r\n\
          Response: Success\r\nReason: 4\r\n\r\n",
    );
    let outcome = s.only(&id).as_ref().expect("an outcome");
    assert_eq!(outcome.originate().map(|o| o.reason()), Some(Some(4)));
}

#[test]
fn with_action_id_replaces_an_earlier_one_and_is_readable() {
    let action = Action::ping()
        .with_action_id("first")
        .with_action_id("second");
    assert_eq!(action.action_id(), Some("second"));
    assert_eq!(action.headers().count(), 1);
    assert_eq!(Action::ping().action_id(), None);
    // A header of that name is the same thing (ASCII case ignored), as the
    // C ABI and the `ami action` command pass it.
    let header = Action::ping().header("actionid", "by-header");
    assert_eq!(header.action_id(), Some("by-header"));
}

#[test]
fn chosen_action_ids_keep_the_generated_ones_bounds_and_characters() {
    let mut cfg = config();
    cfg.max_action_id = 16;
    let mut s = Session::ready(cfg);
    let refused = |s: &mut Session, action: Action| {
        let err = s.conn.send(action, s.now).expect_err("refused");
        assert!(s.conn.poll_transmit().is_none(), "nothing queued: {err}");
        err
    };
    let invalid = |id: &str| SendError::InvalidActionId { id: id.into() };
    for bad in [
        "",
        "two words",
        "tab\there",
        "x\r\nAction: Hangup",
        "caf\u{e9}",
        "\u{7f}del",
    ] {
        let err = refused(&mut s, Action::ping().with_action_id(bad));
        assert_eq!(err, invalid(bad), "{bad:?}");
    }
    let long = "a".repeat(17);
    assert_eq!(
        refused(&mut s, Action::ping().with_action_id(&long)),
        SendError::ActionIdTooLong { len: 17, max: 16 }
    );
    // Two of them: which one would the server keep?
    let twice = Action::ping()
        .header("ActionID", "one")
        .header("ActionID", "two");
    assert_eq!(refused(&mut s, twice), invalid("two"));
    // The edges: one byte, and exactly the bound, of printable ASCII.
    let edge = "!~".repeat(8);
    for good in ["x", edge.as_str()] {
        let id = s.send(Action::ping().with_action_id(good));
        s.input(success(&id).as_bytes());
        assert!(s.only(&id).is_ok());
    }
}

#[test]
fn a_chosen_action_id_is_unique_among_the_connections_pending_actions() {
    let mut cfg = config();
    cfg.action_timeout = Duration::from_secs(5);
    let mut s = Session::ready(cfg);
    let first = s.send(Action::ping().with_action_id("job-1"));
    let again = s.conn.send(Action::ping().with_action_id("job-1"), s.now);
    assert_eq!(
        again,
        Err(SendError::DuplicateActionId { id: "job-1".into() })
    );
    assert!(s.conn.poll_transmit().is_none(), "nothing queued");
    s.input(success(&first).as_bytes());
    assert!(s.only(&first).is_ok());
    // Completed: the id is free again.
    let second = s.send(Action::ping().with_action_id("job-1"));
    // Timed out, its answer may still come: the id stays taken until that
    // answer is absorbed or the grace period (one more timeout) ends, so a
    // late answer never completes a new action.
    s.wait(Duration::from_secs(5));
    assert!(matches!(
        s.outputs.last(),
        Some(Output::Completion {
            result: Err(ActionError::Timeout(_)),
            ..
        })
    ));
    let taken = s.conn.send(Action::ping().with_action_id("job-1"), s.now);
    assert_eq!(
        taken,
        Err(SendError::DuplicateActionId { id: "job-1".into() })
    );
    s.input(success(&second).as_bytes());
    let third = s.send(Action::ping().with_action_id("job-1"));
    s.input(success(&third).as_bytes());
    // Three actions under one id, each completed once; the second's late
    // answer completed nothing.
    let outcomes: Vec<_> = s
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Completion { id, result } if id.as_str() == "job-1" => Some(result.is_ok()),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, [true, false, true]);
}

#[test]
fn a_generated_id_never_repeats_a_chosen_one_still_pending() {
    let cfg = config();
    // The ids this connection will generate: its Login's, then the next.
    let mut ids =
        ActionIdGenerator::new(&cfg.action_id_prefix, cfg.seed, cfg.max_action_id).expect("valid");
    let (_login, next) = (ids.next(), ids.next());
    let mut s = Session::ready(cfg);
    let chosen = s.send(Action::ping().with_action_id(next.as_str()));
    let generated = s.send(Action::ping());
    assert_ne!(generated, chosen);
    s.input(success(&chosen).as_bytes());
    s.input(success(&generated).as_bytes());
    assert!(s.only(&generated).is_ok() && s.only(&chosen).is_ok());
}
