//! `ami serve` as a subprocess, driven by a client of each adapter over
//! 127.0.0.1 and ::1: the start line, per-destination Originate outcomes,
//! accounts with permission classes, queues, a flood, and a prompt exit on
//! SIGINT or SIGTERM. Every wait is bounded; a child that overstays is
//! killed and the test fails.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ami_proto::{Action, ActionError, AuthMethod, Completion, Config, Originate};

mod common;

use common::{ami, run, text, wait};

/// A running `ami serve` and what its start line said.
struct Serve {
    child: Child,
    addrs: Vec<SocketAddr>,
    user: String,
    secret: String,
}

impl Serve {
    /// Starts `ami serve --port 0 ARGS` and parses its start line
    /// (`listening ADDR... user=NAME secret=SECRET`).
    fn start(args: &[&str]) -> Serve {
        let mut child = ami()
            .args(["serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ami serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) else {
            let _ = child.kill();
            panic!(
                "no start line within 10 s: {}",
                text(&wait(child, LIMIT).stderr)
            );
        };
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("listening"), "{line:?}");
        let (mut addrs, mut user, mut secret) = (Vec::new(), String::new(), String::new());
        for word in words {
            if let Some(u) = word.strip_prefix("user=") {
                user = u.to_string();
            } else if let Some(s) = word.strip_prefix("secret=") {
                secret = s.to_string();
            } else {
                addrs.push(word.parse().expect("an address"));
            }
        }
        assert!(!addrs.is_empty() && !user.is_empty(), "{line:?}");
        Serve {
            child,
            addrs,
            user,
            secret,
        }
    }

    /// A client config for the printed account (MD5 login, short timeouts).
    fn config(&self) -> Config {
        login(&self.user, &self.secret)
    }

    /// Sends `signal` (`-TERM`, `-INT`) and expects exit 0 within 5 s.
    fn stop(self, signal: &str) -> String {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let out = wait(self.child, Duration::from_secs(5));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        stderr
    }
}

const LIMIT: Duration = Duration::from_secs(15);

fn login(user: &str, secret: &str) -> Config {
    let mut c = Config::new("serve", user, secret);
    c.auth = AuthMethod::Md5;
    c.action_timeout = Duration::from_secs(5);
    c.login_timeout = Duration::from_secs(5);
    c
}

/// An async Originate of `Local/{exten}@default` running `Wait(1)`.
fn call(exten: &str) -> Action {
    Action::originate(
        Originate::new(format!("Local/{exten}@default"))
            .application("Wait", "1")
            .timeout_ms(2_000)
            .async_(true),
    )
}

/// The `(Response: Success?, Reason)` an Originate ended with.
fn outcome(completion: Completion) -> (bool, Option<u32>) {
    match completion {
        Completion::Originate(o) => (o.is_success(), o.reason()),
        other => panic!("not an Originate outcome: {other:?}"),
    }
}

const DESTS: [&str; 6] = [
    "--dest",
    "100=answer:0:0.2",
    "--dest",
    "busy=busy",
    "--dest",
    "999=fail",
];

/// Each destination ends its own way, for a client of each adapter (smol,
/// tokio, blocking) on the same server; a limited account is denied;
/// SIGTERM exits 0.
#[test]
fn each_adapter_sees_each_destinations_outcome_then_sigterm_stops_it() {
    let mut args = DESTS.to_vec();
    args.extend([
        "--users",
        "admin:amp111",
        "--account",
        "bob:pw:read=system:write=system",
    ]);
    let serve = Serve::start(&args);
    assert_eq!(
        (serve.user.as_str(), serve.secret.as_str()),
        ("admin", "amp111")
    );
    let addr = serve.addrs[0];
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let want = [
        ("100", (true, Some(4))),
        ("busy", (false, Some(5))),
        ("999", (false, Some(0))),
    ];

    let smol_config = ami_smol::ClientConfig::new(addr.to_string(), serve.config());
    smol::block_on(async {
        let client = ami_smol::Client::connect(smol_config)
            .await
            .expect("smol logs in");
        for (exten, expected) in want {
            let done = client.send(call(exten)).await.expect("completes");
            assert_eq!(outcome(done), expected, "smol: {exten}");
        }
        client.close().await;
    });

    let tokio_config = ami_tokio::ClientConfig::new(addr.to_string(), serve.config());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let client = ami_tokio::Client::connect(tokio_config)
            .await
            .expect("tokio logs in");
        for (exten, expected) in want {
            let done = client.send(call(exten)).await.expect("completes");
            assert_eq!(outcome(done), expected, "tokio: {exten}");
        }
        client.close().await;
    });

    let mut client =
        ami_blocking::Client::connect(addr, Duration::from_secs(2), serve.config()).expect("login");
    for (exten, expected) in want {
        let done = client.send(call(exten)).expect("completes");
        assert_eq!(outcome(done), expected, "blocking: {exten}");
    }
    client.close().expect("logs off");
    let mut bob = ami_blocking::Client::connect(addr, Duration::from_secs(2), login("bob", "pw"))
        .expect("bob logs in");
    let denied = bob.send(call("100")).expect_err("bob may not originate");
    assert!(
        matches!(&denied, ami_blocking::ClientError::Action(ActionError::Server { message }) if message == "Permission denied"),
        "{denied:?}"
    );
    // The default accounts were replaced.
    let refused =
        ami_blocking::Client::connect(addr, Duration::from_secs(2), login("demo", "demo-secret"));
    assert!(refused.is_err());

    let stderr = serve.stop("-TERM");
    assert!(stderr.contains("stopped by signal"), "{stderr}");
}

/// Listening on 127.0.0.1 and ::1 with one PBX: a queue's members show
/// through one address, the flood reaches a session of the other; SIGINT
/// exits 0.
#[test]
fn both_loopbacks_a_queue_and_a_flood() {
    let serve = Serve::start(&[
        "--bind",
        "127.0.0.1",
        "--bind",
        "::1",
        "--queue",
        "sales:agents=2",
        "--flood",
        "2000/s",
        "--channels",
        "0",
    ]);
    assert_eq!(serve.addrs.len(), 2);
    assert!(serve.addrs[1].is_ipv6() && serve.addrs[1].port() == serve.addrs[0].port());
    let mut v4 =
        ami_blocking::Client::connect(serve.addrs[0], Duration::from_secs(2), serve.config())
            .expect("127.0.0.1");
    let queue = Action::new("QueueStatus").header("Queue", "sales");
    match v4.send(queue).expect("QueueStatus") {
        Completion::List(list) => {
            let items = &list.items;
            let members = items.iter().filter(|e| e.is("QueueMember")).count();
            assert_eq!(members, 2, "{items:?}");
        }
        other => panic!("{other:?}"),
    }

    let mut v6 =
        ami_blocking::Client::connect(serve.addrs[1], Duration::from_secs(2), serve.config())
            .expect("::1");
    let started = Instant::now();
    let mut flood = 0;
    while flood < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{flood} flood events"
        );
        if let Some(e) = v6
            .next_event(Duration::from_millis(200))
            .expect("session up")
        {
            flood += usize::from(!e.is("FullyBooted") && !e.is("SuccessfulAuth"));
        }
    }
    drop((v4, v6));
    serve.stop("-INT");
}

/// The simulated server's clock starts at the wall clock, not at the
/// captures' time (2026-11-26): the Ping's `Timestamp` and the Uniqueids of
/// the channels up at the start (which date them in `ami top`) are now.
#[test]
fn the_servers_clock_is_the_wall_clock() {
    use std::time::{SystemTime, UNIX_EPOCH};

    let serve = Serve::start(&["--channels", "2"]);
    let mut client =
        ami_blocking::Client::connect(serve.addrs[0], Duration::from_secs(2), serve.config())
            .expect("login");
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64()
    };
    let near_now = |what: &str, secs: &[u8]| {
        let text = String::from_utf8_lossy(secs);
        let secs: f64 = text.parse().unwrap_or_else(|_| panic!("{what}: {text:?}"));
        assert!(
            (secs - now()).abs() < 60.0,
            "{what}: {text} is not now ({})",
            now()
        );
    };
    let pong = client.send(Action::ping()).expect("Pong");
    near_now(
        "Ping's Timestamp",
        pong.response().get("Timestamp").expect("a Timestamp"),
    );
    match client.send(Action::core_show_channels()).expect("listed") {
        Completion::List(list) => {
            let items = &list.items;
            assert_eq!(items.len(), 2, "{items:?}");
            for item in items {
                let uniqueid = item.get("Uniqueid").expect("a Uniqueid");
                let secs = uniqueid.split(|&b| b == b'.').next().expect("secs.seq");
                near_now("a channel's Uniqueid", secs);
            }
        }
        other => panic!("{other:?}"),
    }
    drop(client);
    serve.stop("-TERM");
}

#[test]
fn bad_serve_flags_exit_two() {
    for args in [
        &["serve", "--dest", "100=maybe"][..],
        &["serve", "--bind", "192.0.2.1"],
        &["serve", "--users", "nosecret"],
        &["serve", "--flood", "fast"],
        &["serve", "--host", "127.0.0.1"],
        &["serve", "--dest", "100@test=fail"],
    ] {
        let out = run(ami().args(args), LIMIT);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing listens");
    }
}
