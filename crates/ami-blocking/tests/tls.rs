//! TLS for the blocking `Client` and the `Multiplexer`, against the fake
//! server on 127.0.0.1 with certificates generated at test time.
#![cfg(feature = "tls")]

mod common;

use std::time::{Duration, Instant};

use ami_blocking::{Client, ConnectError, Multiplexer, MuxConfig, TlsConfig, TlsError};
use ami_proto::{Action, Completion};
use ami_testkit::tls::{Identity, TestPki};
use ami_testkit::{Faults, TcpServer};
use common::{all_ready, config, tick_until, tls_server, Watchdog};

const CONNECT: Duration = Duration::from_secs(2);

fn addr(srv: &TcpServer) -> String {
    format!("127.0.0.1:{}", srv.port())
}

fn tls_err(r: Result<Client, ConnectError>) -> TlsError {
    match r {
        Err(ConnectError::Tls(e)) => e,
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("expected a TLS error, got a client"),
    }
}

#[test]
fn client_full_session_over_tls() {
    let _w = Watchdog::new("client tls session", Duration::from_secs(20));
    let pki = TestPki::new();
    let srv = tls_server(&pki.localhost(), Faults::flood(200));
    let tls = TlsConfig::new().with_ca_pem(pki.ca_pem());
    let mut client = Client::connect_tls(&addr(&srv), CONNECT, config("pbx1"), tls).expect("login");
    assert!(client.is_ready());
    let pong = client.send(Action::ping()).expect("ping");
    assert_eq!(pong.response().get("Ping"), Some(&b"Pong"[..]));
    match client.send(Action::core_show_channels()).expect("list") {
        Completion::List(list) => assert_eq!(list.items.len(), 4),
        other => panic!("{other:?}"),
    }
    match client
        .send(Action::command("sip show peers"))
        .expect("command")
    {
        Completion::Command(output) => assert_eq!(output.lines.len(), 2),
        other => panic!("{other:?}"),
    }
    let mut events = 0;
    loop {
        let event = client
            .next_event(Duration::from_secs(5))
            .expect("events")
            .expect("an event within 5 s");
        if event.name_str() == "BenchDone" {
            break;
        }
        events += 1;
    }
    assert!(events >= 200, "{events}");
    client.close().expect("goodbye");
}

#[test]
fn client_refusals_are_typed_and_reconnect_waits() {
    let _w = Watchdog::new("client tls refusals", Duration::from_secs(30));
    let pki = TestPki::new();
    let other = TestPki::new();
    let good = tls_server(&pki.localhost(), Faults::default());
    let expired = tls_server(&pki.expired(), Faults::default());
    let wrong_host = tls_server(&pki.wrong_host(), Faults::default());
    let ca = || TlsConfig::new().with_ca_pem(pki.ca_pem());

    let e = tls_err(Client::connect_tls(
        &addr(&good),
        CONNECT,
        config("a"),
        TlsConfig::new().with_ca_pem(other.ca_pem()),
    ));
    assert!(matches!(e, TlsError::UntrustedCertificate(_)), "{e:?}");
    let e = tls_err(Client::connect_tls(
        &addr(&expired),
        CONNECT,
        config("b"),
        ca(),
    ));
    assert!(matches!(e, TlsError::Expired(_)), "{e:?}");
    let e = tls_err(Client::connect_tls(
        &addr(&wrong_host),
        CONNECT,
        config("c"),
        ca(),
    ));
    assert!(matches!(e, TlsError::WrongHostName(_)), "{e:?}");
    for s in [&good, &expired, &wrong_host] {
        assert!(s.received_actions().is_empty(), "nothing reached AMI");
    }

    // Pinned self-signed: accepted; a wrong pin: refused with both digests.
    let selfsigned = Identity::self_signed();
    let pinned = tls_server(&selfsigned, Faults::default());
    let tls = TlsConfig::new().danger_accept_pinned_self_signed(selfsigned.fingerprint());
    let mut client = Client::connect_tls(&addr(&pinned), CONNECT, config("d"), tls).expect("pin");
    client.send(Action::ping()).expect("ping");
    let tls = TlsConfig::new().danger_accept_pinned_self_signed([1; 32]);
    match tls_err(Client::connect_tls(
        &addr(&pinned),
        CONNECT,
        config("e"),
        tls,
    )) {
        TlsError::PinMismatch { presented, .. } => {
            assert_eq!(presented, selfsigned.fingerprint())
        }
        other => panic!("{other:?}"),
    }

    // A live session, then the server rotates to an expired certificate:
    // the reconnect is refused with a typed error, and the policy makes the
    // next attempt wait the auth-failure floor (no retry storm).
    let srv = tls_server(&pki.localhost(), Faults::default());
    let mut client =
        Client::connect_tls(&addr(&srv), CONNECT, config("f"), ca()).expect("first login");
    srv.set_tls(Some(pki.expired().server_config()));
    let e = match client.reconnect() {
        Err(ConnectError::Tls(e)) => e,
        other => panic!("{other:?}"),
    };
    assert!(matches!(e, TlsError::Expired(_)), "{e:?}");
    let now = Instant::now();
    let wait = client.reconnect_policy().next_allowed(now) - now;
    assert!(wait >= Duration::from_secs(4), "next attempt in {wait:?}");
    assert_eq!(srv.connections(), 2);
}

#[test]
fn client_tls_through_one_byte_splits_and_mid_handshake_close() {
    let _w = Watchdog::new("client tls faults", Duration::from_secs(30));
    let pki = TestPki::new();
    let chunky = tls_server(
        &pki.localhost(),
        Faults {
            write_chunk: Some(1),
            ..Faults::default()
        },
    );
    let ca = || TlsConfig::new().with_ca_pem(pki.ca_pem());
    let mut client =
        Client::connect_tls(&addr(&chunky), CONNECT, config("chunky"), ca()).expect("login");
    for _ in 0..3 {
        client.send(Action::ping()).expect("ping");
    }
    match client.send(Action::core_show_channels()).expect("list") {
        Completion::List(list) => assert_eq!(list.items.len(), 4),
        other => panic!("{other:?}"),
    }
    client.close().expect("goodbye");

    let closing = tls_server(
        &pki.localhost(),
        Faults {
            close_mid_handshake: true,
            ..Faults::default()
        },
    );
    let started = Instant::now();
    let e = tls_err(Client::connect_tls(
        &addr(&closing),
        CONNECT,
        config("x"),
        ca(),
    ));
    assert!(
        matches!(e, TlsError::ClosedDuringHandshake | TlsError::Io(_)),
        "{e:?}"
    );
    assert!(!e.is_verification_failure());
    assert!(started.elapsed() < CONNECT);

    // A server that never answers the ClientHello: bounded by the timeout.
    let silent = tls_server(
        &pki.localhost(),
        Faults {
            accept_delay: Some(Duration::from_secs(5)),
            ..Faults::default()
        },
    );
    let started = Instant::now();
    let e = tls_err(Client::connect_tls(
        &addr(&silent),
        Duration::from_millis(300),
        config("y"),
        ca(),
    ));
    assert!(matches!(&e, TlsError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn mux_full_session_over_tls_with_one_byte_splits() {
    let _w = Watchdog::new("mux tls session", Duration::from_secs(30));
    let pki = TestPki::new();
    let plain_chunks = tls_server(&pki.localhost(), Faults::flood(100));
    let chunky = tls_server(
        &pki.localhost(),
        Faults {
            write_chunk: Some(1),
            ..Faults::flood(20)
        },
    );
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let ca = || TlsConfig::new().with_ca_pem(pki.ca_pem());
    let nodes: Vec<_> = [&plain_chunks, &chunky]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            mux.add_server_tls(s.addr(), config(&format!("pbx{i}")), ca())
                .expect("valid")
        })
        .collect();
    all_ready(&mut mux, &nodes, Duration::from_secs(15));
    let mut handles = Vec::new();
    for &node in &nodes {
        handles.push(mux.submit_handle(node, Action::ping()).expect("ping"));
        handles.push(
            mux.submit_handle(node, Action::core_show_channels())
                .expect("list"),
        );
        handles.push(
            mux.submit_handle(node, Action::command("sip show peers"))
                .expect("command"),
        );
    }
    let mut done_events = 0;
    let mut events = 0;
    tick_until(
        &mut mux,
        Duration::from_secs(20),
        "answers and events",
        |m, _| {
            for (_, e) in m.events() {
                match e.name_str().as_ref() {
                    "BenchDone" => done_events += 1,
                    _ => events += 1,
                }
            }
            done_events == 2 && handles.iter().all(|h| h.is_done())
        },
    );
    assert!(events >= 120, "{events}");
    for h in &handles {
        match h.try_take() {
            Some(Ok(Completion::List(list))) => assert_eq!(list.items.len(), 4),
            Some(Ok(Completion::Command(output))) => assert_eq!(output.lines.len(), 2),
            Some(Ok(Completion::Response(_))) => {}
            other => panic!("{other:?}"),
        }
    }
    let report = mux.shutdown(Instant::now() + Duration::from_secs(3));
    assert_eq!(report.logged_off, 2, "{report:?}");
}

#[test]
fn mux_refused_certificates_are_typed_and_do_not_storm() {
    let _w = Watchdog::new("mux tls refusals", Duration::from_secs(30));
    let pki = TestPki::new();
    let other = TestPki::new();
    let selfsigned = Identity::self_signed();
    let wrong_ca = tls_server(&pki.localhost(), Faults::default());
    let expired = tls_server(&pki.expired(), Faults::default());
    let wrong_host = tls_server(&pki.wrong_host(), Faults::default());
    let pinned = tls_server(&selfsigned, Faults::default());
    let closing = tls_server(
        &pki.localhost(),
        Faults {
            close_mid_handshake: true,
            ..Faults::default()
        },
    );
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let ca = || TlsConfig::new().with_ca_pem(pki.ca_pem());
    let n_wrong_ca = mux
        .add_server_tls(
            wrong_ca.addr(),
            config("a"),
            TlsConfig::new().with_ca_pem(other.ca_pem()),
        )
        .expect("valid");
    let n_expired = mux
        .add_server_tls(expired.addr(), config("b"), ca())
        .expect("valid");
    let n_host = mux
        .add_server_tls(wrong_host.addr(), config("c"), ca())
        .expect("valid");
    let n_pin_bad = mux
        .add_server_tls(
            pinned.addr(),
            config("d"),
            TlsConfig::new().danger_accept_pinned_self_signed([9; 32]),
        )
        .expect("valid");
    let n_pin_ok = mux
        .add_server_tls(
            pinned.addr(),
            config("e"),
            TlsConfig::new().danger_accept_pinned_self_signed(selfsigned.fingerprint()),
        )
        .expect("valid");
    let n_closing = mux
        .add_server_tls(closing.addr(), config("f"), ca())
        .expect("valid");
    // A bad CA is refused when the server is added.
    assert!(mux
        .add_server_tls(
            wrong_ca.addr(),
            config("g"),
            TlsConfig::new().with_ca_pem(b"junk".to_vec()),
        )
        .is_err());

    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        mux.tick(Duration::from_millis(20));
    }
    assert!(mux.is_ready(n_pin_ok));
    let err = |n| mux.last_tls_error(n).expect("a TLS error");
    assert!(
        matches!(err(n_wrong_ca), TlsError::UntrustedCertificate(_)),
        "{:?}",
        err(n_wrong_ca)
    );
    assert!(matches!(err(n_expired), TlsError::Expired(_)));
    assert!(matches!(err(n_host), TlsError::WrongHostName(_)));
    assert!(matches!(err(n_pin_bad), TlsError::PinMismatch { .. }));
    assert!(!err(n_closing).is_verification_failure());
    // Refused certificates: one attempt in 2.5 s (auth-failure floor, 5 s).
    for n in [n_wrong_ca, n_expired, n_host, n_pin_bad] {
        let attempts = mux.stats(n).expect("node").connect_attempts;
        assert_eq!(attempts, 1, "{:?}: {attempts} attempts", mux.name(n));
    }
    // A server closing mid-handshake is a transport failure: it is retried
    // with the ordinary backoff (more than once in 2.5 s).
    assert!(mux.stats(n_closing).expect("node").connect_attempts >= 2);
    mux.shutdown(Instant::now() + Duration::from_secs(1));
}

#[test]
fn bad_tls_options_are_refused_before_any_connect() {
    // Each unusable `TlsConfig` value fails where the client or node is
    // made, with a typed error, and no connection is attempted.
    let _w = Watchdog::new("tls options", Duration::from_secs(10));
    let pki = TestPki::new();
    let srv = tls_server(&pki.localhost(), Faults::default());
    type Expected = fn(&TlsError) -> bool;
    let bad: [(TlsConfig, Expected); 3] = [
        (
            TlsConfig::new().with_ca_file("/nonexistent/ami-ca.pem"),
            |e| matches!(e, TlsError::CaFile { .. }),
        ),
        (TlsConfig::new().with_ca_pem(b"junk".to_vec()), |e| {
            matches!(e, TlsError::BadCa(_))
        }),
        (
            TlsConfig::new()
                .with_ca_pem(pki.ca_pem())
                .with_server_name("not a host name!"),
            |e| matches!(e, TlsError::InvalidServerName(_)),
        ),
    ];
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    for (tls, expected) in bad {
        let e = tls_err(Client::connect_tls(
            &addr(&srv),
            CONNECT,
            config("c"),
            tls.clone(),
        ));
        assert!(expected(&e), "client: {e:?}");
        match mux.add_server_tls(srv.addr(), config("n"), tls) {
            Err(ami_blocking::AddServerError::Tls(e)) => assert!(expected(&e), "mux: {e:?}"),
            other => panic!("mux: {other:?}"),
        }
    }
    assert_eq!(mux.nodes().count(), 0);
    assert_eq!(srv.connections(), 0);
}
