//! The simulated Asterisk that `ami demo` drives and `ami serve` serves:
//! what the PBX has ([`stage`]) and the background calls it publishes
//! ([`publish_calls`]). One definition, so the two commands show the same
//! server.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ami_testkit::{Destination, Extension, Pbx, ServerConfig, TrafficSim, User};

/// The account `ami demo` logs in with (besides the captures' `admin` /
/// `amp111` and `limited` / `limited123`).
pub(crate) const DEMO_USER: &str = "demo";
/// Its secret.
pub(crate) const DEMO_SECRET: &str = "demo-secret";
/// Simulated channels up at the start, listed by `CoreShowChannels` and
/// `core show channels`.
pub(crate) const CHANNELS: usize = 12;

/// The simulated PBX: the captures' Asterisk ([`ServerConfig::asterisk_corpus`]:
/// users `admin` and `limited`, queues `support` and `sales`, hints), the
/// demo's user, [`CHANNELS`] calls up, and the dialplan the demo's
/// Originates reach. `Local/<n>@demo-dialer` rings 1 s, answers and talks
/// 2 s, except numbers ending in 7 (busy), 9 (congestion) and 3 (no such
/// extension: `Reason: 0`); the answered `;1` half runs `demo,100,1`, which
/// queues it in `support`, whose agents answer after a second.
pub(crate) fn stage(seed: u64) -> ServerConfig {
    let ring = Duration::from_secs(1);
    let base = ServerConfig::asterisk_corpus();
    let dialplan = base
        .dialplan
        .clone()
        .unwrap_or_default()
        .destination(
            "_XXX[0124568]@demo-dialer",
            Destination::answer_after(ring, Duration::from_secs(2)),
        )
        .destination("_XXX7@demo-dialer", Destination::Busy)
        .destination("_XXX9@demo-dialer", Destination::Congestion)
        .extension(
            "demo",
            Extension::new("100")
                .queue("support", Duration::from_secs(20))
                .hangup(),
        )
        .extension("agents", agent("agent1"))
        .extension("agents", agent("agent2"));
    ServerConfig {
        channels: CHANNELS,
        seed,
        ..base
    }
    .with_dialplan(dialplan)
    .with_user(DEMO_USER, User::new(DEMO_SECRET))
}

/// `config` with its clock starting at the wall clock: what `ami serve`
/// and `ami demo` show an operator, where channels the captures' clock
/// (2026-11-26) dated would look days old (`ami top` ages them by their
/// Uniqueids). [`stage`] keeps the capture time, so tests stay
/// deterministic.
pub(crate) fn starting_now(config: ServerConfig) -> ServerConfig {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    ServerConfig {
        epoch: now.unwrap_or_default().as_secs_f64(),
        ..config
    }
}

/// A queue agent's extension: rings 1 s, answers, talks 3 s, hangs up.
pub(crate) fn agent(name: &str) -> Extension {
    Extension::new(name)
        .ringing()
        .wait(Duration::from_secs(1))
        .answer()
        .wait_secs(3)
        .hangup()
}

/// The traffic thread's loop: publishes whole simulated dialer calls
/// ([`TrafficSim`], 17 events each) at `rate` per second to the sessions
/// of `pbx` that receive call events (not to one that said `Events: off`),
/// until `stop`. `sent` counts the calls published.
pub(crate) fn publish_calls(pbx: &Pbx, rate: f64, seed: u64, stop: &AtomicBool, sent: &AtomicU64) {
    let mut sim = TrafficSim::new(seed);
    let start = Instant::now();
    let mut published = 0u64;
    while !stop.load(Relaxed) {
        thread::sleep(Duration::from_millis(10));
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        if due <= published {
            continue;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let mut bytes = Vec::new();
        // At most one second's worth at once, should this thread lag.
        let until = due.min(published + rate.ceil() as u64 + 1);
        while published < until {
            bytes.extend_from_slice(&sim.next_call(now));
            published += 1;
        }
        pbx.publish(&bytes);
        sent.store(published, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ami_proto::Frame;
    use ami_testkit::MemoryLink;

    const LOGIN: &[u8] = b"Action: Login\r\nUsername: demo\r\nSecret: demo-secret\r\n\r\n";

    fn events(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .filter_map(|f| match f {
                Frame::Event(e) => Some(e.name_str().into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_wrong_password_is_refused_after_a_second_then_closed() {
        let mut link = MemoryLink::new(stage(1));
        link.frames();
        link.send(b"Action: Login\r\nActionID: l\r\nUsername: demo\r\nSecret: wrong\r\n\r\n");
        assert!(link.frames().is_empty(), "nothing at once");
        link.advance(Duration::from_millis(999));
        assert!(link.frames().is_empty());
        link.advance(Duration::from_millis(1));
        let f = link.frames();
        let Some(Frame::Response(r)) = f.first() else {
            panic!("{f:?}")
        };
        assert_eq!(r.message().as_deref(), Some("Authentication failed"));
        assert!(link.is_closed());
    }

    #[test]
    fn events_off_sessions_get_no_background_traffic() {
        let mut link = MemoryLink::new(stage(1));
        link.send(b"Action: Login\r\nUsername: demo\r\nSecret: demo-secret\r\nEvents: off\r\n\r\n");
        link.frames();
        link.session
            .pbx()
            .publish(&TrafficSim::new(1).next_call(1_795_727_786.0));
        assert!(events(&link.frames()).is_empty());
        link.send(b"Action: Events\r\nEventMask: on\r\n\r\n");
        link.session
            .pbx()
            .publish(&TrafficSim::new(2).next_call(1_795_727_787.0));
        assert_eq!(events(&link.frames()).len(), TrafficSim::events_per_call());
    }

    #[test]
    fn originates_end_per_destination_and_the_limited_user_is_denied() {
        let mut link = MemoryLink::new(stage(1));
        link.send(LOGIN);
        for n in [1000, 1003, 1007, 1009] {
            link.send(
                format!(
                    "Action: Originate\r\nActionID: o{n}\r\nChannel: Local/{n}@demo-dialer\r\n\
                     Context: demo\r\nExten: 100\r\nPriority: 1\r\nAsync: true\r\n\r\n"
                )
                .as_bytes(),
            );
        }
        let mut reasons = Vec::new();
        for _ in 0..1000 {
            for f in link.frames() {
                if let Frame::Event(e) = f {
                    if e.is("OriginateResponse") {
                        let id =
                            String::from_utf8_lossy(e.action_id().unwrap_or_default()).into_owned();
                        let reason = String::from_utf8_lossy(e.get("Reason").unwrap_or_default())
                            .into_owned();
                        reasons.push((id, reason));
                    }
                }
            }
            if reasons.len() == 4 || !link.step_to_timeout() {
                break;
            }
        }
        reasons.sort();
        let want = [
            ("o1000", "4"),
            ("o1003", "0"),
            ("o1007", "5"),
            ("o1009", "8"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(reasons, want);

        let mut limited = link.join();
        limited.send(b"Action: Login\r\nUsername: limited\r\nSecret: limited123\r\n\r\n");
        limited.send(b"Action: Originate\r\nActionID: x\r\nChannel: Local/1000@demo-dialer\r\nApplication: Wait\r\n\r\n");
        let denied = limited.frames().into_iter().any(|f| {
            matches!(&f, Frame::Response(r) if r.message().as_deref() == Some("Permission denied"))
        });
        assert!(denied);
    }
}
