//! The client as disturbed through `tracing`: a panic inside the client's
//! task (here from a tracing layer) is caught and reported.
//!
//! One global subscriber serves the tests, each acting only on the events
//! of its own thread (the client runs there, on the test's executor): a
//! subscriber set per thread missed events when tests ran in parallel.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Once};

use ami_proto::{Action, ActionError, AuthMethod};
use ami_smol::{Client, ClientError};
use ami_testkit::Faults;
use common::{assert_ended_loudly, config, never_answers_originate, never_originate, received};
use common::{run, server_with};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One log event: its fields (the message too) as text.
#[derive(Debug)]
struct Record {
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
        if !(target.starts_with("ami_smol") || target.starts_with("ami_proto")) {
            return;
        }
        if ARMED.with(|armed| armed.replace(false)) {
            panic!("layer bug");
        }
        let mut record = Record {
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
