//! The model against a simulated call centre's own lists.
//!
//! A model that starts from the server's lists and then follows its events
//! must hold what the server would list at any later moment; one that
//! misses events while disconnected must get there again by
//! resynchronising, and say what changed. [`support::pbx`] plays the
//! server: its lists are written from its own truth, not from the events,
//! so they are an independent oracle (the real call-centre transcripts 32
//! to 35 that did this against Asterisk are not in this repository; see
//! `corpus.rs`).

mod support;

use std::collections::BTreeSet;

use ami_proto::{ActionError, ActionId};
use ami_state::{CallPhase, Change, Key, Model, Snapshot, Timestamp};
use support::pbx::{Item, Pbx};
use support::{drain, feed, inputs, Input};

/// Feeds the simulator's output; returns the ActionIDs of the
/// OriginateResponses seen.
fn feed_items(model: &mut Model, items: &[Item]) -> Vec<String> {
    let mut answered = Vec::new();
    for item in items {
        match item {
            Item::Wire(text) => {
                let inputs = inputs(text.as_bytes());
                for input in &inputs {
                    if let Input::Event(e) = input {
                        if e.is("OriginateResponse") {
                            answered.push(e.get_str("ActionID").unwrap_or_default().into_owned());
                        }
                    }
                }
                feed(model, &inputs);
            }
            Item::Sent(id, action) => model.handle_sent(id, action),
        }
    }
    answered
}

/// A model built from the server's lists alone, at the server's time.
fn from_lists(pbx: &Pbx, model: &mut Model, prefix: &str) {
    model.handle_time(Timestamp::from_secs(pbx.now));
    model.begin_resync();
    feed(model, &inputs(pbx.lists(prefix).as_bytes()));
    model.end_resync();
}

/// What lists can show: everything but call records, counters and a
/// member's `Ringinuse` (events only).
fn comparable(mut s: Snapshot) -> Snapshot {
    for q in &mut s.queues {
        for m in &mut q.members {
            m.ringinuse = None;
        }
    }
    s.calls.clear();
    s.stats = Default::default();
    s.clock = None;
    s
}

fn oracle(pbx: &Pbx, prefix: &str) -> Snapshot {
    let mut model = Model::default();
    from_lists(pbx, &mut model, prefix);
    comparable(model.snapshot())
}

/// A readable first difference, rather than two screens of structs.
fn assert_same(model: Snapshot, oracle: Snapshot, context: &str) {
    if model == oracle {
        return;
    }
    let m = format!("{model:#?}");
    let o = format!("{oracle:#?}");
    let line = m
        .lines()
        .zip(o.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    let around = |t: &str| {
        t.lines()
            .skip(line.saturating_sub(12))
            .take(16)
            .collect::<Vec<_>>()
            .join("\n")
    };
    panic!(
        "{context}: the model differs from the server's lists at line {line}\n--- model:\n{}\n--- lists:\n{}",
        around(&m),
        around(&o)
    );
}

#[test]
fn following_events_matches_the_servers_lists_at_every_checkpoint() {
    for seed in 0..6 {
        let mut pbx = Pbx::new(seed);
        pbx.run(40); // The day has started before the client connects.
        let mut model = Model::default();
        from_lists(&pbx, &mut model, "snap0");
        assert!(pbx.load().0 > 0, "the simulation has calls up");
        let mut busiest = (0, 0, 0);
        let mut sent = BTreeSet::new();
        for checkpoint in 1..=6 {
            let items = pbx.run(15);
            sent.extend(items.iter().filter_map(|i| match i {
                Item::Sent(id, _) => Some(id.as_str().to_owned()),
                Item::Wire(_) => None,
            }));
            feed_items(&mut model, &items);
            busiest = busiest.max(pbx.load());
            assert_same(
                comparable(model.snapshot()),
                oracle(&pbx, &format!("snap{checkpoint}")),
                &format!("seed {seed}, checkpoint {checkpoint}"),
            );
        }
        let stats = model.stats();
        assert_eq!(
            stats.unplaced, 0,
            "seed {seed}: every event found its place"
        );
        assert_eq!(stats.malformed, 0);
        assert_eq!(stats.overflow.total(), 0);
        assert!(
            busiest.1 > 0 && busiest.2 > 0,
            "callers waited and talked: {busiest:?}"
        );
        // Every Originate's record says what became of the call.
        assert!(sent.len() > 5, "seed {seed}: the dialer dialled");
        for (id, expected) in pbx.expected.iter().filter(|(id, _)| sent.contains(*id)) {
            let call = model.call(id).unwrap_or_else(|| panic!("{id} followed"));
            assert_eq!(call.phase, expected.phase, "seed {seed}, {id}: {call:#?}");
            assert_eq!(call.hangup_cause, expected.hangup_cause, "{id}");
            let agent = call.agent.as_ref().and_then(|a| a.interface.clone());
            assert_eq!(agent, expected.agent_interface, "{id}");
            if expected.agent_interface.is_some() {
                assert!(call.bridge.is_some(), "{id} met its agent in a bridge");
            }
        }
        let phases: BTreeSet<_> = pbx
            .expected
            .iter()
            .filter(|(id, _)| sent.contains(*id))
            .map(|(_, e)| format!("{:?}", e.phase))
            .collect();
        assert!(
            phases.len() >= 3,
            "seed {seed}: calls ended in several ways: {phases:?}"
        );
    }
}

#[test]
fn resynchronising_after_missed_events_converges_and_reports_the_difference() {
    for seed in 10..16 {
        let mut pbx = Pbx::new(seed);
        pbx.run(30);
        let mut model = Model::default();
        from_lists(&pbx, &mut model, "snap0");
        let mut pending: BTreeSet<String> = BTreeSet::new();
        for round in 0..3 {
            let items = pbx.run(20);
            for item in &items {
                if let Item::Sent(id, _) = item {
                    pending.insert(id.as_str().to_owned());
                }
            }
            for id in feed_items(&mut model, &items) {
                pending.remove(&id);
            }
            // The connection drops: Originates still waiting for their
            // outcome fail as the core fails them, and a while passes unseen.
            for id in std::mem::take(&mut pending) {
                let id = ActionId::from_bytes(id.into_bytes().into());
                model.handle_completion(&id, Err(&ActionError::ConnectionLost));
                let call = model.call(id.as_str()).expect("followed");
                assert_eq!(
                    call.phase,
                    CallPhase::Unknown,
                    "a lost answer is not a failure"
                );
            }
            let missed = pbx.run(25);
            assert!(missed.iter().any(|i| matches!(i, Item::Wire(_))));
            drain(&mut model);
            let before = model.snapshot();
            let prefix = format!("resync{round}");
            from_lists(&pbx, &mut model, &prefix);
            let after = model.snapshot();
            assert_same(
                comparable(after.clone()),
                oracle(&pbx, &prefix),
                &format!("seed {seed}, round {round}"),
            );
            // The changes name exactly the channels that came and went.
            let changes = drain(&mut model);
            let uids = |s: &Snapshot| {
                s.channels
                    .iter()
                    .map(|c| c.uniqueid.clone())
                    .collect::<BTreeSet<_>>()
            };
            let (was, is) = (uids(&before), uids(&after));
            let named = |pick: fn(&Change) -> Option<&Key>| -> BTreeSet<String> {
                changes
                    .iter()
                    .filter_map(pick)
                    .filter_map(|k| match k {
                        Key::Channel(u) => Some(u.to_string()),
                        _ => None,
                    })
                    .collect()
            };
            let added = named(|c| match c {
                Change::Added(k) => Some(k),
                _ => None,
            });
            let removed = named(|c| match c {
                Change::Removed(k) => Some(k),
                _ => None,
            });
            assert_eq!(
                added,
                is.difference(&was).cloned().collect(),
                "seed {seed}: added"
            );
            assert_eq!(
                removed,
                was.difference(&is).cloned().collect(),
                "seed {seed}: removed"
            );
            assert!(
                !removed.is_empty() && !added.is_empty(),
                "calls came and went unseen"
            );
            // A call whose channel went while we were away has ended,
            // without a cause: nobody told us one.
            for call in after.calls.iter().filter(|c| c.phase == CallPhase::Ended) {
                if call.hangup_cause.is_none() {
                    assert!(call.error.is_some(), "{call:#?}");
                }
            }
        }
    }
}
