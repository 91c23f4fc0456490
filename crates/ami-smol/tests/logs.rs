//! The client as seen (and disturbed) through `tracing`: every log event
//! carries the fields operators filter on, and a panic inside the client's
//! task (here from a tracing layer) is caught and reported.
//!
//! One global subscriber serves both tests, each acting only on the events
//! of its own thread (the client runs there, on the test's executor): a
//! subscriber set per thread missed events when tests ran in parallel.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Once};
use std::time::Duration;

use ami_proto::{Action, ActionError, AuthMethod, ConnState};
use ami_smol::{Client, ClientError};
use ami_testkit::Faults;
use common::{assert_ended_loudly, config, never_answers_originate, never_originate, received};
use common::{run, server_with, wait_state};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One log event: where from, and its fields (the message too) as text.
#[derive(Debug)]
struct Record {
    target: String,
    fields: BTreeMap<String, String>,
}

impl Visit for Record {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields
            .insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }
}

/// `ami-tls`'s events, from any thread: the TLS configuration is built on
/// smol's blocking pool, where no span of the client's is entered.
static TLS_RECORDED: std::sync::Mutex<Vec<Record>> = std::sync::Mutex::new(Vec::new());

thread_local! {
    /// The events of this crate and the core seen on this thread.
    static RECORDED: RefCell<Vec<Record>> = const { RefCell::new(Vec::new()) };
    /// Panic at this thread's next event of this crate or the core.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

/// Records this workspace's events per thread, and panics when armed.
struct PerThread;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PerThread {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let target = event.metadata().target();
        if target.starts_with("ami_tls") {
            let mut record = Record {
                target: target.to_owned(),
                fields: BTreeMap::new(),
            };
            event.record(&mut record);
            TLS_RECORDED.lock().unwrap().push(record);
            return;
        }
        if !(target.starts_with("ami_async") || target.starts_with("ami_proto")) {
            return;
        }
        if ARMED.with(|armed| armed.replace(false)) {
            panic!("layer bug");
        }
        let mut record = Record {
            target: target.to_owned(),
            fields: BTreeMap::new(),
        };
        event.record(&mut record);
        RECORDED.with(|r| r.borrow_mut().push(record));
    }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(PerThread);
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
    });
}

/// Runs `f` with its clients' tasks on this thread (so their events are
/// this thread's), bounded by `secs`.
fn on_this_thread<F: std::future::Future>(secs: u64, f: impl FnOnce(Spawner) -> F) -> F::Output {
    install();
    let ex = Arc::new(smol::Executor::new());
    let spawner = Spawner(ex.clone());
    run(secs, ex.run(f(spawner)))
}

#[derive(Clone)]
struct Spawner(Arc<smol::Executor<'static>>);

impl Spawner {
    fn builder(&self, config: ami_smol::ClientConfig) -> ami_smol::ClientBuilder {
        let ex = self.0.clone();
        Client::builder(config).spawn_with(move |task| ex.spawn(task).detach())
    }
}

/// Every event of ami-smol and the core, over a whole life (a refused
/// login, connect, actions, a server error, a timeout, a panicking filter,
/// a lost session and the reconnect, close), carries `server`,
/// `action_id` and `queue_depth`. Several of ami-smol's did not.
#[test]
fn every_log_event_carries_server_action_id_and_queue_depth() {
    let server = server_with(
        never_answers_originate(),
        Faults {
            drop_after: Some(Duration::from_millis(600)),
            ..Faults::default()
        },
    );
    on_this_thread(20, |spawner| async move {
        let mut refused = config(&server, AuthMethod::Md5);
        refused.proto.secret = "wrong".into();
        assert!(spawner.builder(refused).connect().await.is_err());

        let mut nobody = config(&server, AuthMethod::Md5);
        nobody.addr = format!("127.0.0.1:{}", unused_port());
        assert!(spawner.builder(nobody).connect().await.is_err());

        let mut builder = spawner.builder(config(&server, AuthMethod::Md5));
        let _panicky = builder.events().filter(|_| panic!("filter bug"));
        let client = builder.connect().await.unwrap();
        client.send(Action::ping()).await.unwrap();
        let err = client.send(Action::new("NoSuchAction")).await.unwrap_err();
        assert!(matches!(
            err,
            ClientError::Action(ActionError::Server { .. })
        ));
        let timeout = never_originate().with_timeout(Duration::from_millis(50));
        let err = client.send(timeout).await.unwrap_err();
        assert!(matches!(err, ClientError::Action(ActionError::Timeout(_))));
        client
            .send(Action::new("UserEvent").header("UserEvent", "x"))
            .await
            .unwrap();
        // The server drops the session; the client logs in again.
        wait_state(&client, Duration::from_secs(5), |s| {
            matches!(s, ConnState::Closed(_))
        })
        .await;
        wait_state(&client, Duration::from_secs(5), |s| *s == ConnState::Ready).await;
        client.close().await;
    });

    let recorded = RECORDED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    let messages: Vec<&str> = recorded
        .iter()
        .filter_map(|r| r.fields.get("message").map(String::as_str))
        .collect();
    for expected in [
        "connect failed",
        "login failed",
        "logged in",
        "action queued",
        "action timed out",
        "event filter panicked: its stream ends; the client goes on",
        "session closed",
        "session ended; reconnecting",
        "state",
        "client closed",
    ] {
        assert!(
            messages.contains(&expected),
            "{expected:?} not in {messages:?}"
        );
    }
    for target in ["ami_async", "ami_proto"] {
        assert!(
            recorded.iter().any(|r| r.target.starts_with(target)),
            "{target}"
        );
    }
    for record in &recorded {
        let field = |name: &str| record.fields.get(name).map(String::as_str);
        assert_eq!(field("server"), Some("pbx"), "{record:?}");
        assert!(
            field("action_id").is_some_and(|id| !id.is_empty()),
            "{record:?}"
        );
        let depth = field("queue_depth").and_then(|d| d.parse::<usize>().ok());
        assert!(depth.is_some(), "{record:?}");
    }
}

/// A port nothing listens on (bound, then released).
fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("bound").port()
}

/// A panic in the client's task (here from a tracing layer: user code the
/// task calls) closes the client with the reason, fails its actions and
/// ends every stream; the executor running the task never sees it. It used
/// to unwind into the executor and leave a client that said Ready forever.
#[test]
fn a_panic_in_the_task_closes_the_client_loudly() {
    let server = server_with(never_answers_originate(), Faults::default());
    on_this_thread(10, |spawner| async move {
        let mut builder = spawner.builder(config(&server, AuthMethod::Plain));
        let mut events = builder.events();
        let client = builder.connect().await.unwrap();
        let mut changes = client.state_changes();
        let c = client.clone();
        let sent = spawner
            .0
            .spawn(async move { c.send(never_originate()).await });
        received(&server, "Originate").await;

        // The task's next log event, queueing this Ping, panics.
        ARMED.with(|armed| armed.set(true));
        let err = client.send(Action::ping()).await.unwrap_err();
        assert_eq!(err, ClientError::Closed, "refused mid-way, nothing sent");
        let lost = ClientError::Action(ActionError::ConnectionLost);
        assert_eq!(sent.await.unwrap_err(), lost, "sent, outcome unknown");
        assert_ended_loudly(&client, &mut changes, &mut events, "panicked: layer bug").await;
    });
    let recorded = RECORDED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    let panic = recorded
        .iter()
        .find(|r| r.fields.get("panic").is_some_and(|p| p == "layer bug"));
    assert!(
        panic.is_some_and(|r| r.fields.contains_key("server")),
        "{recorded:?}"
    );
}

/// A panic in a caller's own turn (here from a tracing layer, while the
/// caller queues its action itself, the session being idle) ends the
/// client as a panic in its task does: loudly, with the reason, every
/// stream ended; the caller's action fails as refused mid-way.
#[test]
fn a_panic_in_a_callers_own_turn_closes_the_client_loudly() {
    let server = common::server(Faults::default());
    on_this_thread(10, |spawner| async move {
        let mut builder = spawner.builder(config(&server, AuthMethod::Plain));
        let mut events = builder.events();
        let client = builder.connect().await.unwrap();
        let mut changes = client.state_changes();
        // The next log event on this thread (the core's "action queued",
        // in the caller's turn) panics.
        ARMED.with(|armed| armed.set(true));
        let err = client.send(Action::ping()).await.unwrap_err();
        assert_eq!(err, ClientError::Closed, "refused mid-way, nothing sent");
        // The client's task raises the panic on its next turn.
        wait_state(&client, Duration::from_secs(5), |s| {
            matches!(s, ConnState::Closed(_))
        })
        .await;
        assert_ended_loudly(&client, &mut changes, &mut events, "panicked: layer bug").await;
    });
}

/// ami-tls's lines carry the fields of every other line, the server's name
/// first, though they are logged on smol's blocking pool, outside the
/// client's span. The pin warning said `server = "-"` when the adapter
/// built its TLS configuration without naming the server.
#[cfg(feature = "tls")]
#[test]
fn tls_log_lines_name_the_server() {
    use ami_testkit::tls::Identity;
    let identity = Identity::self_signed();
    let server = ami_testkit::TcpServer::start_tls(
        Arc::new(ami_testkit::ServerConfig::default()),
        Faults::default(),
        identity.server_config(),
    )
    .expect("starts");
    on_this_thread(10, |spawner| async move {
        let mut cfg = config(&server, AuthMethod::Md5);
        cfg.proto.server = "pbx-pinned".into();
        cfg.tls = Some(
            ami_smol::TlsConfig::new().danger_accept_pinned_self_signed(identity.fingerprint()),
        );
        let client = spawner.builder(cfg).connect().await.unwrap();
        client.close().await;
    });
    let recorded = TLS_RECORDED.lock().unwrap();
    let pin = recorded.iter().find(|r| r.fields.contains_key("pin"));
    let pin = pin.expect("the pin warning was logged");
    let field = |name: &str| pin.fields.get(name).map(String::as_str);
    assert_eq!(field("server"), Some("pbx-pinned"), "{pin:?}");
    assert_eq!(field("action_id"), Some("-"), "{pin:?}");
    assert!(field("queue_depth").is_some(), "{pin:?}");
}
