//! Chaos from the fake server over real TCP: byte-by-byte writes, garbage,
//! an oversized event, a truncated frame. Errors stay scoped to the frame.

mod common;

use std::time::Duration;

use ami_proto::{Action, ActionError, AuthMethod, CloseReason, Completion, ConnState};
use ami_smol::{Client, ClientError};
use ami_testkit::{Faults, ServerConfig};
use common::{config, run, server, server_with};
use futures_lite::StreamExt;

#[test]
fn byte_by_byte_writes_and_garbage_are_survived() {
    let faults = Faults {
        write_chunk: Some(1),
        garbage_every: Some(3),
        ..Faults::default()
    };
    let cfg = ServerConfig {
        channels: 3,
        ..ServerConfig::default()
    };
    let server = server_with(cfg, faults);
    run(20, async {
        let client = Client::connect(config(&server, AuthMethod::Md5))
            .await
            .unwrap();
        for _ in 0..5 {
            client.send(Action::ping()).await.unwrap();
        }
        match client.send(Action::core_show_channels()).await.unwrap() {
            Completion::List { items, .. } => assert_eq!(items.len(), 3),
            other => panic!("{other:?}"),
        }
        let stats = client.stats().session;
        assert!(stats.garbage >= 2, "{stats:?}");
        assert_eq!(stats.actions_failed, 0);
        client.close().await;
    });
}

#[test]
fn oversized_event_is_skipped_and_counted() {
    let server = server(Faults {
        oversized_event_bytes: Some(200 << 10),
        ..Faults::default()
    });
    run(10, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.proto.max_frame = 64 << 10;
        let (client, mut events) = Client::connect_with_events(cfg).await.unwrap();
        client.send(Action::ping()).await.unwrap();
        let stats = client.stats().session;
        assert_eq!(
            (stats.oversized_frames, stats.events_dropped_oversized),
            (1, 1)
        );
        client.close().await;
        while let Some(e) = events.next().await {
            assert!(!e.is("Oversized"));
        }
    });
}

#[test]
fn truncated_frame_then_close_fails_pending_and_without_reconnect_ends() {
    let server = server(Faults {
        truncate_after_frames: Some(3),
        ..Faults::default()
    });
    run(10, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.reconnect = false;
        let (client, mut events) = Client::connect_with_events(cfg).await.unwrap();
        // Frames: login response, FullyBooted, SuccessfulAuth; the Pong is cut.
        let err = client.send(Action::ping()).await.unwrap_err();
        assert_eq!(err, ClientError::Action(ActionError::ConnectionLost));
        while events.next().await.is_some() {}
        assert_eq!(client.state(), ConnState::Closed(CloseReason::Lost));
        assert_eq!(
            client.send(Action::ping()).await.unwrap_err(),
            ClientError::Closed
        );
        smol::Timer::after(Duration::from_millis(200)).await;
        assert_eq!(server.connections(), 1, "reconnect = false");
    });
}
