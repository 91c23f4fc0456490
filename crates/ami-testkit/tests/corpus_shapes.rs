//! Replays client bytes captured against Asterisk 22 into a `ServerSession`
//! and compares its answers with what the real server sent: same frames, same
//! header names in the same order, same values except the ones that depend
//! on time and addresses.

use std::time::Duration;

use ami_proto::{Decoder, Frame};
use ami_testkit::{ChallengeNonce, MemoryLink, ServerConfig};

/// Headers whose values depend on the moment or the socket, not the protocol.
const VOLATILE: &[&str] = &[
    "Timestamp",
    "EventTV",
    "SessionTV",
    "SessionID",
    "RemoteAddress",
    "Uptime",
    "LastReload",
];

fn shape(bytes: &[u8]) -> Vec<String> {
    let mut d = Decoder::new(1 << 20);
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(f) = d.next_frame() {
        let m = match f.expect("decodes") {
            Frame::Banner(b) => {
                out.push(format!("banner {}", String::from_utf8_lossy(&b)));
                continue;
            }
            Frame::Response(r) => r.into_message(),
            Frame::Event(e) => e.into_message(),
            Frame::Other(m) => m,
        };
        let mut line = String::new();
        for (n, v) in m.headers().iter() {
            let n = String::from_utf8_lossy(n);
            if VOLATILE.iter().any(|x| n.eq_ignore_ascii_case(x)) {
                line += &format!("[{n}]");
            } else {
                line += &format!("[{n}={}]", String::from_utf8_lossy(v));
            }
        }
        out.push(line);
    }
    out
}

fn replay(name: &str, config: ServerConfig) {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/corpus/asterisk-22/"
    );
    let sent = std::fs::read(format!("{dir}{name}.sent")).expect("sent file");
    let raw = std::fs::read(format!("{dir}{name}.raw")).expect("raw file");
    let mut link = MemoryLink::new(config);
    link.send(&sent);
    while link.step_to_timeout() {}
    let ours = link.recv();
    assert_eq!(shape(&ours), shape(&raw), "{name}");
}

fn config() -> ServerConfig {
    ServerConfig {
        auth_failure_delay: Duration::ZERO,
        md5_challenge: ChallengeNonce::Fixed("682751052".into()),
        ..ServerConfig::default()
    }
}

#[test]
fn login_success() {
    replay("01-login-success", config());
}

#[test]
fn challenge_md5_login() {
    replay("03-challenge-md5-login", config());
}

#[test]
fn ping() {
    replay("04-ping", config());
}

#[test]
fn unknown_action() {
    replay("14-unknown-action", config());
}

#[test]
fn logoff() {
    replay("18-logoff", config());
}

#[test]
fn unauthenticated() {
    replay("28-unauthenticated", config());
}

#[test]
fn empty_lists() {
    replay("29-empty-lists", config());
}
