//! `ami top` and `ami state` end to end: the binary against the fake
//! Asterisk of `ami-testkit` over 127.0.0.1, with a caller waiting in queue
//! `support` (two agents, ringing). Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ami_testkit::{Faults, ServerConfig, TcpServer};
use serde_json::Value;

mod common;

use common::{ami, creds, run, scratch, text, wait};

const LIMIT: Duration = Duration::from_secs(20);

/// The corpus PBX (queues `support` and `sales`), failing logins at once.
fn pbx() -> TcpServer {
    let config = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::asterisk_corpus()
    };
    TcpServer::start(config, Faults::default()).expect("start fake server")
}

/// Places a call that waits in queue `support` (its agents ring and never
/// answer), through `ami action`, and waits until the PBX shows the caller.
fn queue_a_caller(server: &TcpServer, flags: &[String]) {
    let out = run(
        ami().args(flags).args([
            "action",
            "Originate",
            "Channel=Local/queue@test",
            "Context=test",
            "Exten=200",
            "Priority=1",
            "Async=true",
        ]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.pbx().queue_callers("support").is_empty() {
        assert!(Instant::now() < deadline, "no caller queued");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn state_json_is_one_snapshot_of_queues_members_callers_and_channels() {
    let server = pbx();
    let dir = scratch("state-json");
    let flags = creds(&server, &dir);
    queue_a_caller(&server, &flags);
    let out = run(ami().args(&flags).args(["state", "--json"]), LIMIT);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert!(doc["taken"].as_str().expect("taken").ends_with('Z'));
    let servers = doc["servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 1);
    let pbx = &servers[0];
    assert_eq!(pbx["state"], "ready");
    assert_eq!(pbx["synced"], true);
    let queues = pbx["queues"].as_array().expect("queues");
    let names: Vec<&str> = queues.iter().filter_map(|q| q["name"].as_str()).collect();
    assert_eq!(names, ["sales", "support"], "sorted by name");
    let support = &queues[1];
    let members: Vec<&str> = support["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(members, ["Agent One", "Agent Two"]);
    let callers = support["callers"].as_array().expect("callers");
    assert_eq!(callers.len(), 1, "{support}");
    assert_eq!(callers[0]["position"], 1);
    let caller = callers[0]["uniqueid"].as_str().expect("uniqueid");
    let channels = pbx["channels"].as_array().expect("channels");
    let waiting = channels
        .iter()
        .find(|c| c["uniqueid"] == caller)
        .expect("the caller's channel");
    assert_eq!(waiting["waiting_in"], "support");
    assert_eq!(waiting["application"], "Queue");
    for c in channels {
        for key in [
            "name",
            "state",
            "state_code",
            "linkedid",
            "created",
            "bridge",
        ] {
            assert!(c.get(key).is_some(), "{key} in {c}");
        }
    }
    assert!(pbx["extensions"].as_array().is_some_and(|e| !e.is_empty()));
    assert!(pbx["stats"]["events"].as_u64().is_some());
    assert!(
        server.received_actions().iter().any(|a| a == "Logoff"),
        "logged off"
    );
}

#[test]
fn state_without_json_prints_the_text_view_and_a_dead_server_exits_4() {
    let server = pbx();
    let dir = scratch("state-text");
    let flags = creds(&server, &dir);
    queue_a_caller(&server, &flags);
    let out = run(ami().args(&flags).arg("state"), LIMIT);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.starts_with("127.0.0.1  ready  synced"), "{stdout}");
    assert!(
        stdout.contains("\nQUEUES\n  sales  leastrecent"),
        "{stdout}"
    );
    assert!(stdout.contains("member  Agent One"), "{stdout}");
    assert!(
        stdout.contains("caller    1  Local/queue@test-"),
        "{stdout}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port().to_string();
    drop(closed);
    let out = run(
        ami().args(["--port", &port, "--user", "a", "--secret", "b", "state"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

#[test]
fn top_prints_frames_of_queues_bridges_and_channels_when_not_a_terminal() {
    let server = pbx();
    let dir = scratch("top-frames");
    let flags = creds(&server, &dir);
    queue_a_caller(&server, &flags);
    let out = run(
        ami()
            .args(&flags)
            .args(["top", "--iterations", "3", "--interval", "0.2"]),
        LIMIT,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !stdout.contains('\x1b'),
        "no escapes into a pipe: {stdout:?}"
    );
    let frames: Vec<&str> = stdout.split("ami top  ").skip(1).collect();
    assert_eq!(frames.len(), 3, "{stdout}");
    for frame in frames {
        assert!(frame.contains("(Ctrl-C to quit)"), "{frame}");
        assert!(frame.contains("127.0.0.1  ready  synced"), "{frame}");
        assert!(
            frame.contains("  support  ringall  waiting 1  members 2"),
            "{frame}"
        );
        assert!(frame.contains("member  Agent Two"), "{frame}");
        assert!(frame.contains("caller    1  Local/queue@test-"), "{frame}");
        assert!(frame.contains("CHANNELS\n  NAME"), "{frame}");
        assert!(frame.contains("Queue(support"), "{frame}");
    }
    assert!(server.received_actions().iter().any(|a| a == "Logoff"));
}

#[test]
fn top_redraws_in_place_with_ansi_and_ends_cleanly_on_sigterm() {
    let server = pbx();
    let dir = scratch("top-ansi");
    let flags = creds(&server, &dir);
    let mut child = ami()
        .args(&flags)
        .args(["top", "--ansi", "--interval", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Frames come in place: cursor home, lines cleared to their end, the
    // rest of the screen cleared; no alternate screen (not a terminal).
    let stdout = child.stdout.take().expect("piped");
    let (tx, frames) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut frame = Vec::new();
        while reader.read_until(b'J', &mut frame).is_ok_and(|n| n > 0) {
            if frame.ends_with(b"\x1b[J") && tx.send(std::mem::take(&mut frame)).is_err() {
                break;
            }
        }
    });
    let first = frames.recv_timeout(LIMIT).expect("a first frame");
    let first = text(&first);
    assert!(first.starts_with("\x1b[Hami top  "), "{first:?}");
    assert!(
        first.contains("\x1b[K\n127.0.0.1  ready  synced"),
        "{first:?}"
    );
    assert!(!first.contains("\x1b[?1049h"), "{first:?}");
    // A caller joins: a frame soon shows it (a change redraws).
    queue_a_caller(&server, &flags);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let frame = text(&frames.recv_timeout(LIMIT).expect("frames go on"));
        assert!(frame.starts_with("\x1b[H"), "{frame:?}");
        if frame.contains("waiting 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the caller never shown: {frame:?}"
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = wait(child, Duration::from_secs(6));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(server.received_actions().iter().any(|a| a == "Logoff"));
}
