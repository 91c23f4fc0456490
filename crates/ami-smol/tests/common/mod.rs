//! Helpers shared by the integration tests: a bounded runner and configs
//! pointing at an `ami_testkit::TcpServer` on 127.0.0.1.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::{Duration, Instant};

use ami_proto::{AuthMethod, Config, ConnState};
use ami_smol::{Client, ClientConfig};
use ami_testkit::{Faults, ServerConfig, TcpServer};
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
