//! The `ami` binary end to end against the fake Asterisk of `ami-testkit`
//! over 127.0.0.1. Every wait is bounded; a child that overstays is killed
//! and the test fails.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ami_testkit::{Faults, ServerConfig, TcpServer};

mod common;

use common::{ami, creds, run, scratch, text, wait, write};

/// A fake Asterisk with user `admin`/`amp111`, failing logins at once.
fn server() -> TcpServer {
    let config = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        channels: 5,
        ..ServerConfig::default()
    }
    .with_command(
        "sip show peers",
        &["Name/username  Host", "", "0 sip peers"],
    );
    TcpServer::start(config, Faults::default()).expect("start fake server")
}

const LIMIT: Duration = Duration::from_secs(15);

#[test]
fn demo_exits_zero_with_a_summary() {
    let out = run(
        ami().args(["demo", "--seconds", "2"]),
        Duration::from_secs(20),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("demo summary"), "{stdout}");
    assert!(stdout.contains("0 failed actions"), "{stdout}");
    assert!(stdout.contains("CoreShowChannels"), "{stdout}");
    assert!(
        stderr.contains("events/s="),
        "status line missing: {stderr}"
    );
    assert!(stderr.contains("in-flight="), "{stderr}");
}

#[test]
fn action_prints_the_response_as_text_and_json() {
    let server = server();
    let dir = scratch("action");
    let out = run(
        ami().args(creds(&server, &dir)).args(["action", "Ping"]),
        LIMIT,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.starts_with("Response: Success\n"), "{stdout}");
    assert!(stdout.contains("Ping: Pong"), "{stdout}");

    let out = run(
        ami()
            .args(creds(&server, &dir))
            .args(["action", "CoreShowChannels", "--json"]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["action"], "CoreShowChannels");
    assert_eq!(v["response"][0], serde_json::json!(["Response", "Success"]));
    assert_eq!(v["items"].as_array().expect("items").len(), 5);
    assert_eq!(
        v["items"][0][0],
        serde_json::json!(["Event", "CoreShowChannel"])
    );
    assert!(v["complete"].is_array());

    // An ActionID of the caller's is the action's id.
    let out = run(
        ami()
            .args(creds(&server, &dir))
            .args(["action", "Ping", "ActionID=cli-job-7", "--json"]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let response = v["response"].as_array().expect("headers");
    assert!(
        response.contains(&serde_json::json!(["ActionID", "cli-job-7"])),
        "{v}"
    );
}

#[test]
fn action_error_exits_six_with_the_server_message() {
    let server = server();
    let dir = scratch("action-error");
    let out = run(
        ami()
            .args(creds(&server, &dir))
            .args(["action", "Hangup", "Channel=PJSIP/none-00000000"]),
        LIMIT,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("No such channel"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn command_prints_output_lines() {
    let server = server();
    let dir = scratch("command");
    let out = run(
        ami()
            .args(creds(&server, &dir))
            .args(["command", "sip show peers"]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Name/username  Host\n\n0 sip peers\n");

    let out = run(
        ami()
            .args(creds(&server, &dir))
            .args(["command", "core", "show", "channels"]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("active channel"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_input_gives_one_line_and_a_distinct_exit_code() {
    let server = server();
    let dir = scratch("bad");
    let check = |args: &[&str], extra: &[String], code: i32, needle: &str| {
        let out = run(ami().args(extra).args(args), LIMIT);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    };
    let ok = creds(&server, &dir);
    // Usage: a malformed header.
    check(&["action", "Ping", "NoEquals"], &ok, 2, "malformed header");
    // Configuration: an unknown server, a bad limit, no secret at all.
    let cfg = write(
        &dir.join("one.toml"),
        "[client]\nuser = \"admin\"\nsecret = \"amp111\"\n[servers.pbx1]\nport = 1\n",
    );
    let cfg = cfg.display().to_string();
    check(
        &["--config", &cfg, "--server", "pbx9", "action", "Ping"],
        &[],
        3,
        "unknown server \"pbx9\"",
    );
    let limits = write(
        &dir.join("limits.toml"),
        "[client]\nuser = \"a\"\nsecret = \"b\"\nmax_frame = 12\n",
    );
    let limits = limits.display().to_string();
    check(
        &["--config", &limits, "action", "Ping"],
        &[],
        3,
        "max_frame",
    );
    check(&["--user", "admin", "action", "Ping"], &[], 3, "no secret");
    // Connection: nobody listens on that port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let closed = [
        "--port".to_string(),
        port.to_string(),
        "--user".into(),
        "a".into(),
        "--secret".into(),
        "b".into(),
    ];
    check(&["action", "Ping"], &closed, 4, "connect failed");
    // Authentication: the right user, a wrong secret given on the command
    // line, which must never be echoed, not even in trace logs.
    let wrong = [
        "--port".to_string(),
        server.port().to_string(),
        "--user".into(),
        "admin".into(),
        "--secret".into(),
        "hunter2-not-it".into(),
    ];
    check(&["action", "Ping"], &wrong, 5, "authentication failed");
    let out = run(
        ami()
            .env("RUST_LOG", "trace")
            .args(wrong)
            .args(["command", "core show channels"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(5));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(!all.contains("hunter2"), "secret echoed: {all}");
    // Unknown subcommand: clap's usage error.
    check(&["frobnicate"], &[], 2, "unrecognized subcommand");
}

#[test]
fn plain_login_secret_is_redacted_in_trace_logs() {
    let server = server();
    let dir = scratch("redact");
    let cfg = write(
        &dir.join("plain.toml"),
        &format!(
            "[client]\nuser = \"admin\"\nsecret = \"amp111\"\nauth = \"plain\"\nport = {}\n",
            server.port()
        ),
    );
    let out = run(
        ami().env("RUST_LOG", "trace").args([
            "--config",
            &cfg.display().to_string(),
            "action",
            "Ping",
        ]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(!all.contains("amp111"), "secret in the output: {all}");
}

#[test]
fn config_servers_override_the_client_table_field_by_field() {
    let server = server();
    let dir = scratch("layers");
    write(&dir.join("pw"), "amp111\n");
    // [client] holds the user, the secret file and the port; `good` changes
    // only the host, `badpw` only the secret, `slow` only a limit.
    let cfg = write(
        &dir.join("layers.toml"),
        &format!(
            r#"
            [client]
            user = "admin"
            secret_file = "pw"
            port = {port}
            action_timeout_ms = 5000

            [servers.good]
            host = "127.0.0.1"

            [servers.badpw]
            secret = "wrong"

            [servers.badlimit]
            max_pending = 0
            "#,
            port = server.port()
        ),
    );
    let cfg = cfg.display().to_string();
    let ping = |name: &str| {
        run(
            ami().args(["--config", &cfg, "--server", name, "action", "Ping"]),
            LIMIT,
        )
    };
    let out = ping("good");
    assert!(out.status.success(), "good: {}", text(&out.stderr));
    let out = ping("badpw");
    assert_eq!(out.status.code(), Some(5), "badpw: {}", text(&out.stderr));
    let out = ping("badlimit");
    assert_eq!(
        out.status.code(),
        Some(3),
        "badlimit: {}",
        text(&out.stderr)
    );
    // Limits are checked at load, for every server of the file.
    let out = run(ami().args(["--config", &cfg, "listen"]), LIMIT);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("max_pending"));
    // A one-shot command needs one server: several is a usage error.
    let out = run(
        ami().args(["--config", &cfg, "-s", "good,badpw", "action", "Ping"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--server"));
    // The environment fills what the file leaves out, and flags win.
    let out = run(
        ami()
            .env("AMI_SECRET", "wrong-from-env")
            .args(["--config", &cfg, "--server", "badpw", "--secret-file"])
            .arg(dir.join("pw"))
            .args(["action", "Ping"]),
        LIMIT,
    );
    assert!(out.status.success(), "flag secret: {}", text(&out.stderr));
}

/// Reads a child's stdout lines on a thread, so waits can be bounded.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn listen_streams_every_server_and_stops_promptly_on_sigterm() {
    let (a, b) = (server(), server());
    let dir = scratch("listen");
    write(&dir.join("pw"), "amp111");
    let cfg = write(
        &dir.join("two.toml"),
        &format!(
            "[client]\nuser = \"admin\"\nsecret_file = \"pw\"\nhost = \"127.0.0.1\"\n\
             [servers.a]\nport = {}\n[servers.b]\nport = {}\n",
            a.port(),
            b.port()
        ),
    );
    let mut child = ami()
        .args([
            "--config",
            &cfg.display().to_string(),
            "listen",
            "--event",
            "Hangup",
        ])
        .args([
            "--match",
            "Channel=PJSIP/1-00000001",
            "--stats",
            "--stats-interval",
            "0.2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let lines = lines_of(&mut child);
    // Both servers are driven from the start (PHP pitfall 1); inject until
    // each has delivered an event that passes the filters.
    let wanted = "Event: Hangup\r\nChannel: PJSIP/1-00000001\r\nCause: 16\r\n\r\n";
    let noise = "Event: Newchannel\r\nChannel: PJSIP/1-00000001\r\n\r\n\
                 Event: Hangup\r\nChannel: PJSIP/2-00000002\r\nCause: 16\r\n\r\n";
    let mut seen = std::collections::BTreeSet::new();
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "events from {seen:?} only: {printed:?}"
        );
        for s in [&a, &b] {
            s.inject_all(format!("{noise}{wanted}{noise}"));
        }
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
            seen.insert(v["server"].as_str().expect("server").to_owned());
            printed.push(v);
        }
    }
    for v in &printed {
        assert_eq!(v["event"], "Hangup", "{v}");
        assert_eq!(
            v["headers"][1],
            serde_json::json!(["Channel", "PJSIP/1-00000001"])
        );
        assert!(v["received"].as_str().expect("time").ends_with('Z'));
    }
    assert_eq!(a.connections(), 1);
    assert_eq!(b.connections(), 1);

    // SIGTERM: log off, drain, close, exit 0, promptly; and no reconnect
    // afterwards (shutdown is a state, PHP pitfall 2).
    let pid = child.id().to_string();
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = wait(child, Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "took {:?}",
        sent.elapsed()
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("stats server=a state="), "{stderr}");
    assert!(stderr.contains("stats server=b state="), "{stderr}");
    thread::sleep(Duration::from_millis(300));
    for s in [&a, &b] {
        assert_eq!(s.connections(), 1, "reconnected after shutdown");
        assert_eq!(s.live_connections(), 0);
        assert!(s.received_actions().iter().any(|a| a == "Logoff"));
    }
}

/// A port on 127.0.0.1 nobody listens on.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port().to_string()
}

/// Sends `signal` (`-INT`, `-TERM`) to `child`.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn listen_exits_with_the_failure_of_a_first_connect_or_login() {
    // Issue 15 item 19: listen retried forever, then exited 0 on Ctrl-C, so
    // a service supervisor never saw the misconfiguration. Before a server's
    // first login, a refused connection exits 4 and refused credentials 5,
    // with one error line (item 18: no log line repeating it).
    let port = closed_port();
    let out = run(
        ami().args(["--port", &port, "--user", "a", "--secret", "b", "listen"]),
        LIMIT,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("connect failed"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");

    let server = server();
    let dir = scratch("listen-auth");
    write(&dir.join("pw"), "wrong");
    let cfg = write(
        &dir.join("two.toml"),
        &format!(
            "[client]\nuser = \"admin\"\nhost = \"127.0.0.1\"\nport = {}\n\
             [servers.good]\nsecret = \"amp111\"\n[servers.bad]\nsecret_file = \"pw\"\n",
            server.port()
        ),
    );
    let out = run(
        ami().args(["--config", &cfg.display().to_string(), "listen"]),
        LIMIT,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("bad: authentication failed"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    // The server that did log in was logged off on the way out.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.live_connections() > 0 {
        assert!(Instant::now() < deadline, "a session left open");
        thread::sleep(Duration::from_millis(10));
    }
    assert!(server.received_actions().iter().any(|a| a == "Logoff"));
}

#[test]
fn listen_keeps_reconnecting_after_a_first_login_until_sigint() {
    // Every session is dropped 300 ms after it starts: once the first login
    // has succeeded, listen reconnects with backoff and never exits on its
    // own; the reconnect warnings show (they say why it waits).
    let server = TcpServer::start(
        ServerConfig {
            auth_failure_delay: Duration::ZERO,
            ..ServerConfig::default()
        },
        Faults {
            drop_after: Some(Duration::from_millis(300)),
            ..Faults::default()
        },
    )
    .expect("fake server");
    let dir = scratch("listen-retry");
    let child = ami()
        .args(creds(&server, &dir))
        .arg("listen")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.connections() < 3 {
        assert!(
            Instant::now() < deadline,
            "{} sessions",
            server.connections()
        );
        thread::sleep(Duration::from_millis(20));
    }
    server.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    thread::sleep(Duration::from_millis(700));
    let mut child = child;
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "listen gave up"
    );
    signal(&child, "-INT");
    let out = wait(child, Duration::from_secs(5));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("reconnecting"), "{stderr}");
    assert!(!stderr.contains("ami: error"), "{stderr}");
}

#[test]
fn connect_and_login_errors_are_printed_once() {
    // Issue 15 item 18: a WARN log line, then `ami: error:`, said it twice.
    let server = server();
    let port = server.port().to_string();
    let closed = closed_port();
    for (port, secret, code) in [(&port, "wrong", 5), (&closed, "amp111", 4)] {
        for cmd in [&["action", "Ping"][..], &["command", "core show channels"]] {
            let out = run(
                ami()
                    .args(["--port", port, "--user", "admin", "--secret", secret])
                    .args(cmd),
                LIMIT,
            );
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{cmd:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{cmd:?}: {stderr}");
            assert!(stderr.starts_with("ami: error: "), "{stderr}");
        }
    }
}

#[test]
fn flags_a_command_does_not_use_are_usage_errors() {
    // Issue 15 item 20: `ami demo --port 5038` ran the demo on its own port
    // and `ami decode --tls` decoded in clear: the flags were ignored.
    let dir = scratch("unused-flags");
    let raw = write(&dir.join("x.raw"), "Asterisk Call Manager/11.0.0\r\n");
    let raw = raw.display().to_string();
    for args in [
        &["demo", "--port", "5038"][..],
        &["--port", "5038", "demo"],
        &["demo", "--seconds", "1", "--secret", "x"],
        &["decode", "--tls", &raw],
        &["--config", "servers.toml", "decode", &raw],
        &["decode", &raw, "--server", "pbx1"],
    ] {
        let out = run(ami().args(args), LIMIT);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot be used with"), "{args:?}: {stderr}");
        assert!(stderr.contains("Usage:"), "{args:?}: {stderr}");
    }
    // The flags still work where they mean something.
    let out = run(ami().args(["decode", &raw, "--max-frame", "65536"]), LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn an_unknown_cli_command_prints_the_servers_lines_as_they_read() {
    // Issue 15 item 20: "Command output follows No such command ..." glued
    // the response's Message to its output line.
    let server = server();
    let dir = scratch("unknown-command");
    let out = run(
        ami()
            .args(creds(&server, &dir))
            .args(["command", "core show nonsense"]),
        LIMIT,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert_eq!(
        stderr,
        "ami: error: 127.0.0.1: No such command 'core show nonsense' \
         (type 'core show help core show nonsense' for other possible commands)\n"
    );
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/asterisk-22")
}

#[test]
fn decode_counts_match_the_corpus_index() {
    let dir = corpus();
    let index: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("INDEX.json")).expect("INDEX"))
            .expect("INDEX.json");
    assert!(index.len() >= 25);
    let files: Vec<PathBuf> = index
        .iter()
        .map(|e| dir.join(format!("{}.raw", e["file"].as_str().expect("file"))))
        .collect();
    let out = run(ami().arg("decode").args(&files), LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let (mut frames, mut events) = (0, 0);
    for (entry, file) in index.iter().zip(&files) {
        let responses: u64 = entry["responses"]
            .as_object()
            .expect("responses")
            .values()
            .map(|v| v.as_u64().expect("count"))
            .sum();
        let want = format!(
            "{}: frames={} responses={responses} events={} banner=1 errors=0",
            file.display(),
            entry["frames"],
            entry["events"]
        );
        assert!(
            stderr.lines().any(|l| l == want),
            "missing {want:?} in\n{stderr}"
        );
        frames += entry["frames"].as_u64().expect("frames");
        events += entry["events"].as_u64().expect("events");
    }
    let total = stderr.lines().last().expect("total line");
    assert!(total.starts_with(&format!("frames={frames} ")), "{total}");
    assert!(total.contains(&format!(" events={events} ")), "{total}");
    // One JSON line per frame, banners included.
    let stdout = text(&out.stdout);
    let kinds: Vec<String> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["kind"].as_str().expect("kind").to_owned()
        })
        .collect();
    assert_eq!(kinds.len() as u64, frames + index.len() as u64);
    assert_eq!(
        kinds.iter().filter(|k| *k == "event").count() as u64,
        events
    );
}

#[test]
fn decode_reads_stdin_and_survives_bad_bytes() {
    let mut child = ami()
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = std::fs::read(corpus().join("04-ping.raw")).expect("raw");
    input.extend_from_slice(b"\x00garbage line\r\n\r\nEvent: After\r\nX: y\r\n\r\nEvent: Cut");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&input).expect("write");
    drop(stdin);
    let out = wait(child, LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.lines().last(),
        Some("frames=6 responses=3 events=3 banner=1 errors=2"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains(r#"["Event","After"]"#));
}

const BENCH: &str = env!("CARGO_BIN_EXE_ami-bench-client");

#[test]
fn bench_client_follows_the_contract() {
    let config = ServerConfig {
        accept_any_login: true,
        channels: 7,
        ..ServerConfig::default()
    }
    .with_command("core show channels", &["a", "b", "c"]);
    let faults = Faults::flood(3000);
    let server = TcpServer::start(config.clone(), faults).expect("flood server");
    let port = server.port().to_string();
    let bench = |args: &[&str]| {
        let out = run(
            Command::new(BENCH).args(["127.0.0.1", &port]).args(args),
            LIMIT,
        );
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let first = |s: &str| s.split_whitespace().next().unwrap_or("").to_owned();
    // The fake server, like Asterisk, sends FullyBooted and SuccessfulAuth
    // right after the login response, before the flood: every event but
    // BenchDone counts, so those two do too. None may be lost.
    let (code, stdout, stderr) = bench(&["flood", "3000"]);
    assert_eq!(
        (code, first(&stdout).as_str()),
        (Some(0), "events=3002"),
        "{stderr}"
    );
    assert_eq!(stdout.lines().count(), 1);

    let server = TcpServer::start(config, Faults::default()).expect("server");
    let port = server.port().to_string();
    let bench = |args: &[&str]| {
        let out = run(
            Command::new(BENCH).args(["127.0.0.1", &port]).args(args),
            LIMIT,
        );
        (
            out.status.code(),
            first(&text(&out.stdout)),
            text(&out.stderr),
        )
    };
    assert_eq!(bench(&["ping", "300", "16"]).1, "pings=300");
    assert_eq!(bench(&["ping", "5", "1"]).1, "pings=5");
    assert_eq!(bench(&["list", "7", "3"]).1, "items=21");
    assert_eq!(bench(&["command", "250", "2"]).1, "lines=6");
    assert_eq!(bench(&["command", "250", "2", "legacy"]).1, "lines=6");
    let (code, word, _) = bench(&["teleport", "1"]);
    assert_eq!((code, word.as_str()), (Some(2), "unsupported:"));
}

#[test]
fn action_refuses_a_missing_required_parameter_before_connecting() {
    // Nobody listens on the port: an action that got as far as connecting
    // would exit 4. The refusal is a usage error, exit 2, naming both.
    let port = closed_port();
    let server = ["--port", &port, "--user", "a", "--secret", "b"];
    for (args, needle) in [
        (
            &["action", "Hangup"][..],
            "Hangup requires the Channel parameter",
        ),
        (
            &["action", "redirect", "Channel=PJSIP/1-1", "Context=default"],
            "Redirect requires the Exten parameter",
        ),
    ] {
        let out = run(ami().args(server).args(args), LIMIT);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stderr.contains("ami actions"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
    // Not refused: what the server accepts (Setvar without Value) and what
    // the catalogue does not know.
    for args in [
        &["action", "Setvar", "Variable=GLOBAL_X"][..],
        &["action", "MyModuleAction"],
    ] {
        let out = run(ami().args(server).args(args), LIMIT);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn actions_lists_an_actions_parameters_and_which_are_required() {
    let out = run(ami().args(["actions", "originate"]), LIMIT);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} line: {stdout}"))
            .to_owned()
    };
    assert!(
        stdout.starts_with("Originate (Asterisk 13.38.3 to 23.4.1)"),
        "{stdout}"
    );
    assert!(line("Channel").contains("required"), "{stdout}");
    assert!(line("Async").contains("optional"), "{stdout}");
    assert!(
        line("PreDialGoSub").contains("Asterisk 18.26.4 to 23.4.1"),
        "{stdout}"
    );
    assert!(!stdout.contains("ActionID"), "{stdout}");
    // Documented as required, accepted absent by the server: optional, and why.
    let out = run(ami().args(["actions", "Setvar"]), LIMIT);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("required"), "{stdout}");
    let value = stdout
        .lines()
        .find(|l| l.starts_with("  Value"))
        .expect("Value");
    assert!(
        value.contains("optional") && value.contains("action_setvar"),
        "{stdout}"
    );
    // Every action, one per line.
    let out = run(ami().args(["actions"]), LIMIT);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in ["Originate", "PJSIPShowEndpoint", "QueueStatus"] {
        assert!(stdout.lines().any(|l| l == name), "{name}: {stdout}");
    }
    // An unknown name is a usage error; server flags are refused as for decode.
    let out = run(ami().args(["actions", "NoSuchAction"]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("NoSuchAction"),
        "{}",
        text(&out.stderr)
    );
    let out = run(ami().args(["actions", "Ping", "--port", "5038"]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot be used with"));
}

#[test]
fn listen_warns_about_event_names_no_version_documents() {
    // The warning comes before connecting: the closed port then ends the
    // command (exit 4) without a server.
    let port = closed_port();
    let out = run(
        ami().args([
            "--port",
            &port,
            "--user",
            "a",
            "--secret",
            "b",
            "listen",
            "--event",
            "Hangup,Hangupp,newexten,QueueMember",
        ]),
        LIMIT,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("\"Hangupp\""), "{stderr}");
}
