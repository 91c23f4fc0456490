//! The blocking client's live model (`Client::track_model`) against the
//! fake Asterisk over TCP: listed when tracking starts, kept current by the
//! events read and the Originates sent, listed again after a reconnect.

mod common;

use std::time::{Duration, Instant};

use ami_blocking::{Client, Multiplexer, MuxConfig};
use ami_proto::{Action, Completion, Originate};
use ami_state::{CallPhase, Change, Key, Limits, Model};
use ami_testkit::{Faults, ServerConfig, TcpServer};
use common::{config, Watchdog};

fn corpus_server(faults: Faults) -> TcpServer {
    let config = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::asterisk_corpus()
    };
    TcpServer::start(config, faults).expect("fake server starts")
}

/// Reads events until `pred` holds of the model (at most `within`).
fn until(client: &mut Client, within: Duration, what: &str, pred: impl Fn(&Model) -> bool) {
    let deadline = Instant::now() + within;
    while !pred(client.model().expect("tracked")) {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        client
            .next_event(Duration::from_millis(50))
            .expect("session up");
    }
}

/// Ticks the multiplexer (its events dropped) until `pred` holds of it, at
/// most 5 s.
fn tick_until(mux: &mut Multiplexer, what: &str, pred: &dyn Fn(&Multiplexer) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pred(mux) {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        mux.tick(Duration::from_millis(20));
        mux.events().for_each(drop);
    }
}

#[test]
fn tracking_lists_then_follows_events_and_an_originate() {
    let _guard = Watchdog::new("tracking", Duration::from_secs(30));
    let server = corpus_server(Faults::default());
    let mut client = Client::connect(server.addr(), Duration::from_secs(2), config("pbx")).unwrap();
    client.track_model(Limits::default()).unwrap();
    {
        let model = client.model().expect("tracked");
        let support = model.queue("support").expect("listed");
        assert_eq!(support.members.len(), 2);
        assert!(model.extension("6002", "test").is_some());
    }
    let call = Originate::new("Local/200@test")
        .extension("test", "200", 1)
        .async_(true);
    let done = client.send(Action::originate(call)).unwrap();
    assert!(matches!(&done, Completion::Originate(o) if o.is_success()));
    let id = String::from_utf8_lossy(done.response().action_id().expect("id")).into_owned();
    until(&mut client, Duration::from_secs(5), "answered", |m| {
        m.call(&id).is_some_and(|c| {
            c.phase == CallPhase::Answered
                && c.uniqueid
                    .as_deref()
                    .is_some_and(|u| m.channel(u).is_some())
        })
    });
    let changes: Vec<Change> = std::iter::from_fn(|| client.model_mut()?.poll_change()).collect();
    assert!(
        changes.contains(&Change::Added(Key::Call(id.as_str().into()))),
        "{changes:?}"
    );
    client.close().unwrap();
}

#[test]
fn a_reconnect_lists_again_and_forgets_what_went_while_away() {
    let _guard = Watchdog::new("reconnect", Duration::from_secs(30));
    let server = corpus_server(Faults::default());
    let mut client = Client::connect(server.addr(), Duration::from_secs(2), config("pbx")).unwrap();
    client.track_model(Limits::default()).unwrap();
    server.publish(
        b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/ghost-00000001\r\n\
          ChannelState: 6\r\nUniqueid: 1795727786.999\r\nLinkedid: 1795727786.999\r\n\r\n",
    );
    until(&mut client, Duration::from_secs(5), "the ghost seen", |m| {
        m.channel("1795727786.999").is_some()
    });
    client.reconnect().unwrap();
    let model = client.model().expect("tracked");
    assert!(
        model.channel("1795727786.999").is_none(),
        "no list shows it"
    );
    assert!(model.queue("sales").is_some(), "what the lists show stays");
    let received = server.received_actions();
    let lists = received.iter().filter(|a| *a == "CoreShowChannels").count();
    assert_eq!(lists, 2, "listed at tracking and after the reconnect");
}

#[test]
fn events_dropped_before_they_were_read_make_it_list_again() {
    let _guard = Watchdog::new("dropped", Duration::from_secs(30));
    let server = corpus_server(Faults::default());
    let mut proto = config("pbx");
    proto.event_queue = 4;
    proto.queue_policy = ami_proto::QueuePolicy::DropOldest;
    let mut client = Client::connect(server.addr(), Duration::from_secs(2), proto).unwrap();
    client.track_model(Limits::default()).unwrap();
    // More events than the session queues, while nobody reads: some are
    // dropped, among them the Newchannel of a channel that stays up.
    let mut burst = String::new();
    burst += "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/a-1\r\n\
              ChannelState: 6\r\nUniqueid: 1795727786.1\r\nLinkedid: 1795727786.1\r\n\r\n";
    for i in 0..20 {
        burst += &format!(
            "Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: Tick\r\nN: {i}\r\n\r\n"
        );
    }
    server.publish(burst.as_bytes());
    client.send(Action::ping()).unwrap(); // the burst arrives meanwhile
    assert!(
        client.stats().events_dropped_full > 0,
        "{:?}",
        client.stats()
    );
    while client
        .next_event(Duration::from_millis(100))
        .unwrap()
        .is_some()
    {}
    let lists = |s: &TcpServer| {
        s.received_actions()
            .iter()
            .filter(|a| *a == "CoreShowChannels")
            .count()
    };
    assert_eq!(lists(&server), 2, "the loss noticed: listed again");
    client.close().unwrap();
}

/// The multiplexer keeps a model per node (`Multiplexer::track_model`), as
/// the blocking client does: each node's lists, then its events and the
/// Originates submitted to it. A call originated on one node shows up in
/// that node's model only; a node's new session lists again.
#[test]
fn the_multiplexer_keeps_a_model_per_node() {
    let _guard = Watchdog::new("mux model", Duration::from_secs(30));
    let (one, two) = (
        corpus_server(Faults::default()),
        corpus_server(Faults::default()),
    );
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let a = mux.add_server(one.addr(), config("pbx-a")).expect("config");
    let b = mux.add_server(two.addr(), config("pbx-b")).expect("config");
    let untracked = mux.add_server(two.addr(), config("pbx-c")).expect("config");
    assert!(mux.track_model(a, Limits::default()));
    assert!(mux.track_model(b, Limits::default()));
    assert!(mux.model(untracked).is_none());
    let listed = |m: &Model| m.queue("support").is_some_and(|q| q.members.len() == 2);
    tick_until(&mut mux, "both listed", &|mux| {
        [a, b]
            .iter()
            .all(|&n| mux.model(n).is_some_and(|m| listed(m) && !m.is_resyncing()))
    });

    let call = Originate::new("Local/200@test")
        .extension("test", "200", 1)
        .async_(true);
    let done = mux
        .submit_handle(a, Action::originate(call))
        .expect("ready");
    tick_until(&mut mux, "the Originate's outcome", &|_| done.is_done());
    let done = done.try_take().expect("done").expect("ok");
    let id = String::from_utf8_lossy(done.response().action_id().expect("id")).into_owned();
    let answered = |m: &Model| {
        m.call(&id).is_some_and(|c| {
            c.phase == CallPhase::Answered
                && c.uniqueid
                    .as_deref()
                    .is_some_and(|u| m.channel(u).is_some())
        })
    };
    tick_until(&mut mux, "answered on a", &|mux| {
        answered(mux.model(a).expect("tracked"))
    });
    let on_a = mux.model(a).expect("tracked");
    let uniqueid = on_a
        .call(&id)
        .and_then(|c| c.uniqueid.clone())
        .expect("answered");
    let on_b = mux.model(b).expect("tracked");
    assert!(on_b.call(&id).is_none() && on_b.channel(&uniqueid).is_none());
    let changes: Vec<Change> = std::iter::from_fn(|| mux.model_mut(a)?.poll_change()).collect();
    assert!(
        changes.contains(&Change::Added(Key::Call(id.as_str().into()))),
        "{changes:?}"
    );

    let lists = |s: &TcpServer| {
        let received = s.received_actions();
        received.iter().filter(|a| *a == "CoreShowChannels").count()
    };
    assert_eq!(lists(&one), 1);
    one.drop_connections();
    tick_until(&mut mux, "a's new session listed", &|_| lists(&one) == 2);
    tick_until(&mut mux, "a resynced", &|mux| {
        mux.is_ready(a) && !mux.model(a).expect("tracked").is_resyncing()
    });
    assert!(listed(mux.model(a).expect("tracked")));
    assert_eq!(lists(&two), 1, "b's session went on: listed once");
}

/// A server without hints answers `ExtensionStateList` with an error
/// (`No dialplan hints are available`): both the client and the
/// multiplexer take it as an empty list, and a hint held from before the
/// reconnect goes.
#[test]
fn a_reconnect_to_a_server_without_hints_removes_the_hints_held() {
    let _guard = Watchdog::new("no hints", Duration::from_secs(30));
    let server = TcpServer::start(
        ServerConfig {
            auth_failure_delay: Duration::ZERO,
            ..ServerConfig::default()
        },
        Faults::default(),
    )
    .expect("fake server starts");
    let hint =
        b"Event: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 200\r\nContext: agents\r\n\
                 Hint: PJSIP/alice\r\nStatus: 0\r\nStatusText: Idle\r\n\r\n";
    let held = |m: &Model| m.extension("200", "agents").is_some();

    let mut client = Client::connect(server.addr(), Duration::from_secs(2), config("pbx")).unwrap();
    client.track_model(Limits::default()).unwrap();
    server.publish(hint);
    until(&mut client, Duration::from_secs(5), "the hint seen", held);
    client.reconnect().unwrap();
    assert!(!held(client.model().expect("tracked")), "client: kept");
    client.close().unwrap();

    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let node = mux
        .add_server(server.addr(), config("pbx-a"))
        .expect("config");
    assert!(mux.track_model(node, Limits::default()));
    let synced =
        |mux: &Multiplexer| mux.is_ready(node) && !mux.model(node).expect("tracked").is_resyncing();
    tick_until(&mut mux, "listed", &synced);
    server.publish(hint);
    tick_until(&mut mux, "the hint seen", &|mux| {
        held(mux.model(node).expect("tracked"))
    });
    let sessions = server.connections();
    server.drop_connections();
    tick_until(&mut mux, "resynced after the drop", &|mux| {
        server.connections() > sessions && synced(mux)
    });
    assert!(
        !held(mux.model(node).expect("tracked")),
        "multiplexer: kept"
    );
}
