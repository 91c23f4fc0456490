//! The live model option (`ClientBuilder::with_model`) against the fake
//! Asterisk over TCP: built from the lists after login, kept current by
//! events and by the Originates sent, resynchronised after a reconnect, and
//! never making the reader wait for a caller holding the model.

mod common;

use std::time::Duration;

use ami_proto::{Action, AuthMethod, Completion, Originate};
use ami_smol::state::{CallPhase, Change, Key, Limits};
use ami_smol::{Client, LiveModel, ModelChanges};
use ami_testkit::{Faults, ServerConfig};
use common::{config, run, server_with};
use futures_lite::{future, StreamExt};
use smol::Timer;

/// Waits (at most `within`) until `pred` holds of the model.
async fn until(model: &LiveModel, within: Duration, what: &str, pred: impl Fn(&LiveModel) -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !pred(model) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {within:?}; model: {:#?}",
            model.snapshot()
        );
        Timer::after(Duration::from_millis(10)).await;
    }
}

/// The next change matching `pred`, waiting at most `within`.
async fn change(
    changes: &mut ModelChanges,
    within: Duration,
    pred: impl Fn(&Change) -> bool,
) -> Change {
    let seen = async {
        while let Some(c) = changes.next().await {
            if pred(&c) {
                return Some(c);
            }
        }
        None
    };
    let limit = async {
        Timer::after(within).await;
        None
    };
    future::or(seen, limit)
        .await
        .unwrap_or_else(|| panic!("no such change within {within:?}"))
}

async fn connect_with_model(server: &ami_testkit::TcpServer) -> Client {
    Client::builder(config(server, AuthMethod::Plain))
        .with_model(Limits::default())
        .connect()
        .await
        .expect("login")
}

/// A server whose first session drops after 1.5 s; later ones stay (once
/// the test has cleared the fault).
fn dropping_once(config: ServerConfig) -> ami_testkit::TcpServer {
    server_with(
        config,
        Faults {
            drop_after: Some(Duration::from_millis(1500)),
            ..Faults::default()
        },
    )
}

/// A client with a synced model on `server` (whose faults are then
/// cleared), and the model's changes from now on.
async fn synced_with_model(server: &ami_testkit::TcpServer) -> (Client, LiveModel, ModelChanges) {
    let client = connect_with_model(server).await;
    let model = client.model().expect("model").clone();
    assert!(model.synced().await);
    server.set_faults(Faults::default());
    let changes = model.changes();
    (client, model, changes)
}

#[test]
fn the_lists_after_login_build_the_picture() {
    let server = server_with(ServerConfig::asterisk_corpus(), Faults::default());
    run(20, async {
        let client = connect_with_model(&server).await;
        let model = client.model().expect("built with a model").clone();
        assert!(
            future::or(model.synced(), async {
                Timer::after(Duration::from_secs(5)).await;
                false
            })
            .await,
            "synced after login"
        );
        let lists = [
            "CoreShowChannels",
            "BridgeList",
            "QueueStatus",
            "ExtensionStateList",
            "DeviceStateList",
        ];
        let received = server.received_actions();
        for list in lists {
            assert!(
                received.iter().any(|a| a == list),
                "{list} sent: {received:?}"
            );
        }
        model.read(|m| {
            let support = m.queue("support").expect("support listed");
            let members: Vec<_> = support.members.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(members, ["Agent One", "Agent Two"]);
            assert!(m.queue("sales").is_some());
            assert!(m.extension("6001", "test").is_some(), "hints listed");
        });
        assert_eq!(model.dropped(), 0);
        client.close().await;
        assert!(!model.is_synced(), "ended: no longer in sync");
        assert!(
            !model.synced().await,
            "nothing to wait for once the client ended"
        );
    });
}

#[test]
fn events_and_an_originate_keep_it_current() {
    let server = server_with(ServerConfig::asterisk_corpus(), Faults::default());
    run(30, async {
        let client = connect_with_model(&server).await;
        let model = client.model().expect("model").clone();
        assert!(model.synced().await);
        let mut changes = model.changes();
        // A call the dialplan answers and keeps for 30 s.
        let call = Originate::new("Local/200@test")
            .extension("test", "200", 1)
            .async_(true);
        let done = client
            .send(Action::originate(call))
            .await
            .expect("originated");
        let Completion::Originate(outcome) = &done else {
            panic!("an Originate outcome: {done:?}");
        };
        assert!(outcome.is_success());
        let id = done
            .response()
            .action_id()
            .map(|i| String::from_utf8_lossy(i).into_owned());
        let id = id.expect("the response names the ActionID");
        // The call record was there from the send, under the ActionID.
        let added = change(&mut changes, Duration::from_secs(5), |c| {
            matches!(c, Change::Added(Key::Call(_)))
        })
        .await;
        assert_eq!(added, Change::Added(Key::Call(id.as_str().into())));
        until(
            &model,
            Duration::from_secs(5),
            "answered, with its channel",
            |m| {
                m.read(|m| {
                    let call = m.call(&id).filter(|c| c.phase == CallPhase::Answered);
                    let uid = call.and_then(|c| c.uniqueid.as_deref());
                    uid.is_some_and(|uid| m.channel(uid).is_some())
                })
            },
        )
        .await;
        // Hung up by us: the record ends with the cause, the channels go.
        let (uid, name) = model.read(|m| {
            let uid = m.call(&id).and_then(|c| c.uniqueid.clone()).expect("bound");
            let name = m.channel(&uid).map(|c| c.name.clone()).expect("up");
            (uid, name)
        });
        client
            .send(Action::hangup(&name, Some(16)))
            .await
            .expect("hung up");
        until(&model, Duration::from_secs(5), "ended", |m| {
            m.read(|m| {
                m.call(&id).is_some_and(|c| c.phase == CallPhase::Ended)
                    && m.channel(&uid).is_none()
            })
        })
        .await;
        let call = model.remove_call(&id).expect("the finished record");
        assert_eq!(call.hangup_cause, Some(16));
        client.close().await;
    });
}

#[test]
fn a_reconnect_resynchronises_and_removes_what_went_while_away() {
    let server = dropping_once(ServerConfig::asterisk_corpus());
    run(30, async {
        let (client, model, mut changes) = synced_with_model(&server).await;
        // A channel only this session's events know of (no list shows it).
        server.publish(
            b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/ghost-00000001\r\n\
              ChannelState: 6\r\nUniqueid: 1795727786.999\r\nLinkedid: 1795727786.999\r\n\r\n",
        );
        until(&model, Duration::from_secs(5), "the ghost seen", |m| {
            m.read(|m| m.channel("1795727786.999").is_some())
        })
        .await;
        // The session drops; the next login's lists do not show the ghost.
        let removed = change(&mut changes, Duration::from_secs(10), |c| {
            matches!(c, Change::Removed(Key::Channel(_)))
        })
        .await;
        assert_eq!(
            removed,
            Change::Removed(Key::Channel("1795727786.999".into()))
        );
        until(
            &model,
            Duration::from_secs(5),
            "in sync again",
            LiveModel::is_synced,
        )
        .await;
        assert!(server.connections() >= 2, "a second session");
        model.read(|m| assert!(m.queue("support").is_some(), "what the lists show stays"));
        client.close().await;
    });
}

/// A server whose hints are all gone answers `ExtensionStateList` with an
/// error (`No dialplan hints are available`), not an empty list: the model
/// takes it as one, and a hint it held from before the reconnect goes.
#[test]
fn a_reconnect_to_a_server_without_hints_removes_the_hints_held() {
    let server = dropping_once(ServerConfig::default());
    run(30, async {
        let (client, model, mut changes) = synced_with_model(&server).await;
        server.publish(
            b"Event: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 200\r\nContext: agents\r\n\
              Hint: PJSIP/alice\r\nStatus: 0\r\nStatusText: Idle\r\n\r\n",
        );
        until(&model, Duration::from_secs(5), "the hint seen", |m| {
            m.read(|m| m.extension("200", "agents").is_some())
        })
        .await;
        let removed = change(&mut changes, Duration::from_secs(10), |c| {
            matches!(c, Change::Removed(Key::Extension { .. }))
        })
        .await;
        assert_eq!(
            removed,
            Change::Removed(Key::Extension {
                exten: "200".into(),
                context: "agents".into()
            })
        );
        assert!(server.connections() >= 2, "a second session");
        client.close().await;
    });
}

#[test]
fn a_caller_holding_the_model_never_stalls_the_reader() {
    let server = server_with(ServerConfig::asterisk_corpus(), Faults::default());
    run(30, async {
        let client = connect_with_model(&server).await;
        let model = client.model().expect("model").clone();
        assert!(model.synced().await);
        // Another thread holds the model until told to let go.
        let holder = model.clone();
        let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let hold = std::thread::spawn(move || {
            holder.read(|_| {
                held_tx.send(()).expect("test waits");
                release_rx.recv().expect("test releases");
            })
        });
        held_rx.recv().expect("held");
        server.publish(
            b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/late-00000001\r\n\
              ChannelState: 4\r\nUniqueid: 1795727786.500\r\nLinkedid: 1795727786.500\r\n\r\n",
        );
        // The reader goes on: answers come while the model is held (were
        // the task waiting for the lock, these would never complete).
        for _ in 0..20 {
            client
                .send(Action::ping())
                .await
                .expect("answered while the model is held");
        }
        assert!(!hold.is_finished(), "still held");
        release_tx.send(()).expect("holder waits");
        hold.join().expect("holder");
        // Let go: what waited is applied without any new input.
        until(
            &model,
            Duration::from_secs(2),
            "the event applied after the hold",
            |m| m.read(|m| m.channel("1795727786.500").is_some()),
        )
        .await;
        client.close().await;
    });
}
