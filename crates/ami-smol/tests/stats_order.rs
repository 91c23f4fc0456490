//! A state change is published with its counters already counted: code
//! that reads `stats()` the moment it sees `Ready` finds the session
//! counted, and on `Closed(LoginFailed)` (or a failed connect) the failed
//! attempt. The client published the state first and counted after, so a
//! watcher woken in between read the old numbers.
//!
//! Watched from the inside, where no scheduling can hide the order: a
//! tracing layer reads the client's counters at the log event of each
//! published state (`Shared::set_state` logs right after publishing it).

mod common;

use std::sync::{Mutex, Once};
use std::time::Duration;

use ami_proto::{AuthMethod, ConnState};
use ami_smol::{BackgroundTask, Client, ClientStats};
use ami_testkit::{Faults, TcpServer};
use common::{config, run, server};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The clients whose published states are watched, by server name.
static CLIENTS: Mutex<Vec<(String, Client)>> = Mutex::new(Vec::new());
/// Each published state (its `Debug`) and the counters at that moment, by
/// server name.
static SEEN: Mutex<Vec<(String, String, ClientStats)>> = Mutex::new(Vec::new());

/// The `server` and `state` fields of a log event, and whether it is the
/// state-change event.
#[derive(Default)]
struct StateEvent {
    server: Option<String>,
    state: Option<String>,
    is_state: bool,
}

impl Visit for StateEvent {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "server" => self.server = Some(text),
            "state" => self.state = Some(text),
            "message" => self.is_state = text == "state",
            _ => {}
        }
    }
}

struct AtPublication;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AtPublication {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !event.metadata().target().starts_with("ami_async") {
            return;
        }
        let mut fields = StateEvent::default();
        event.record(&mut fields);
        let (Some(server), Some(state), true) = (fields.server, fields.state, fields.is_state)
        else {
            return;
        };
        let client = CLIENTS
            .lock()
            .unwrap()
            .iter()
            .find(|(name, _)| *name == server)
            .map(|(_, c)| c.clone());
        if let Some(client) = client {
            SEEN.lock().unwrap().push((server, state, client.stats()));
        }
    }
}

/// Starts a client named `name` in the background (every attempt retried
/// per its policy), watched from before its task first runs.
fn start_watched(name: &str, server: &TcpServer, secret: &str) -> Client {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(AtPublication);
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
    });
    let mut cfg = config(server, AuthMethod::Md5);
    cfg.proto.server = name.into();
    cfg.proto.secret = secret.into();
    let task: std::sync::Arc<Mutex<Option<BackgroundTask>>> = Default::default();
    let stash = task.clone();
    let client = Client::builder(cfg)
        .spawn_with(move |t| *stash.lock().unwrap() = Some(t))
        .start()
        .expect("a valid config");
    CLIENTS.lock().unwrap().push((name.into(), client.clone()));
    let task = task.lock().unwrap().take().expect("spawned by start");
    smol::spawn(task).detach();
    client
}

/// The counters at the first published state of `name` that `matches`,
/// waiting for it at most 5 s.
fn at_first(name: &str, matches: impl Fn(&str) -> bool) -> ClientStats {
    run(5, async {
        loop {
            let found = SEEN
                .lock()
                .unwrap()
                .iter()
                .find(|(n, s, _)| n == name && matches(s))
                .map(|(_, _, stats)| *stats);
            if let Some(stats) = found {
                return stats;
            }
            smol::Timer::after(Duration::from_millis(5)).await;
        }
    })
}

#[test]
fn ready_is_published_with_the_session_counted() {
    let server = server(Faults::default());
    let client = start_watched("order-ready", &server, "amp111");
    let stats = at_first("order-ready", |s| s == "Ready");
    assert_eq!((stats.sessions, stats.reconnects), (1, 0), "{stats:?}");
    run(5, async {
        assert_eq!(client.stats().sessions, 1);
        client.close().await;
    });
}

#[test]
fn a_refused_login_is_published_with_its_attempt_counted() {
    let server = server(Faults::default());
    let client = start_watched("order-refused", &server, "wrong");
    let stats = at_first("order-refused", |s| s.starts_with("Closed(LoginFailed("));
    assert_eq!((stats.failed_attempts, stats.sessions), (1, 0), "{stats:?}");
    run(5, client.close());
}

#[test]
fn a_failed_connect_is_published_with_its_attempt_counted() {
    let refusing = server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let client = start_watched("order-connect", &refusing, "amp111");
    let lost = format!("{:?}", ConnState::Closed(ami_proto::CloseReason::Lost));
    let stats = at_first("order-connect", |s| s == lost);
    assert_eq!(stats.failed_attempts, 1, "{stats:?}");
    run(5, client.close());
}
