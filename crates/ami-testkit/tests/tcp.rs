//! The fake server over real TCP on 127.0.0.1: login, ping, floods and every
//! fault, observed with a plain `std::net::TcpStream` and `ami_proto::Decoder`.
//! Every wait is bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ami_proto::{DecodeError, Decoder, Frame};
use ami_testkit::{Faults, Flood, ServerConfig, TcpServer};

const LOGIN: &[u8] = b"Action: Login\r\nActionID: l\r\nUsername: admin\r\nSecret: amp111\r\n\r\n";

fn config() -> ServerConfig {
    ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::default()
    }
}

/// A test client: a socket and a decoder.
struct Client {
    sock: TcpStream,
    dec: Decoder,
    errors: Vec<DecodeError>,
    eof: bool,
}

impl Client {
    fn connect(server: &TcpServer) -> Client {
        Client::with_limit(server, 16 << 20)
    }

    fn with_limit(server: &TcpServer, max: usize) -> Client {
        let sock = TcpStream::connect(server.addr()).expect("connect");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        Client {
            sock,
            dec: Decoder::new(max),
            errors: Vec::new(),
            eof: false,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("write");
    }

    /// Reads frames until `done` says so, EOF, or `limit` passes.
    fn read_until(&mut self, limit: Duration, mut done: impl FnMut(&Frame) -> bool) -> Vec<Frame> {
        let end = Instant::now() + limit;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            while let Some(item) = self.dec.next_frame() {
                match item {
                    Ok(f) => {
                        let stop = done(&f);
                        out.push(f);
                        if stop {
                            return out;
                        }
                    }
                    Err(e) => self.errors.push(e),
                }
            }
            if self.eof || Instant::now() >= end {
                return out;
            }
            match self.sock.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.dec.push(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => self.eof = true,
            }
        }
    }

    fn response_with_id(&mut self, id: &[u8], limit: Duration) -> Option<ami_proto::Response> {
        let frames = self.read_until(
            limit,
            |f| matches!(f, Frame::Response(r) if r.action_id() == Some(id)),
        );
        frames.into_iter().find_map(|f| match f {
            Frame::Response(r) if r.action_id() == Some(id) => Some(r),
            _ => None,
        })
    }

    fn login(&mut self) {
        self.send(LOGIN);
        let r = self
            .response_with_id(b"l", Duration::from_secs(5))
            .expect("login response");
        assert_eq!(r.message().as_deref(), Some("Authentication accepted"));
    }

    fn ping(&mut self, id: &str, limit: Duration) -> bool {
        self.send(format!("Action: Ping\r\nActionID: {id}\r\n\r\n").as_bytes());
        self.response_with_id(id.as_bytes(), limit)
            .is_some_and(|r| r.get("Ping") == Some(&b"Pong"[..]))
    }
}

#[test]
fn banner_login_ping_logoff() {
    let server = TcpServer::start(config(), Faults::default()).expect("start");
    assert!(server.addr().ip().is_loopback());
    let mut c = Client::connect(&server);
    let f = c.read_until(Duration::from_secs(5), |f| matches!(f, Frame::Banner(_)));
    assert!(matches!(&f[0], Frame::Banner(b) if &b[..] == b"Asterisk Call Manager/11.0.0"));
    c.login();
    assert!(c.ping("p1", Duration::from_secs(5)));
    c.send(b"Action: Logoff\r\nActionID: bye\r\n\r\n");
    let r = c
        .response_with_id(b"bye", Duration::from_secs(5))
        .expect("goodbye");
    assert_eq!(r.message().as_deref(), Some("Thanks for all the fish."));
    c.read_until(Duration::from_secs(5), |_| false);
    assert!(c.eof, "the server closes after Goodbye");
    assert_eq!(server.connections(), 1);
    assert_eq!(server.received_actions(), ["Login", "Ping", "Logoff"]);
    server.stop();
}

/// `ami serve` listens on 127.0.0.1 and ::1 with one PBX: what a session
/// does through one address, the sessions of the other see.
#[test]
fn two_listeners_on_one_pbx_share_its_events() {
    let pbx = ami_testkit::Pbx::new(config(), Instant::now());
    let v4 = TcpServer::bind(
        "127.0.0.1:0".parse().expect("addr"),
        &pbx,
        Faults::default(),
    )
    .expect("bind 127.0.0.1");
    let v6_addr = std::net::SocketAddr::new("::1".parse().expect("ip"), v4.port());
    let v6 = TcpServer::bind(v6_addr, &pbx, Faults::default()).expect("bind ::1");
    assert_eq!(v6.addr(), v6_addr);
    let (mut a, mut b) = (Client::connect(&v4), Client::connect(&v6));
    a.login();
    b.login();
    b.send(b"Action: UserEvent\r\nActionID: u\r\nUserEvent: Across\r\n\r\n");
    let seen = a.read_until(
        Duration::from_secs(5),
        |f| matches!(f, Frame::Event(e) if e.get("UserEvent") == Some(&b"Across"[..])),
    );
    assert!(
        seen.iter()
            .any(|f| matches!(f, Frame::Event(e) if e.is("UserEvent"))),
        "{seen:?}"
    );
    assert_eq!((v4.connections(), v6.connections()), (1, 1));
}

#[test]
fn dropped_connections_close_at_once_and_the_listener_stays() {
    let server = TcpServer::start(config(), Faults::default()).expect("start");
    let mut c = Client::connect(&server);
    c.login();
    server.drop_connections();
    c.read_until(Duration::from_secs(5), |_| false);
    assert!(c.eof, "closed");
    let mut again = Client::connect(&server);
    again.login();
    assert!(again.ping("p", Duration::from_secs(5)));
    assert_eq!(server.connections(), 2);
}

#[test]
fn auth_failure_closes_the_connection() {
    let server = TcpServer::start(config(), Faults::default()).expect("start");
    let mut c = Client::connect(&server);
    c.send(b"Action: Login\r\nActionID: bad\r\nUsername: admin\r\nSecret: nope\r\n\r\n");
    let r = c
        .response_with_id(b"bad", Duration::from_secs(5))
        .expect("error");
    assert_eq!(r.message().as_deref(), Some("Authentication failed"));
    c.read_until(Duration::from_secs(5), |_| false);
    assert!(c.eof);
}

#[test]
fn flood_of_1000_events_is_counted_exactly() {
    let faults = Faults::flood(1000);
    let server = TcpServer::start(config(), faults).expect("start");
    let mut c = Client::connect(&server);
    c.login();
    let frames = c.read_until(
        Duration::from_secs(10),
        |f| matches!(f, Frame::Event(e) if e.is("BenchDone")),
    );
    let mut counted = 0;
    let mut done = None;
    for f in &frames {
        if let Frame::Event(e) = f {
            if e.is("BenchDone") {
                done = e.get_str("Events").map(|v| v.into_owned());
            } else if !e.is("FullyBooted") && !e.is("SuccessfulAuth") {
                counted += 1;
            }
        }
    }
    assert_eq!(counted, 1000);
    assert_eq!(done.as_deref(), Some("1000"));
    assert!(c.errors.is_empty());
    // The session still answers after the flood.
    assert!(c.ping("after", Duration::from_secs(5)));
}

#[test]
fn rate_limited_flood_takes_its_time() {
    let faults = Faults {
        flood: Some(Flood {
            events: 200,
            rate_per_sec: Some(1000),
            then_done: true,
        }),
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let mut c = Client::connect(&server);
    c.login();
    let t = Instant::now();
    let frames = c.read_until(
        Duration::from_secs(10),
        |f| matches!(f, Frame::Event(e) if e.is("BenchDone")),
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(150),
        "200 events at 1000/s took {took:?}"
    );
    let n = frames
        .iter()
        .filter(|f| {
            // The flood's events: not the login's own, not the end marker.
            let login_or_end = ["FullyBooted", "SuccessfulAuth", "BenchDone"];
            matches!(f, Frame::Event(e) if !login_or_end.iter().any(|n| e.is(n)))
        })
        .count();
    assert_eq!(n, 200);
}

#[test]
fn a_flood_stops_when_the_client_turns_events_off() {
    let faults = Faults {
        flood: Some(Flood {
            events: 100_000,
            rate_per_sec: Some(2000),
            then_done: true,
        }),
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let mut c = Client::connect(&server);
    c.login();
    let some = c.read_until(
        Duration::from_secs(5),
        |f| matches!(f, Frame::Event(e) if e.is("Cdr")),
    );
    assert!(some
        .iter()
        .any(|f| matches!(f, Frame::Event(e) if e.is("Cdr"))));
    c.send(b"Action: Events\r\nActionID: off\r\nEventMask: off\r\n\r\n");
    c.read_until(
        Duration::from_secs(5),
        |f| matches!(f, Frame::Response(r) if r.action_id() == Some(&b"off"[..])),
    );
    let after = c.read_until(Duration::from_millis(300), |_| false);
    assert!(after.is_empty(), "{} frames after Events: off", after.len());
}

#[test]
fn one_byte_chunks_still_decode() {
    let faults = Faults {
        write_chunk: Some(1),
        ..Faults::default()
    };
    let server = TcpServer::start(
        ServerConfig {
            channels: 4,
            ..config()
        },
        faults,
    )
    .expect("start");
    let mut c = Client::connect(&server);
    c.login();
    assert!(c.ping("p", Duration::from_secs(5)));
    c.send(b"Action: CoreShowChannels\r\nActionID: csc\r\n\r\n");
    let f = c.read_until(
        Duration::from_secs(5),
        |f| matches!(f, Frame::Event(e) if e.is("CoreShowChannelsComplete")),
    );
    let items = f
        .iter()
        .filter(|f| matches!(f, Frame::Event(e) if e.is("CoreShowChannel")))
        .count();
    assert_eq!(items, 4);
    assert!(c.errors.is_empty());
}

#[test]
fn garbage_is_skipped_with_counted_errors() {
    let faults = Faults {
        garbage_every: Some(2),
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let mut c = Client::connect(&server);
    c.login(); // frames 1..3: response, FullyBooted (after garbage), SuccessfulAuth
    for i in 0..4 {
        assert!(c.ping(&format!("g{i}"), Duration::from_secs(5)));
    }
    // Frames 1..7 were sent; garbage came before frames 2, 4 and 6.
    assert_eq!(c.errors.len(), 3, "{:?}", c.errors);
    assert!(c
        .errors
        .iter()
        .all(|e| matches!(e, DecodeError::Garbage { .. })));
}

#[test]
fn truncated_frame_then_close() {
    let faults = Faults {
        truncate_after_frames: Some(3),
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let mut c = Client::connect(&server);
    c.login(); // 3 frames
    c.send(b"Action: Ping\r\nActionID: cut\r\n\r\n");
    let f = c.read_until(Duration::from_secs(5), |_| false);
    assert!(c.eof, "closed after the half frame");
    assert!(f.iter().all(|f| !matches!(f, Frame::Response(_))), "{f:?}");
    assert!(c.dec.buffered() > 0, "half a frame is left in the decoder");
}

#[test]
fn oversized_event_is_skipped_and_the_session_goes_on() {
    let faults = Faults {
        oversized_event_bytes: Some(200_000),
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let mut c = Client::with_limit(&server, 64 << 10);
    c.login();
    assert!(c.ping("after-big", Duration::from_secs(5)));
    assert_eq!(c.errors.len(), 1);
    assert!(matches!(&c.errors[0], DecodeError::FrameTooLarge { size, .. } if *size >= 199_000));
}

#[test]
fn refused_then_accepted_on_the_same_port() {
    let faults = Faults {
        refuse_connections: true,
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let t = Instant::now();
    let err = TcpStream::connect(server.addr()).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(t.elapsed() < Duration::from_secs(1), "refusal is immediate");
    assert_eq!(server.connections(), 0);
    server.set_faults(Faults::default());
    let mut c = Client::connect(&server);
    c.login();
    assert_eq!(server.connections(), 1);
    server.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    assert!(TcpStream::connect(server.addr()).is_err());
    assert!(
        c.ping("still-open", Duration::from_secs(5)),
        "open connections survive"
    );
}

#[test]
fn drop_after_closes_each_connection() {
    let faults = Faults {
        drop_after: Some(Duration::from_millis(200)),
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    for round in 0..2 {
        let t = Instant::now();
        let mut c = Client::connect(&server);
        c.login();
        c.read_until(Duration::from_secs(5), |_| false);
        let took = t.elapsed();
        assert!(c.eof, "round {round}");
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }
    assert_eq!(server.connections(), 2);
}

#[test]
fn silence_after_login_keeps_the_socket_open() {
    let faults = Faults {
        silence_after_login: true,
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let mut c = Client::connect(&server);
    c.login();
    assert!(!c.ping("unanswered", Duration::from_millis(300)));
    assert!(!c.eof, "half-open: no answer, no close");
    assert_eq!(server.live_connections(), 1);
}

#[test]
fn stop_reading_after_login_backs_up_the_client() {
    let faults = Faults {
        stop_reading_after_login: true,
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let mut c = Client::connect(&server);
    c.login();
    c.sock
        .set_write_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let block = vec![b'x'; 64 << 10];
    let mut written = 0usize;
    let blocked = loop {
        match c.sock.write(&block) {
            Ok(n) => written += n,
            Err(e) => break matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
        assert!(written < 512 << 20, "the server kept reading");
    };
    assert!(
        blocked,
        "writes block once the buffers are full ({written} bytes)"
    );
}

#[test]
fn inject_all_and_userevent_broadcast() {
    let server = TcpServer::start(config(), Faults::default()).expect("start");
    let mut a = Client::connect(&server);
    let mut b = Client::connect(&server);
    a.login();
    b.login();
    a.send(b"Action: UserEvent\r\nActionID: from-a\r\nUserEvent: Hello\r\n\r\n");
    let f = b.read_until(
        Duration::from_secs(5),
        |f| matches!(f, Frame::Event(e) if e.is("UserEvent")),
    );
    let Some(Frame::Event(e)) = f.last() else {
        panic!("no UserEvent: {f:?}")
    };
    assert_eq!(
        e.action_id(),
        Some(&b"from-a"[..]),
        "another connection's ActionID"
    );
    server.inject_all(&b"Event: Injected\r\nX: 1\r\n\r\n"[..]);
    for c in [&mut a, &mut b] {
        let f = c.read_until(
            Duration::from_secs(5),
            |f| matches!(f, Frame::Event(e) if e.is("Injected")),
        );
        assert!(matches!(f.last(), Some(Frame::Event(e)) if e.is("Injected")));
    }
}

#[test]
fn accept_delay_and_write_delay_slow_the_banner() {
    let faults = Faults {
        accept_delay: Some(Duration::from_millis(150)),
        write_chunk: Some(10),
        write_delay: Some(Duration::from_millis(10)),
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let t = Instant::now();
    let mut c = Client::connect(&server);
    c.read_until(Duration::from_secs(5), |f| matches!(f, Frame::Banner(_)));
    // 150 ms, then 3 chunks of the 30-byte banner with 10 ms after each.
    assert!(
        t.elapsed() >= Duration::from_millis(170),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn stop_joins_promptly_even_mid_flood_to_a_reader_that_stalls() {
    let faults = Faults {
        flood: Some(Flood {
            events: 10_000_000,
            rate_per_sec: None,
            then_done: false,
        }),
        ..Faults::default()
    };
    let server = TcpServer::start(config(), faults).expect("start");
    let mut c = Client::connect(&server);
    c.login();
    let mut idle = Client::connect(&server);
    idle.read_until(Duration::from_millis(50), |_| false);
    // Let the flood fill every buffer: the server is now blocked writing.
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    server.stop();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "stop took {:?}",
        t.elapsed()
    );
}
