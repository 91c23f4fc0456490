//! TLS against the fake Asterisk on 127.0.0.1, with certificates generated
//! at test time: verification (right CA, wrong CA, expired, wrong host, pin),
//! a full session, fault injection through TLS, and no retry storm.
#![cfg(feature = "tls")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_proto::{Action, AuthMethod, Completion, ConnState};
use ami_smol::{Client, ClientConfig, ConnectError, TlsConfig, TlsError};
use ami_testkit::tls::{Identity, TestPki};
use ami_testkit::{Faults, ServerConfig, TcpServer};
use common::{config, run};
use futures_lite::StreamExt;
use smol::Timer;

fn tls_server(identity: &Identity, faults: Faults) -> TcpServer {
    tls_server_with(ServerConfig::default(), identity, faults)
}

fn tls_server_with(config: ServerConfig, identity: &Identity, faults: Faults) -> TcpServer {
    let config = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..config
    };
    TcpServer::start_tls(Arc::new(config), faults, identity.server_config()).expect("starts")
}

fn tls_config(server: &TcpServer, tls: TlsConfig) -> ClientConfig {
    let mut c = config(server, AuthMethod::Md5);
    c.tls = Some(tls);
    c
}

async fn connect_err(config: ClientConfig) -> TlsError {
    match Client::connect(config).await {
        Err(ConnectError::Tls(e)) => e,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn full_session_over_tls_with_the_right_ca() {
    let pki = TestPki::new();
    let cfg = ServerConfig {
        channels: 3,
        ..ServerConfig::default()
    }
    .with_command("tls check", &["line one", "line two"]);
    let faults = Faults::flood(300);
    let server = tls_server_with(cfg, &pki.localhost(), faults);
    run(20, async {
        // SNI and the name check from the address: the certificate's IP SAN.
        let config = tls_config(&server, TlsConfig::new().with_ca_pem(pki.ca_pem()));
        let mut builder = Client::builder(config);
        let mut events = builder.events();
        let client = builder.connect().await.expect("TLS login");
        assert_eq!(client.state(), ConnState::Ready);
        let pong = client.send(Action::ping()).await.unwrap();
        assert_eq!(pong.response().get_str("Ping").as_deref(), Some("Pong"));
        match client.send(Action::core_show_channels()).await.unwrap() {
            Completion::List(list) => assert_eq!(list.items.len(), 3),
            other => panic!("{other:?}"),
        }
        match client.send(Action::command("tls check")).await.unwrap() {
            Completion::Command(output) => {
                assert_eq!(output.lines.len(), 2);
                assert_eq!(&output.lines[1][..], b"line two");
            }
            other => panic!("{other:?}"),
        }
        let mut flood = 0;
        while let Some(event) = events.next().await {
            match event.name_str().as_ref() {
                "BenchDone" => break,
                "FullyBooted" | "SuccessfulAuth" => {}
                _ => flood += 1,
            }
        }
        assert!(flood >= 300, "{flood} events");
        client.close().await;
    });
    assert!(server
        .received_actions()
        .iter()
        .any(|a| a.eq_ignore_ascii_case("challenge")));
}

#[test]
fn server_name_override_and_ca_file() {
    let pki = TestPki::new();
    let server = tls_server(&pki.server(&["localhost"]), Faults::default());
    let dir = std::env::temp_dir().join(format!("ami-smol-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    run(10, async {
        // The certificate names only "localhost": the IP alone is refused...
        let by_ip = tls_config(&server, TlsConfig::new().with_ca_file(&ca));
        assert!(matches!(
            connect_err(by_ip).await,
            TlsError::WrongHostName(_)
        ));
        // ...and accepted with the SNI name set.
        let named = TlsConfig::new()
            .with_ca_file(&ca)
            .with_server_name("localhost");
        let client = Client::connect(tls_config(&server, named)).await.unwrap();
        client.send(Action::ping()).await.unwrap();
        client.close().await;
        // A CA file that does not exist: a typed configuration error.
        let missing = TlsConfig::new().with_ca_file(dir.join("missing.pem"));
        assert!(matches!(
            connect_err(tls_config(&server, missing)).await,
            TlsError::CaFile { .. }
        ));
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn wrong_ca_expired_and_wrong_host_are_refused_with_clear_errors() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let cases: [(Identity, &str); 3] = [
        (pki.localhost(), "wrong CA"),
        (pki.expired(), "expired"),
        (pki.wrong_host(), "wrong host"),
    ];
    for (identity, case) in cases {
        let server = tls_server(&identity, Faults::default());
        let trusted = if case == "wrong CA" { &other } else { &pki };
        run(10, async {
            let started = Instant::now();
            let err = connect_err(tls_config(
                &server,
                TlsConfig::new().with_ca_pem(trusted.ca_pem()),
            ))
            .await;
            let ok = match case {
                "wrong CA" => matches!(err, TlsError::UntrustedCertificate(_)),
                "expired" => matches!(err, TlsError::Expired(_)),
                _ => matches!(err, TlsError::WrongHostName(_)),
            };
            assert!(ok, "{case}: {err:?}");
            assert!(err.is_verification_failure());
            let text = err.to_string();
            assert!(text.contains("certificate"), "{text}");
            eprintln!("{case}: {text}");
            assert!(started.elapsed() < Duration::from_secs(2));
        });
        // Nothing was sent in the clear: the server never saw an action.
        assert!(server.received_actions().is_empty(), "{case}");
    }
}

#[test]
fn refused_certificate_does_not_cause_a_retry_storm() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let server = tls_server(&pki.localhost(), Faults::default());
    run(10, async {
        let config = tls_config(&server, TlsConfig::new().with_ca_pem(other.ca_pem()));
        let client = Client::builder(config).start().unwrap();
        Timer::after(Duration::from_millis(1500)).await;
        // One attempt, then the auth-failure floor (5 s at least): a plain
        // connect failure would have retried within 100 ms to 2 s.
        let attempts = server.connections();
        assert!((1..=2).contains(&attempts), "{attempts} attempts in 1.5 s");
        assert!(client.stats().failed_attempts >= 1);
        assert!(!client.is_ready());
        client.close().await;
    });
}

#[test]
fn pinned_self_signed_certificate_accepted_and_wrong_pin_refused() {
    let identity = Identity::self_signed();
    let server = tls_server(&identity, Faults::default());
    run(10, async {
        let pinned = TlsConfig::new().danger_accept_pinned_self_signed(identity.fingerprint());
        let client = Client::connect(tls_config(&server, pinned)).await.unwrap();
        client.send(Action::ping()).await.unwrap();
        client.close().await;

        let wrong = TlsConfig::new().danger_accept_pinned_self_signed([7u8; 32]);
        match connect_err(tls_config(&server, wrong)).await {
            TlsError::PinMismatch {
                expected,
                presented,
            } => {
                assert_eq!(expected, [7u8; 32]);
                assert_eq!(presented, identity.fingerprint());
            }
            other => panic!("{other:?}"),
        }
        // Without the pin, a self-signed certificate is not trusted...
        let unpinned = TlsConfig::new().with_ca_pem(TestPki::new().ca_pem());
        let err = connect_err(tls_config(&server, unpinned)).await;
        assert!(matches!(err, TlsError::UntrustedCertificate(_)), "{err:?}");
        // ...unless it is itself given as the CA (the non-dangerous way).
        let as_ca = TlsConfig::new().with_ca_pem(identity.cert_pem.clone());
        let client = Client::connect(tls_config(&server, as_ca)).await.unwrap();
        client.close().await;
    });
}

#[test]
fn tls_survives_one_byte_records_and_segments_and_garbage() {
    let pki = TestPki::new();
    let cfg = ServerConfig {
        channels: 3,
        ..ServerConfig::default()
    };
    let faults = Faults {
        write_chunk: Some(1),
        garbage_every: Some(3),
        ..Faults::default()
    };
    let server = tls_server_with(cfg, &pki.localhost(), faults);
    run(20, async {
        let config = tls_config(&server, TlsConfig::new().with_ca_pem(pki.ca_pem()));
        let client = Client::connect(config).await.unwrap();
        for _ in 0..3 {
            client.send(Action::ping()).await.unwrap();
        }
        match client.send(Action::core_show_channels()).await.unwrap() {
            Completion::List(list) => assert_eq!(list.items.len(), 3),
            other => panic!("{other:?}"),
        }
        assert!(client.stats().session.garbage >= 1);
        client.close().await;
    });
}

#[test]
fn server_closing_mid_handshake_and_a_silent_handshake_fail_bounded() {
    let pki = TestPki::new();
    let closing = tls_server(
        &pki.localhost(),
        Faults {
            close_mid_handshake: true,
            ..Faults::default()
        },
    );
    // A server that accepts and says nothing for longer than the timeout.
    let silent = tls_server(
        &pki.localhost(),
        Faults {
            accept_delay: Some(Duration::from_secs(5)),
            ..Faults::default()
        },
    );
    run(10, async {
        let started = Instant::now();
        let config = tls_config(&closing, TlsConfig::new().with_ca_pem(pki.ca_pem()));
        let err = connect_err(config).await;
        assert!(
            matches!(err, TlsError::ClosedDuringHandshake | TlsError::Io(_)),
            "{err:?}"
        );
        assert!(!err.is_verification_failure());
        assert!(started.elapsed() < Duration::from_secs(2));

        let mut config = tls_config(&silent, TlsConfig::new().with_ca_pem(pki.ca_pem()));
        config.connect_timeout = Duration::from_millis(300);
        let started = Instant::now();
        assert!(matches!(
            Client::connect(config).await,
            Err(ConnectError::Timeout)
        ));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{took:?}");
    });
}

/// The CA file is read off the executor: here it is a FIFO whose writer
/// comes only later, so a read on the executor would stall it (and this
/// test's timer, which shares the thread) until then. It used to.
#[cfg(unix)]
#[test]
fn the_ca_file_is_read_off_the_executor() {
    let pki = TestPki::new();
    let server = tls_server(&pki.localhost(), Faults::default());
    let dir = std::env::temp_dir().join(format!("ami-smol-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("ca.pem");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    // The writer: when the test says so, or after 3 s (so a stalled
    // executor ends the test instead of hanging it).
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (path, pem) = (fifo.clone(), pki.ca_pem());
    let writer = std::thread::spawn(move || {
        let _ = released.recv_timeout(Duration::from_secs(3));
        std::fs::write(path, pem).unwrap();
    });
    let ex = Arc::new(smol::Executor::new());
    run(
        10,
        ex.run(async {
            let spawner = ex.clone();
            let config = tls_config(&server, TlsConfig::new().with_ca_file(&fifo));
            let builder = Client::builder(config).spawn_with(move |t| spawner.spawn(t).detach());
            let connecting = ex.spawn(builder.connect());
            let started = Instant::now();
            Timer::after(Duration::from_millis(50)).await;
            let ticked = started.elapsed();
            let _ = release.send(());
            assert!(
                ticked < Duration::from_secs(1),
                "executor stalled {ticked:?}"
            );
            let client = connecting.await.expect("TLS login once the CA is read");
            client.send(Action::ping()).await.unwrap();
            client.close().await;
        }),
    );
    writer.join().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
