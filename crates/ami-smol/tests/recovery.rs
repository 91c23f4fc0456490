//! Recovery over real TCP with the default reconnect policy: the server goes
//! away for a few seconds (its session drops, connects are refused) and
//! comes back; the client must be ready again within 2 s of its return.
//! (The core's `tests/recovery.rs` covers outages of 1 s to 10 minutes in
//! virtual time.)

mod common;

use std::time::{Duration, Instant};

use ami_proto::{Action, AuthMethod, ConnState};
use ami_smol::{Client, ClientError};
use ami_testkit::Faults;
use common::{config, run, server, wait_state};
use smol::Timer;

#[test]
fn after_a_few_seconds_away_the_server_has_the_client_back_within_2_s() {
    // The first session drops 300 ms after it is accepted, as when Asterisk
    // is killed.
    let server = server(Faults {
        drop_after: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    run(30, async {
        let client = Client::connect(config(&server, AuthMethod::Plain))
            .await
            .unwrap();
        // Down: from now on connects are refused.
        server.set_faults(Faults {
            refuse_connections: true,
            ..Faults::default()
        });
        wait_state(&client, Duration::from_secs(2), |s| {
            matches!(s, ConnState::Closed(_))
        })
        .await;
        let outage = Duration::from_secs(3);
        Timer::after(outage).await;
        let knocked = client.stats().failed_attempts;
        assert!(knocked >= 1, "the client tried during the outage");

        // Back: accepting again. (`wait_state` sees the current state
        // first, so a client back already is seen too.)
        server.set_faults(Faults::default());
        let back = Instant::now();
        let ready_at =
            wait_state(&client, Duration::from_secs(5), |s| *s == ConnState::Ready).await;
        let took = ready_at - back;
        eprintln!("{outage:?} away, {knocked} refused attempts; ready {took:?} after the return");
        assert!(
            took <= Duration::from_secs(2),
            "ready {took:?} after the return"
        );
        client.send(Action::ping()).await.unwrap();
        client.close().await;
    });
}

/// While a new session is still logging in, a send fails as it does with
/// no session at all: `Disconnected`, nothing sent. A dialer that waits and
/// retries on `Disconnected` must not meet a second form of the same case
/// (`Send(NotReady)`) in the window between connect and login.
#[test]
fn a_send_while_a_new_session_logs_in_fails_as_disconnected() {
    // Every session's banner comes 400 ms after its accept (the connect
    // has succeeded by then: the client is logging in); the first drops
    // once it is up.
    let server = server(Faults {
        accept_delay: Some(Duration::from_millis(400)),
        drop_after: Some(Duration::from_millis(600)),
        ..Faults::default()
    });
    run(20, async {
        let client = Client::connect(config(&server, AuthMethod::Plain))
            .await
            .unwrap();
        server.set_faults(Faults {
            accept_delay: Some(Duration::from_secs(3)),
            ..Faults::default()
        });
        wait_state(&client, Duration::from_secs(3), |s| {
            matches!(s, ConnState::Closed(_))
        })
        .await;
        wait_state(&client, Duration::from_secs(5), |s| {
            *s == ConnState::LoggingIn
        })
        .await;
        assert_eq!(
            client.send(Action::ping()).await.unwrap_err(),
            ClientError::Disconnected
        );
        assert_eq!(client.state(), ConnState::LoggingIn, "still logging in");
        client.close_within(Duration::from_millis(100)).await;
    });
}
