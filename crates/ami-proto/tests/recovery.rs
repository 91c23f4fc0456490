//! The default reconnect policy against simulated servers, in virtual time:
//! how soon a client is back after an outage, how hard it knocks meanwhile,
//! and how it treats a server that drops every session at once.

mod common;

use std::time::{Duration, Instant};

use ami_proto::{Config, Connection, Failure, Output, ReconnectPolicy};
use common::{config, success, BANNER};

const SEC: Duration = Duration::from_secs(1);

/// Most loop turns any simulation may take (a hot loop fails, not hangs).
const MAX_TURNS: usize = 100_000;

/// One outage as a client sees it.
struct Outage {
    /// From the server's return to the client's next (successful) attempt.
    back_after: Duration,
    /// Connect attempts made during the outage, in order.
    attempts: Vec<Instant>,
    /// When the server accepted again.
    up: Instant,
}

/// A client whose session has been healthy for a minute loses it at `down`;
/// the server refuses connections until `down + length`, then accepts.
fn outage(seed: u64, length: Duration) -> Outage {
    let mut policy = ReconnectPolicy::with_seed(seed);
    let start = Instant::now();
    let ready = start;
    policy.on_ready(ready);
    let down = ready + 60 * SEC;
    let up = down + length;
    let mut now = policy.on_failure(down, Failure::Lost);
    let mut attempts = Vec::new();
    for _ in 0..MAX_TURNS {
        now = policy.next_allowed(now).max(now);
        assert!(policy.may_attempt(now), "refused at its own next_allowed");
        if now >= up {
            return Outage {
                back_after: now - up,
                attempts,
                up,
            };
        }
        attempts.push(now);
        now = policy.on_failure(now, Failure::Connect);
    }
    panic!("seed {seed}: no recovery from a {length:?} outage");
}

#[test]
fn after_an_outage_the_default_policy_is_back_soon_without_hammering() {
    for secs in [1, 3, 10, 60, 600] {
        let length = secs * SEC;
        // Within 2 s after outages of up to 10 s; after longer ones within
        // 10% of the outage, and never more than 30 s.
        let bound = (length / 10).clamp(2 * SEC, 30 * SEC);
        let (mut late, mut knocks, mut knock_time) = (Duration::ZERO, 0usize, Duration::ZERO);
        for seed in 0..300 {
            let o = outage(seed, length);
            assert!(
                o.back_after <= bound,
                "seed {seed}: back {:?} after a {secs} s outage (bound {bound:?})",
                o.back_after
            );
            late = late.max(o.back_after);
            // Past the first few attempts, no more than one a second on
            // average; counted up to the server's return.
            if let Some(&fourth) = o.attempts.get(3) {
                knocks += o.attempts.len() - 4;
                knock_time += o.up - fourth;
            }
        }
        let rate = knocks as f64 / knock_time.as_secs_f64().max(1e-9);
        eprintln!("{secs:>4} s outage: back within {late:?}; {rate:.2} attempts/s after the 4th");
        assert!(rate <= 1.0, "{secs} s outage: {rate:.2} attempts/s");
    }
}

/// A logged-in session over a scripted server, in virtual time.
fn log_in(config: Config, now: Instant) -> Connection {
    let mut conn = Connection::new(config, now).expect("valid config");
    conn.handle_input(BANNER, now);
    let login = String::from_utf8_lossy(conn.poll_transmit().expect("a Login")).into_owned();
    conn.advance(login.len());
    let id = login
        .lines()
        .find_map(|l| l.strip_prefix("ActionID: "))
        .expect("an ActionID");
    conn.handle_input(success(id).as_bytes(), now);
    while conn.poll_output().is_some() {}
    assert!(conn.is_ready());
    conn
}

#[test]
fn a_server_that_drops_every_session_at_once_sees_a_handful_of_logins() {
    for seed in 0..100 {
        let mut policy = ReconnectPolicy::with_seed(seed);
        let start = Instant::now();
        let mut now = start;
        let mut logins = 0;
        for _ in 0..MAX_TURNS {
            now = policy.next_allowed(now).max(now);
            if now - start >= 10 * SEC {
                break;
            }
            assert!(policy.may_attempt(now));
            policy.on_connected();
            let mut conn = log_in(config(), now);
            logins += 1;
            policy.on_ready(now);
            // The server closes at once.
            conn.handle_closed(now);
            let mut reason = None;
            while let Some(out) = conn.poll_output() {
                if let Output::State(ami_proto::ConnState::Closed(r)) = out {
                    reason = Some(r);
                }
            }
            let failure = reason.and_then(|r| r.failure()).expect("a lost session");
            now = policy.on_failure(now, failure);
        }
        assert!(logins <= 5, "seed {seed}: {logins} logins in 10 s");
    }
}
