//! Chaos from the fake server over real TCP that the conformance suite
//! (`tests/conformance.rs`) leaves to this adapter: a truncated frame with
//! reconnects off, ten megabytes of Command output, an error without
//! ActionID. Errors stay scoped to the frame.

mod common;

use std::time::Duration;

use ami_proto::{Action, ActionError, AuthMethod, CloseReason, Completion, ConnState};
use ami_smol::{Client, ClientError};
use ami_testkit::{Faults, ServerConfig};
use common::{config, run, server, server_with};
use futures_lite::StreamExt;

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

/// Ten megabytes of Command output, in both styles, over a 4 MiB frame limit:
/// the Command's own limit (16 MiB) applies, and a smaller one refuses it
/// without hurting the session.
#[test]
fn large_command_output_in_both_styles_and_over_its_own_limit() {
    let line = "SIP/trunk-00000001  (None)  Up  Dial(PJSIP/100,30)  00:01:02  1700000000.1";
    let lines: Vec<&str> = std::iter::repeat_n(line, 10_000_000 / line.len()).collect();
    for legacy in [false, true] {
        let cfg = ServerConfig {
            legacy_command: legacy,
            ..ServerConfig::default()
        }
        .with_command("big", &lines);
        let server = server_with(cfg, Faults::default());
        run(60, async {
            let client = Client::connect(config(&server, AuthMethod::Plain))
                .await
                .unwrap();
            match client.send(Action::command("big")).await.unwrap() {
                Completion::Command(output) => {
                    let got = &output.lines;
                    assert_eq!(got.len(), lines.len(), "legacy {legacy}");
                    assert_eq!(&got[got.len() - 1][..], line.as_bytes());
                }
                other => panic!("{other:?}"),
            }
            client.close().await;

            let mut small = config(&server, AuthMethod::Plain);
            small.proto.max_command_output = 1 << 20;
            let client = Client::connect(small).await.unwrap();
            let err = client.send(Action::command("big")).await.unwrap_err();
            assert_eq!(
                err,
                ClientError::Action(ActionError::FrameTooLarge { limit: 1 << 20 }),
                "legacy {legacy}"
            );
            client
                .send(Action::ping())
                .await
                .expect("the session goes on");
            assert!(client.is_ready());
            client.close().await;
        });
    }
}

/// `Permission denied` without an ActionID belongs to the oldest action
/// awaiting its response.
#[test]
fn permission_error_without_action_id_goes_to_the_oldest_action() {
    let cfg = ServerConfig {
        originate: ami_testkit::OriginateBehavior {
            delay: Duration::from_millis(500),
            outcome: ami_testkit::OriginateOutcome::Success,
        },
        ..ServerConfig::default()
    };
    let server = server_with(cfg, Faults::default());
    run(10, async {
        let client = Client::connect(config(&server, AuthMethod::Plain))
            .await
            .unwrap();
        // A synchronous Originate holds the server's answer for 500 ms.
        let originate = ami_proto::Originate::new("Local/100@test")
            .application("Wait", "1")
            .async_(false);
        let originate = Action::originate(originate);
        let pending = {
            let client = client.clone();
            smol::spawn(async move { client.send(originate).await })
        };
        smol::Timer::after(Duration::from_millis(100)).await;
        server.inject_all(&b"Response: Error\r\nMessage: Permission denied\r\n\r\n"[..]);
        let err = pending.await.unwrap_err();
        assert_eq!(
            err,
            ClientError::Action(ActionError::Server {
                message: "Permission denied".into()
            })
        );
        // The fake server still answers the Originate later: a second answer
        // for one action has no owner any more. It is counted as a desync,
        // not handed to the next action.
        smol::Timer::after(Duration::from_millis(600)).await;
        client
            .send(Action::ping())
            .await
            .expect("next action unaffected");
        assert_eq!(client.stats().session.desyncs, 1);
        client.close().await;
    });
}
