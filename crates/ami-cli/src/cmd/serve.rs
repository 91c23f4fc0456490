//! `ami serve`: the test harness's simulated Asterisk as a standalone
//! server, to develop against and to test other languages' clients with.
//!
//! It serves the PBX `ami demo` drives ([`stage::stage`]: the captures'
//! dialplan, users, queues and hints, [`CHANNELS`] calls up, a wrong
//! password answered after a second) with the flags' changes on top:
//! accounts and their permission classes, per-destination outcomes, queues
//! with agents that answer, background calls, an event flood. It listens on
//! 127.0.0.1 (port 5038 unless `--port`; 0 picks a free one), on every
//! `--bind` address instead when given, all with one PBX; an address that
//! is not a loopback one needs `--allow-remote` as well.
//!
//! Once listening it prints ONE line on stdout, for scripts to parse:
//!
//! ```text
//! listening 127.0.0.1:5038 user=admin secret=amp111
//! ```
//!
//! (every address, then the first account), then runs until SIGINT or
//! SIGTERM and exits 0.
//!
//! ```text
//! ami serve --port 0 --dest 100=answer --dest busy=busy --dest 999=fail
//! ami --port 5038 --user admin --secret amp111 action Originate \
//!     Channel=Local/999@default Application=Wait Data=1 Async=true   # exits 6: Reason 0
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_testkit::{
    Classes, Destination, Dialplan, Extension, Faults, Flood, Pbx, Queue, ServerConfig, Strategy,
    TcpServer, User,
};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::exit::Fail;
use crate::stage::{self, CHANNELS};

/// The port Asterisk listens on, and `ami serve` unless `--port`.
const DEFAULT_PORT: u16 = 5038;
/// The context of a `--dest` without `@CONTEXT`.
const DEFAULT_CONTEXT: &str = "default";
/// Where `--queue NAME` callers go: `Local/NAME@queues`.
const QUEUE_CONTEXT: &str = "queues";
/// How long a caller waits in a queue before giving up.
const QUEUE_WAIT: Duration = Duration::from_secs(60);

/// Flags of `ami serve` (the port is the global `--port`).
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// An address to listen on instead of 127.0.0.1 (repeat for several,
    /// e.g. --bind 127.0.0.1 --bind ::1); all share the port and the PBX.
    #[arg(long, value_name = "IP")]
    bind: Vec<IpAddr>,
    /// Allow --bind addresses that are not loopback ones. Anyone who can
    /// reach them can log in with the printed secret.
    #[arg(long)]
    allow_remote: bool,
    /// Accounts with every permission, as NAME:SECRET (comma-separated or
    /// repeated). With --account, they replace the default accounts
    /// (admin:amp111, limited:limited123, demo:demo-secret).
    #[arg(long, value_delimiter = ',', value_name = "NAME:SECRET,...")]
    users: Vec<String>,
    #[arg(
        long,
        help = "An account with manager.conf permission classes, as \
                NAME:SECRET[:read=CLASSES][:write=CLASSES] (CLASSES comma-separated, \
                such as call,system; an omitted list is all). Repeat for several.",
        value_name = "NAME:SECRET[:read=..][:write=..]"
    )]
    account: Vec<String>,
    #[arg(
        long,
        help = "How a destination answers: EXTEN[@CONTEXT]=OUTCOME (CONTEXT default: \
                default; reached as Local/EXTEN@CONTEXT) or DEVICE=OUTCOME (PJSIP/alice). \
                OUTCOME: answer[:RING[:TALK]] (seconds rung and talked, default 1 and \
                2), busy, congestion, noanswer (rings until the Originate's timeout), \
                fail (no such extension or device: Reason 0).",
        value_name = "DEST=OUTCOME"
    )]
    dest: Vec<String>,
    #[arg(
        long,
        help = "A queue, as NAME[:agents=N][:strategy=S]: N agents (default 1) who \
                answer after ringing 1 s and talk 3 s; callers reach it as \
                Local/NAME@queues. Replaces a default queue of the same name.",
        value_name = "NAME[:agents=N]"
    )]
    queue: Vec<String>,
    /// Simulated dialer calls per second (17 events each), published to
    /// the sessions that receive call events.
    #[arg(long, alias = "calls-per-sec", default_value_t = 0.0, value_name = "R")]
    calls_per_second: f64,
    /// An endless flood of call events to every session that receives
    /// events, from its login on, at N events per second (e.g. 2000/s).
    #[arg(long, value_name = "N/s")]
    flood: Option<String>,
    /// Channels up at the start (calls to long@test, two halves each).
    #[arg(long, default_value_t = CHANNELS, value_name = "N")]
    channels: usize,
    /// Answer Command the Asterisk 13 way (Response: Follows, the output
    /// as text, --END COMMAND--) instead of one Output: header per line.
    #[arg(long)]
    legacy_command: bool,
    /// Seed of the MD5 challenges and the simulated traffic.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
}

/// Runs `ami serve` until SIGINT or SIGTERM.
pub(crate) fn run(port: Option<u16>, args: Args) -> Result<ExitCode, Fail> {
    let scenario = Scenario::from_args(&args).map_err(Fail::Usage)?;
    let ips = listen_ips(&args.bind, args.allow_remote).map_err(Fail::Usage)?;
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Fail::Other(format!("cannot install signal handlers: {e}")))?;
    let pbx = Pbx::new(stage::starting_now(scenario.config), Instant::now());
    let mut port = port.unwrap_or(DEFAULT_PORT);
    let mut servers = Vec::new();
    for ip in ips {
        let addr = SocketAddr::new(ip, port);
        let server = TcpServer::bind(addr, &pbx, scenario.faults.clone())
            .map_err(|e| Fail::Other(format!("cannot listen on {addr}: {e}")))?;
        // Port 0 chose one: the other addresses take the same.
        port = server.port();
        servers.push(server);
    }
    let addrs: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let (user, secret) = &scenario.login;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "listening {} user={user} secret={secret}",
        addrs.join(" ")
    )
    .and_then(|()| out.flush())
    .map_err(|e| Fail::Other(format!("stdout: {e}")))?;
    drop(out);
    eprintln!(
        "ami serve: simulated Asterisk on {}; accounts {}; SIGINT or SIGTERM stops it",
        addrs.join(", "),
        scenario.accounts.join(", ")
    );

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = (args.calls_per_second > 0.0)
        .then(|| {
            let (pbx, stop, rate, seed) =
                (pbx.clone(), stop.clone(), args.calls_per_second, args.seed);
            std::thread::Builder::new()
                .name("ami-serve-traffic".into())
                .spawn(move || stage::publish_calls(&pbx, rate, seed, &stop, &AtomicU64::new(0)))
        })
        .transpose()
        .map_err(|e| Fail::Other(format!("cannot start the traffic thread: {e}")))?;

    let signal = signals.forever().next();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = traffic {
        let _ = t.join();
    }
    for server in servers {
        server.stop();
    }
    eprintln!(
        "ami serve: stopped by signal {}",
        signal.unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// What the flags make of the demo's stage.
#[derive(Debug)]
struct Scenario {
    config: ServerConfig,
    faults: Faults,
    /// The account printed on the start line: the first one given, else admin.
    login: (String, String),
    /// Every account's name, for the stderr line.
    accounts: Vec<String>,
}

impl Scenario {
    fn from_args(args: &Args) -> Result<Scenario, String> {
        let mut config = stage::stage(args.seed);
        if args.channels > 10_000 {
            return Err(format!("--channels {}: expected 0..=10000", args.channels));
        }
        config.channels = args.channels;
        config.legacy_command = args.legacy_command;
        let rate = args.calls_per_second;
        if !(rate.is_finite() && (0.0..=10_000.0).contains(&rate)) {
            return Err(format!("--calls-per-second {rate}: expected 0..=10000"));
        }

        let mut login = ("admin".to_string(), "amp111".to_string());
        let mut given = Vec::new();
        for spec in &args.users {
            let (name, secret) = spec
                .split_once(':')
                .filter(|(n, s)| !n.is_empty() && !s.is_empty())
                .ok_or_else(|| format!("--users {spec:?}: expected NAME:SECRET"))?;
            given.push((name.to_string(), User::new(secret)));
        }
        for spec in &args.account {
            given.push(parse_account(spec)?);
        }
        if let Some((name, user)) = given.first() {
            login = (name.clone(), user.secret.clone());
            config.users = BTreeMap::new();
        }
        for (name, user) in given {
            config = config.with_user(&name, user);
        }

        let mut dialplan = config.dialplan.take().unwrap_or_default();
        let mut missing = Vec::new();
        for spec in &args.dest {
            let (dest, outcome) = parse_dest(spec)?;
            match (outcome, &dest) {
                (Some(d), Dest::Device(device)) => dialplan = dialplan.device(device, d),
                (Some(d), Dest::Exten { exten, context }) => {
                    dialplan = dialplan.destination(&format!("{exten}@{context}"), d)
                }
                (None, _) => missing.push((spec, dest)),
            }
        }
        for spec in &args.queue {
            let (queue, agents) = parse_queue(spec)?;
            for agent in agents {
                dialplan = dialplan.extension("agents", agent);
            }
            config = config.with_queue(queue);
        }
        for q in &config.queues {
            dialplan = dialplan.extension(
                QUEUE_CONTEXT,
                Extension::new(&q.name)
                    .answer()
                    .queue(&q.name, QUEUE_WAIT)
                    .hangup(),
            );
        }
        for (spec, dest) in missing {
            if let Some(found) = dest.find(&dialplan) {
                return Err(format!(
                    "--dest {spec}: the dialplan already has it ({found}); choose another"
                ));
            }
        }
        config = config.with_dialplan(dialplan);

        let faults = match &args.flood {
            Some(spec) => Faults {
                flood: Some(Flood {
                    events: u64::MAX,
                    rate_per_sec: Some(parse_rate(spec)?),
                    then_done: false,
                }),
                ..Faults::default()
            },
            None => Faults::default(),
        };
        let accounts = config.users.keys().cloned().collect();
        Ok(Scenario {
            config,
            faults,
            login,
            accounts,
        })
    }
}

/// Where a `--dest` leads.
#[derive(Debug, PartialEq)]
enum Dest {
    /// `Local/EXTEN@CONTEXT` runs this extension.
    Exten { exten: String, context: String },
    /// A device, such as `PJSIP/alice`.
    Device(String),
}

impl Dest {
    /// What the dialplan already has there, if anything.
    fn find(&self, plan: &Dialplan) -> Option<String> {
        match self {
            Dest::Exten { exten, context } => plan
                .find(context, exten)
                .map(|e| format!("{}@{context}", e.name())),
            Dest::Device(device) => plan.find_device(device).map(|_| device.clone()),
        }
    }
}

/// `EXTEN[@CONTEXT]=OUTCOME` or `DEVICE=OUTCOME`; the outcome `None` is
/// `fail` (the destination must not exist).
fn parse_dest(spec: &str) -> Result<(Dest, Option<Destination>), String> {
    let bad = |why: &str| format!("--dest {spec:?}: {why}");
    let (target, outcome) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected DEST=OUTCOME"))?;
    let dest = if target.contains('/') {
        Dest::Device(target.to_string())
    } else {
        let (exten, context) = target.split_once('@').unwrap_or((target, DEFAULT_CONTEXT));
        Dest::Exten {
            exten: exten.to_string(),
            context: context.to_string(),
        }
    };
    let empty = match &dest {
        Dest::Device(d) => d.ends_with('/'),
        Dest::Exten { exten, context } => exten.is_empty() || context.is_empty(),
    };
    if empty || target.contains(char::is_whitespace) {
        return Err(bad("no destination before '='"));
    }
    let mut words = outcome.split(':');
    let outcome = match (words.next().unwrap_or_default(), words.next(), words.next()) {
        ("answer", ring, talk) => {
            let secs = |v: Option<&str>, default: f64| -> Result<Duration, String> {
                let v = v.map_or(Ok(default), str::parse::<f64>);
                match v {
                    Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => {
                        Ok(Duration::from_secs_f64(s))
                    }
                    _ => Err(bad("answer:RING:TALK takes seconds, 0..=3600")),
                }
            };
            let (ring, talk) = (secs(ring, 1.0)?, secs(talk, 2.0)?);
            Some(Destination::answer_after(ring, talk))
        }
        ("busy", None, None) => Some(Destination::Busy),
        ("congestion", None, None) => Some(Destination::Congestion),
        ("noanswer", None, None) => Some(Destination::NoAnswer),
        ("fail", None, None) => None,
        _ => {
            return Err(bad(
                "OUTCOME is answer[:RING[:TALK]], busy, congestion, noanswer or fail",
            ))
        }
    };
    if words.next().is_some() {
        return Err(bad("answer takes at most RING and TALK"));
    }
    Ok((dest, outcome))
}

/// `NAME:SECRET[:read=CLASSES][:write=CLASSES]`.
fn parse_account(spec: &str) -> Result<(String, User), String> {
    let bad = |why: String| format!("--account {spec:?}: {why}");
    let mut parts = spec.split(':');
    let (Some(name), Some(secret)) = (parts.next(), parts.next()) else {
        return Err(bad(
            "expected NAME:SECRET[:read=CLASSES][:write=CLASSES]".into()
        ));
    };
    if name.is_empty() || secret.is_empty() {
        return Err(bad(
            "expected NAME:SECRET[:read=CLASSES][:write=CLASSES]".into()
        ));
    }
    let mut user = User::new(secret);
    for part in parts {
        let (which, list) = part.split_once('=').unwrap_or((part, ""));
        let classes = parse_classes(list).map_err(bad)?;
        match which {
            "read" => user.read = classes,
            "write" => user.write = classes,
            _ => return Err(bad(format!("{part:?} is neither read=... nor write=..."))),
        }
    }
    Ok((name.to_string(), user))
}

/// A manager.conf class list; unlike Asterisk, an unknown name is an error
/// (a typo would otherwise silently take a permission away).
fn parse_classes(list: &str) -> Result<Classes, String> {
    for word in list.split(',').map(str::trim) {
        if word != "none" && Classes::parse(word).is_empty() {
            return Err(format!("unknown permission class {word:?}"));
        }
    }
    Ok(Classes::parse(list))
}

/// `NAME[:agents=N][:strategy=S]`: the queue and its agents' extensions
/// (in context `agents`).
fn parse_queue(spec: &str) -> Result<(Queue, Vec<Extension>), String> {
    let bad = |why: &str| format!("--queue {spec:?}: {why}");
    let mut parts = spec.split(':');
    let name = parts.next().unwrap_or_default();
    if name.is_empty() || name.starts_with('_') || name.contains(['@', '/', ',', ' ']) {
        return Err(bad("expected NAME[:agents=N][:strategy=S]"));
    }
    let mut queue = Queue::new(name);
    let mut agents = 1;
    for part in parts {
        match part.split_once('=') {
            Some(("agents", n)) => {
                agents = n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| bad("agents=N takes 1..=100"))?;
            }
            Some(("strategy", s)) => {
                queue = queue.strategy(match s {
                    "ringall" => Strategy::RingAll,
                    "leastrecent" => Strategy::LeastRecent,
                    "fewestcalls" => Strategy::FewestCalls,
                    "rrmemory" => Strategy::RrMemory,
                    _ => {
                        return Err(bad(
                            "strategy is ringall, leastrecent, fewestcalls or rrmemory",
                        ))
                    }
                });
            }
            _ => return Err(bad("expected NAME[:agents=N][:strategy=S]")),
        }
    }
    let mut extensions = Vec::new();
    for k in 1..=agents {
        let exten = format!("{name}-agent{k}");
        queue = queue.member(&format!("Agent {k}"), &format!("Local/{exten}@agents"), 0);
        extensions.push(stage::agent(&exten));
    }
    Ok((queue, extensions))
}

/// `N/s` or `N`: events per second, 1..=1,000,000.
fn parse_rate(spec: &str) -> Result<u64, String> {
    spec.strip_suffix("/s")
        .unwrap_or(spec)
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| format!("--flood {spec:?}: expected N/s, N in 1..=1000000"))
}

/// The addresses to listen on: 127.0.0.1 by default; anything but loopback
/// only with `--allow-remote`.
fn listen_ips(bind: &[IpAddr], allow_remote: bool) -> Result<Vec<IpAddr>, String> {
    if bind.is_empty() {
        return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    }
    if let Some(ip) = bind.iter().find(|ip| !ip.is_loopback() && !allow_remote) {
        return Err(format!(
            "--bind {ip} is not a loopback address: add --allow-remote to listen there"
        ));
    }
    let mut ips = bind.to_vec();
    ips.dedup();
    Ok(ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_with_their_defaults() {
        let exten = |e: &str, c: &str| Dest::Exten {
            exten: e.into(),
            context: c.into(),
        };
        let ok = |s: &str| parse_dest(s).expect(s);
        assert_eq!(
            ok("100=answer"),
            (
                exten("100", "default"),
                Some(Destination::answer_after(
                    Duration::from_secs(1),
                    Duration::from_secs(2)
                ))
            )
        );
        assert_eq!(
            ok("100@sales=answer:0:0.5").1,
            Some(Destination::answer_after(
                Duration::ZERO,
                Duration::from_millis(500)
            ))
        );
        assert_eq!(
            ok("busy=busy"),
            (exten("busy", "default"), Some(Destination::Busy))
        );
        assert_eq!(ok("999@x=fail"), (exten("999", "x"), None));
        assert_eq!(
            ok("PJSIP/alice=noanswer"),
            (
                Dest::Device("PJSIP/alice".into()),
                Some(Destination::NoAnswer)
            )
        );
        for bad in [
            "100",
            "=busy",
            "100=",
            "100=maybe",
            "100=busy:1",
            "100=answer:x",
            "100=answer:1:2:3",
            "100@=busy",
            "PJSIP/=busy",
            "100=answer:-1",
        ] {
            assert!(parse_dest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accounts_queues_and_rates_parse() {
        let (name, user) = parse_account("bob:pw:read=system,call:write=call").expect("account");
        assert_eq!(name, "bob");
        assert_eq!(user.secret, "pw");
        assert_eq!(user.read, Classes::SYSTEM.or(Classes::CALL));
        assert_eq!(user.write, Classes::CALL);
        assert_eq!(parse_account("x:y").expect("all").1.write, Classes::ALL);
        assert_eq!(
            parse_account("x:y:read=none").expect("none").1.read,
            Classes::NONE
        );
        for bad in ["x", ":y", "x:", "x:y:read=cal", "x:y:other=call"] {
            assert!(parse_account(bad).is_err(), "{bad}");
        }
        let (q, agents) = parse_queue("support:agents=3:strategy=rrmemory").expect("queue");
        assert_eq!(
            (q.members.len(), agents.len(), q.strategy),
            (3, 3, Strategy::RrMemory)
        );
        assert_eq!(q.members[2].interface, "Local/support-agent3@agents");
        for bad in [
            "",
            "_x",
            "q:agents=0",
            "q:agents=x",
            "q:strategy=random",
            "q:x",
        ] {
            assert!(parse_queue(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rate("2000/s"), Ok(2000));
        assert_eq!(parse_rate("5"), Ok(5));
        assert!(parse_rate("0/s").is_err() && parse_rate("fast").is_err());
    }

    #[test]
    fn only_loopback_without_allow_remote() {
        let v4: IpAddr = "127.0.0.1".parse().expect("ip");
        let v6: IpAddr = "::1".parse().expect("ip");
        let any: IpAddr = "0.0.0.0".parse().expect("ip");
        assert_eq!(listen_ips(&[], false), Ok(vec![v4]));
        assert_eq!(listen_ips(&[v4, v6], false), Ok(vec![v4, v6]));
        assert!(listen_ips(&[v4, any], false).is_err());
        assert_eq!(listen_ips(&[any], true), Ok(vec![any]));
    }

    fn args(flags: &[&str]) -> Args {
        use clap::{FromArgMatches, Parser};
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let m = <Cli as clap::CommandFactory>::command()
            .try_get_matches_from(std::iter::once("serve").chain(flags.iter().copied()))
            .expect("flags parse");
        Cli::from_arg_matches(&m).expect("args").args
    }

    #[test]
    fn flags_change_the_demo_stage() {
        let s = Scenario::from_args(&args(&[])).expect("defaults");
        assert_eq!(s.login, ("admin".into(), "amp111".into()));
        assert_eq!(s.accounts, ["admin", "demo", "limited"]);
        assert_eq!(s.config.channels, CHANNELS);
        assert!(s.faults.flood.is_none());
        let plan = s.config.dialplan.as_ref().expect("a dialplan");
        assert!(plan.find("queues", "support").is_some());

        let s = Scenario::from_args(&args(&[
            "--account",
            "bob:pw:write=system",
            "--users",
            "a:1,b:2",
            "--dest",
            "1=busy",
            "--queue",
            "q:agents=2",
            "--flood",
            "100/s",
            "--channels",
            "0",
        ]))
        .expect("flags");
        assert_eq!(s.login, ("a".into(), "1".into()), "the first account given");
        assert_eq!(s.accounts, ["a", "b", "bob"]);
        assert_eq!(s.config.users["bob"].write, Classes::SYSTEM);
        let plan = s.config.dialplan.as_ref().expect("a dialplan");
        assert!(plan.find("default", "1").is_some());
        assert!(plan.find("queues", "q").is_some());
        assert!(plan.find("agents", "q-agent2").is_some());
        assert_eq!(
            s.faults.flood.as_ref().and_then(|f| f.rate_per_sec),
            Some(100)
        );

        // A `fail` destination must not exist: the stage's 100@test does.
        let err = Scenario::from_args(&args(&["--dest", "100@test=fail"])).unwrap_err();
        assert!(err.contains("100@test"), "{err}");
        let err = Scenario::from_args(&args(&["--dest", "_X.=answer", "--dest", "999=fail"]));
        assert!(err.unwrap_err().contains("_X."));
    }
}
