//! Every log event of a session, the core's and the adapter's (TLS
//! included), carries `server`, `action_id` (`-` where none applies) and
//! `queue_depth`, as the README promises: a blocking `Client` and a
//! `Multiplexer`, each through a connect failure, TLS, actions and close.
#![cfg(feature = "tls")]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ami_blocking::{Client, Multiplexer, MuxConfig, TlsConfig};
use ami_proto::Action;
use ami_testkit::tls::Identity;
use ami_testkit::Faults;
use common::{all_ready, config, server, tick_until, tls_server, Watchdog};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One captured event: where it came from and its fields as text.
#[derive(Debug)]
struct Record {
    target: String,
    fields: BTreeMap<String, String>,
}

/// A layer keeping every event it sees.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Record>>>);

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        self.0.lock().expect("not poisoned").push(Record {
            target: event.metadata().target().to_owned(),
            fields: fields.0,
        });
    }
}

/// Runs `body` with every event of this thread recorded, at every level.
fn recorded(body: impl FnOnce()) -> Vec<Record> {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    // Rebuilt first: a callsite another test thread registered while it
    // raced with this subscriber's set-up could stay cached as unwanted.
    tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        body()
    });
    let records = std::mem::take(&mut *recorder.0.lock().expect("not poisoned"));
    records
}

/// Checks every record's fields; `servers` are the names allowed in
/// `server` (the configured names, and `-` for what concerns no server).
fn check(records: &[Record], servers: &[&str]) {
    for crate_name in ["ami_proto", "ami_blocking", "ami_tls"] {
        assert!(
            records.iter().any(|r| r.target.starts_with(crate_name)),
            "no event from {crate_name}: {records:#?}"
        );
    }
    for r in records {
        for field in ["server", "action_id", "queue_depth"] {
            assert!(r.fields.contains_key(field), "{field} missing: {r:?}");
        }
        let server = r.fields["server"].as_str();
        assert!(servers.contains(&server), "server {server:?}: {r:?}");
    }
}

/// A port on 127.0.0.1 nobody listens on.
fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn every_client_event_carries_server_action_id_and_queue_depth() {
    let _w = Watchdog::new("client logs", Duration::from_secs(20));
    let srv = server(Faults::default());
    let identity = Identity::self_signed();
    let tls = tls_server(&identity, Faults::default());
    let records = recorded(|| {
        let refused = ("127.0.0.1", refused_port());
        assert!(Client::connect(refused, Duration::from_secs(1), config("pbx-log")).is_err());

        let mut client =
            Client::connect(srv.addr(), Duration::from_secs(2), config("pbx-log")).expect("login");
        client.send(Action::ping()).expect("ping");
        assert!(client.send(Action::command("no such thing")).is_err());
        srv.inject_all("Event: UserEvent\r\nUserEvent: x\r\n\r\n");
        while client
            .next_event(Duration::from_millis(100))
            .expect("alive")
            .is_some()
        {}
        client.close().expect("logs off");

        let pin = TlsConfig::new().danger_accept_pinned_self_signed(identity.fingerprint());
        let addr = format!("127.0.0.1:{}", tls.port());
        let mut client = Client::connect_tls(&addr, Duration::from_secs(2), config("pbx-log"), pin)
            .expect("TLS login");
        client.send(Action::ping()).expect("ping over TLS");
        client.close().expect("logs off");
    });
    check(&records, &["pbx-log", "-"]);
}

#[test]
fn every_multiplexer_event_carries_server_action_id_and_queue_depth() {
    let _w = Watchdog::new("mux logs", Duration::from_secs(20));
    let srv = server(Faults::default());
    let identity = Identity::self_signed();
    let tls = tls_server(&identity, Faults::default());
    let names = ["plain-node", "refused-node", "tls-node", "bad-pin-node"];
    let records = recorded(|| {
        let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
        let plain = mux.add_server(srv.addr(), config(names[0])).expect("valid");
        let refused = format!("127.0.0.1:{}", refused_port());
        mux.add_server(refused.parse().expect("addr"), config(names[1]))
            .expect("valid");
        let pin = TlsConfig::new().danger_accept_pinned_self_signed(identity.fingerprint());
        let secure = mux
            .add_server_tls(tls.addr(), config(names[2]), pin)
            .expect("valid");
        let wrong = TlsConfig::new().danger_accept_pinned_self_signed([7; 32]);
        let bad = mux
            .add_server_tls(tls.addr(), config(names[3]), wrong)
            .expect("valid");
        all_ready(&mut mux, &[plain, secure], Duration::from_secs(5));
        tick_until(
            &mut mux,
            Duration::from_secs(5),
            "the pin refused",
            |m, _| m.last_tls_error(bad).is_some(),
        );
        let ping = mux.submit_handle(plain, Action::ping()).expect("submitted");
        let refused_action = mux
            .submit_handle(secure, Action::command("no such thing"))
            .expect("submitted");
        tick_until(&mut mux, Duration::from_secs(5), "completions", |_, _| {
            ping.is_done() && refused_action.is_done()
        });
        mux.shutdown(Instant::now() + Duration::from_secs(2));
    });
    let mut allowed = names.to_vec();
    allowed.push("-");
    check(&records, &allowed);
}
