//! Helpers shared by the integration tests: a bounded runner and configs
//! pointing at an `ami_testkit::TcpServer` on 127.0.0.1.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::{Duration, Instant};

use ami_proto::{Action, AuthMethod, CloseReason, Config, ConnState, Originate};
use ami_smol::{Client, ClientConfig, ClientError, EventStream, StateChanges};
use ami_testkit::{Faults, OriginateBehavior, OriginateOutcome, ServerConfig, TcpServer};
use futures_lite::{future, StreamExt};
use smol::Timer;

/// Runs `f` to completion, failing the test if it takes longer than `secs`.
pub fn run<F: Future>(secs: u64, f: F) -> F::Output {
    smol::block_on(async {
        let limit = async {
            Timer::after(Duration::from_secs(secs)).await;
            None
        };
        future::or(async { Some(f.await) }, limit).await
    })
    .unwrap_or_else(|| panic!("test exceeded its {secs} s bound"))
}

/// A fake server without auth delay, plus the given faults.
pub fn server(faults: Faults) -> TcpServer {
    server_with(ServerConfig::default(), faults)
}

/// A fake server with `config` (auth delay forced to zero) and `faults`.
pub fn server_with(config: ServerConfig, faults: Faults) -> TcpServer {
    let config = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..config
    };
    TcpServer::start(config, faults).expect("fake server starts")
}

/// A client configuration for `server` with the testkit's credentials.
pub fn config(server: &TcpServer, auth: AuthMethod) -> ClientConfig {
    let mut proto = Config::new("pbx", "admin", "amp111");
    proto.auth = auth;
    let mut config = ClientConfig::new(server.addr().to_string(), proto);
    config.connect_timeout = Duration::from_secs(2);
    config
}

/// Waits (at most `within`) for a state matching `pred`; returns when it
/// was seen, or panics.
pub async fn wait_state(
    client: &Client,
    within: Duration,
    pred: impl Fn(&ConnState) -> bool,
) -> Instant {
    let mut changes = client.state_changes();
    let seen = async {
        while let Some(state) = changes.next().await {
            if pred(&state) {
                return Some(Instant::now());
            }
        }
        None
    };
    let limit = async {
        Timer::after(within).await;
        None
    };
    future::or(seen, limit).await.unwrap_or_else(|| {
        panic!(
            "state not reached within {within:?}; now {:?}",
            client.state()
        )
    })
}

/// An async Originate the server acknowledges and, configured with
/// [`never_answers_originate`], never answers.
pub fn never_originate() -> Action {
    let o = Originate::new("PJSIP/100")
        .extension("default", "200", 1)
        .async_(true);
    Action::originate(o).with_timeout(Duration::from_secs(20))
}

/// A server config whose async Originates are acknowledged, never answered.
pub fn never_answers_originate() -> ServerConfig {
    ServerConfig {
        originate: OriginateBehavior {
            delay: Duration::from_millis(10),
            outcome: OriginateOutcome::Never,
        },
        ..ServerConfig::default()
    }
}

/// Waits (bounded by the test's runner) until the server has the action.
pub async fn received(server: &ami_testkit::TcpServer, action: &str) {
    while !server
        .received_actions()
        .iter()
        .any(|a| a.eq_ignore_ascii_case(action))
    {
        Timer::after(Duration::from_millis(5)).await;
    }
}

/// Everything a client's end must do, checked after an abnormal end: the
/// reason in the state, every stream ended, later sends refused.
pub async fn assert_ended_loudly(
    client: &Client,
    changes: &mut StateChanges,
    events: &mut EventStream,
    why: &str,
) {
    match client.state() {
        ConnState::Closed(CloseReason::Internal(reason)) => {
            assert!(reason.contains(why), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let mut last = None;
    while let Some(state) = changes.next().await {
        last = Some(state);
    }
    assert_eq!(
        last,
        Some(client.state()),
        "state changes end with the reason"
    );
    while events.next().await.is_some() {}
    assert!(
        client.events().next().await.is_none(),
        "a new stream is born ended"
    );
    assert_eq!(
        client.send(Action::ping()).await.unwrap_err(),
        ClientError::Closed
    );
    client.close().await;
}
