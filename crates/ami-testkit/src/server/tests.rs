//! Whole sessions with explicit `now` values: no sleeping, no sockets.

use std::time::{Duration, Instant};

use ami_proto::{Decoder, Frame, Status};

use super::*;
use crate::script::{ChallengeNonce, OriginateBehavior, OriginateOutcome, ServerConfig};
use ami_proto::Message;

const LOGIN: &[u8] = b"Action: Login\r\nActionID: l1\r\nUsername: admin\r\nSecret: amp111\r\n\r\n";

/// A session plus a client-side decoder; every output is parsed back.
struct T {
    s: ServerSession,
    d: Decoder,
    t0: Instant,
}

impl T {
    fn new(config: ServerConfig) -> T {
        let t0 = Instant::now();
        let s = ServerSession::new(config, t0);
        let mut d = Decoder::new(16 << 20);
        d.push(&s.greeting());
        assert!(
            matches!(d.next_frame(), Some(Ok(Frame::Banner(b))) if &b[..] == b"Asterisk Call Manager/11.0.0")
        );
        T { s, d, t0 }
    }

    fn quick() -> T {
        T::new(ServerConfig {
            auth_failure_delay: Duration::ZERO,
            ..ServerConfig::default()
        })
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn send(&mut self, bytes: &[u8], ms: u64) -> Vec<Frame> {
        let now = self.at(ms);
        self.s.handle_input(bytes, now);
        self.frames()
    }

    fn frames(&mut self) -> Vec<Frame> {
        while let Some(chunk) = self.s.poll_transmit() {
            self.d.push(&chunk);
        }
        let mut out = Vec::new();
        while let Some(f) = self.d.next_frame() {
            out.push(f.expect("the server's output decodes"));
        }
        assert_eq!(self.d.buffered(), 0, "no partial frame left");
        out
    }

    fn login(&mut self) {
        let f = self.send(LOGIN, 0);
        assert_eq!(f.len(), 3, "{f:?}");
    }
}

fn resp(f: &Frame) -> &ami_proto::Response {
    match f {
        Frame::Response(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn ev(f: &Frame) -> &ami_proto::Event {
    match f {
        Frame::Event(e) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

fn names(f: &Frame) -> Vec<String> {
    let m: &Message = match f {
        Frame::Response(r) => r,
        Frame::Event(e) => e,
        Frame::Other(m) => m,
        Frame::Banner(_) => return vec![],
    };
    m.headers()
        .iter()
        .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
        .collect()
}

#[test]
fn plain_login_gives_response_fullybooted_and_successfulauth() {
    let mut t = T::quick();
    t.s.handle_input(LOGIN, t.t0);
    let first = t.s.poll_transmit().expect("login response");
    assert_eq!(
        &first[..],
        b"Response: Success\r\nActionID: l1\r\nMessage: Authentication accepted\r\n\r\n"
    );
    t.d.push(&first);
    let f = t.frames();
    assert_eq!(f.len(), 3);
    assert_eq!(resp(&f[0]).status(), Status::Success);
    assert_eq!(
        names(&f[1]),
        ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    );
    assert_eq!(ev(&f[1]).get("Privilege"), Some(&b"system,all"[..]));
    assert!(ev(&f[2]).is("SuccessfulAuth"));
    assert_eq!(
        ev(&f[2]).get("EventTV"),
        Some(&b"2026-11-26T21:16:21.000+0000"[..])
    );
    assert!(t.s.is_authenticated() && t.s.wants_events());
}

#[test]
fn login_with_events_off_sends_no_events() {
    let mut t = T::quick();
    let f = t.send(
        b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n",
        0,
    );
    assert_eq!(f.len(), 1);
    assert_eq!(
        resp(&f[0]).action_id(),
        None,
        "no ActionID sent, none echoed"
    );
    assert!(!t.s.wants_events());
    t.s.deliver_event(&b"Event: X\r\n\r\n"[..]);
    assert!(t.frames().is_empty());
}

#[test]
fn md5_login_with_the_corpus_challenge_and_key() {
    let mut t = T::new(ServerConfig {
        md5_challenge: ChallengeNonce::Fixed("682751052".into()),
        ..ServerConfig::default()
    });
    let f = t.send(
        b"Action: Challenge\r\nActionID: chal-1\r\nAuthType: MD5\r\n\r\n",
        0,
    );
    assert_eq!(resp(&f[0]).get("Challenge"), Some(&b"682751052"[..]));
    // The key Asterisk accepted in 03-challenge-md5-login.
    let f = t.send(
        b"Action: Login\r\nActionID: md5-login\r\nAuthType: MD5\r\nUsername: admin\r\n\
          Key: 640e67a291df210d40aa507ef6587ec0\r\n\r\n",
        1,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Authentication accepted")
    );
    assert!(t.s.is_authenticated());
}

#[test]
fn seeded_challenges_differ_and_a_wrong_key_fails() {
    let mut t = T::quick();
    let a = t.send(b"Action: Challenge\r\nAuthType: md5\r\n\r\n", 0);
    let b = t.send(b"Action: Challenge\r\nAuthType: MD5\r\n\r\n", 0);
    let (a, b) = (resp(&a[0]).get("Challenge"), resp(&b[0]).get("Challenge"));
    assert!(a.is_some() && a != b);
    let f = t.send(b"Action: Challenge\r\n\r\n", 0);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Must specify AuthType")
    );
    let f = t.send(
        b"Action: Login\r\nAuthType: MD5\r\nUsername: admin\r\nKey: 00\r\n\r\n",
        0,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Authentication failed")
    );
    assert!(t.s.is_closing());
}

#[test]
fn auth_failure_waits_the_delay_then_closes() {
    let mut t = T::new(ServerConfig::default());
    let f = t.send(
        b"Action: Login\r\nActionID: bad\r\nUsername: admin\r\nSecret: wrong\r\n\r\n\
          Action: Ping\r\nActionID: held\r\n\r\n",
        0,
    );
    assert!(f.is_empty(), "nothing before the delay");
    assert_eq!(t.s.poll_timeout(), Some(t.at(1000)));
    t.s.handle_timeout(t.at(999));
    assert!(t.frames().is_empty(), "an early wake-up does nothing");
    t.s.handle_timeout(t.at(1000));
    let f = t.frames();
    assert_eq!(f.len(), 1, "the held Ping is never answered: {f:?}");
    assert_eq!(
        names(&f[0]),
        ["Response", "ActionID", "Message"],
        "shape of 02-login-failure"
    );
    assert_eq!(resp(&f[0]).action_id(), Some(&b"bad"[..]));
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Authentication failed")
    );
    assert!(t.s.is_closing());
    assert_eq!(t.s.poll_timeout(), None);
    assert!(t.send(b"Action: Ping\r\n\r\n", 2000).is_empty());
}

#[test]
fn unknown_user_fails_and_any_login_mode_accepts() {
    let mut t = T::quick();
    let f = t.send(
        b"Action: Login\r\nUsername: bench\r\nSecret: bench\r\n\r\n",
        0,
    );
    assert!(resp(&f[0]).is_error());
    let mut t = T::new(ServerConfig {
        accept_any_login: true,
        ..ServerConfig::default()
    });
    let f = t.send(
        b"Action: Login\r\nUsername: bench\r\nSecret: bench\r\n\r\n",
        0,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Authentication accepted")
    );
}

#[test]
fn permission_denied_before_login_and_already_authenticated_after() {
    let mut t = T::quick();
    let f = t.send(
        b"Action: Ping\r\nActionID: pre-ping\r\n\r\nAction: CoreStatus\r\n\r\n",
        0,
    );
    assert_eq!(resp(&f[0]).action_id(), Some(&b"pre-ping"[..]));
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Permission denied"));
    assert_eq!(resp(&f[1]).action_id(), None);
    assert_eq!(resp(&f[1]).message().as_deref(), Some("Permission denied"));
    t.s.inject_permission_denied_without_actionid();
    let f = t.frames();
    assert_eq!(names(&f[0]), ["Response", "Message"]);
    t.login();
    let f = t.send(LOGIN, 1);
    assert_eq!(resp(&f[0]).status(), Status::Success);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Already authenticated")
    );
    assert_eq!(
        t.s.received_actions(),
        ["Ping", "CoreStatus", "Login", "Login"]
    );
}

#[test]
fn ping_timestamps_follow_the_given_now_and_ids_echo_verbatim() {
    let mut t = T::quick();
    t.login();
    let f = t.send(b"Action: Ping\r\nActionID:   padded   \r\n\r\n", 2500);
    let r = resp(&f[0]);
    assert_eq!(names(&f[0]), ["Response", "ActionID", "Ping", "Timestamp"]);
    assert_eq!(
        r.action_id(),
        Some(&b"padded   "[..]),
        "leading spaces stripped, trailing kept"
    );
    assert_eq!(r.get("Ping"), Some(&b"Pong"[..]));
    assert_eq!(r.get("Timestamp"), Some(&b"1795727783.500000"[..]));
    let f = t.send(b"action: ping\r\nactionid: x\xff\r\n\r\n", 2500);
    assert_eq!(
        resp(&f[0]).action_id(),
        Some(&b"x\xff"[..]),
        "bytes, not text"
    );
}

#[test]
fn core_show_channels_list_with_and_without_actionid() {
    let mut t = T::new(ServerConfig {
        channels: 20,
        ..ServerConfig::default()
    });
    t.login();
    let f = t.send(b"Action: CoreShowChannels\r\nActionID: csc-1\r\n\r\n", 1);
    assert_eq!(f.len(), 22);
    let start = resp(&f[0]);
    assert!(start.starts_list());
    assert_eq!(start.message().as_deref(), Some("Channels will follow"));
    for item in &f[1..21] {
        let e = ev(item);
        assert!(e.is("CoreShowChannel"));
        assert_eq!(names(item)[1], "ActionID");
        assert_eq!(e.action_id(), Some(&b"csc-1"[..]));
        assert_eq!(names(item).last().map(String::as_str), Some("BridgeId"));
    }
    let done = ev(&f[21]);
    assert!(done.is("CoreShowChannelsComplete") && done.completes_list());
    assert_eq!(done.get("ListItems"), Some(&b"20"[..]));
    let f = t.send(b"Action: CoreShowChannels\r\n\r\n", 2);
    assert_eq!(f.len(), 22);
    assert!(f
        .iter()
        .all(|fr| !names(fr).contains(&"ActionID".to_string())));
}

#[test]
fn status_queue_lists_and_errors() {
    let mut t = T::new(ServerConfig {
        channels: 2,
        ..ServerConfig::default()
    });
    t.login();
    let f = t.send(b"Action: Status\r\nActionID: st\r\n\r\n", 1);
    assert_eq!(f.len(), 4);
    assert_eq!(ev(&f[1]).get("Privilege"), Some(&b"Call"[..]));
    assert_eq!(names(&f[1]).last().map(String::as_str), Some("ActionID"));
    assert_eq!(
        names(&f[3]),
        ["Event", "ActionID", "EventList", "ListItems", "Items"]
    );
    assert_eq!(ev(&f[3]).get("Items"), Some(&b"2"[..]));
    let f = t.send(
        b"Action: Status\r\nActionID: st-none\r\nChannel: Local/none@test-ffffffff;1\r\n\r\n",
        1,
    );
    assert_eq!(resp(&f[0]).message().as_deref(), Some("No such channel"));
    let f = t.send(
        b"Action: QueueStatus\r\nActionID: q\r\nQueue: nosuch\r\n\r\n",
        1,
    );
    assert_eq!(f.len(), 2);
    assert_eq!(ev(&f[1]).get("ListItems"), Some(&b"0"[..]));
    let f = t.send(b"Action: QueueSummary\r\nActionID: qs\r\n\r\n", 1);
    assert!(ev(&f[1]).is("QueueSummaryComplete"));
}

#[test]
fn modern_command_output_headers_and_errors() {
    let mut t = T::new(
        ServerConfig {
            channels: 2,
            ..ServerConfig::default()
        }
        .with_command("dialplan show", &["  '700' =>  1. Park()", "", "a: b"]),
    );
    t.login();
    let f = t.send(
        b"Action: Command\r\nActionID: c1\r\nCommand: core show channels\r\n\r\n",
        1,
    );
    let r = resp(&f[0]);
    assert_eq!(r.message().as_deref(), Some("Command output follows"));
    let lines: Vec<_> = r.output_lines().collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[3], b"2 active channels");
    let f = t.send(b"Action: Command\r\nCommand: dialplan show\r\n\r\n", 1);
    let lines: Vec<_> = resp(&f[0]).output_lines().collect();
    assert_eq!(lines, [&b"  '700' =>  1. Park()"[..], b"", b"a: b"]);
    let f = t.send(
        b"Action: Command\r\nActionID: cmd-bad\r\nCommand: core show nonsense-command\r\n\r\n",
        1,
    );
    let r = resp(&f[0]);
    assert!(r.is_error());
    assert_eq!(r.message().as_deref(), Some("Command output follows"));
    assert_eq!(
        r.get("Output"),
        Some(&b"No such command 'core show nonsense-command' (type 'core show help core show nonsense-command' for other possible commands)"[..])
    );
    let f = t.send(b"Action: Command\r\nActionID: e\r\n\r\n", 1);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("No command provided")
    );
}

#[test]
fn legacy_command_uses_follows_and_end_command() {
    let mut t = T::new(
        ServerConfig {
            legacy_command: true,
            ..ServerConfig::default()
        }
        .with_command("x", &["line: one", "", "three"]),
    );
    t.login();
    t.s.handle_input(
        b"Action: Command\r\nActionID: c9\r\nCommand: x\r\n\r\n",
        t.at(1),
    );
    let raw = t.s.poll_transmit().expect("output");
    assert_eq!(
        &raw[..],
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: c9\r\nline: one\n\nthree\n--END COMMAND--\r\n\r\n"
    );
    t.d.push(&raw);
    let f = t.frames();
    let r = resp(&f[0]);
    assert_eq!(r.status(), Status::Follows);
    assert_eq!(r.action_id(), Some(&b"c9"[..]));
    let lines: Vec<_> = r.output_lines().collect();
    assert_eq!(lines, [&b"line: one"[..], b"", b"three"]);
    let f = t.send(b"Action: Command\r\nCommand: nope\r\n\r\n", 1);
    let r = resp(&f[0]);
    assert_eq!(r.status(), Status::Follows);
    assert!(r
        .follows_text()
        .is_some_and(|t| t.starts_with(b"No such command 'nope'")));
}

/// The event names in `f`.
fn event_names(f: &[Frame]) -> Vec<String> {
    f.iter().map(|x| ev(x).name_str().into_owned()).collect()
}

#[test]
fn async_originate_answers_after_the_delay_without_dialplan() {
    let mut t = T::new(ServerConfig {
        originate: OriginateBehavior {
            delay: Duration::from_millis(300),
            outcome: OriginateOutcome::Success,
        },
        ..ServerConfig::default()
    });
    // A second client of the same PBX sees the call too.
    let mut other = ServerSession::with_pbx(t.s.pbx());
    other.handle_input(LOGIN, t.t0);
    t.login();
    while other.poll_transmit().is_some() {}
    let f = t.send(
        b"Action: Originate\r\nActionID: orig-1\r\nChannel: Local/100@test\r\nApplication: Wait\r\n\
          Data: 10\r\nCallerID: \"AMI Test\" <5551234>\r\nAsync: true\r\n\r\n",
        100,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Originate successfully queued")
    );
    assert_eq!(
        event_names(&f[1..]),
        [
            "Newchannel",
            "Newchannel",
            "Newexten",
            "NewCallerid",
            "NewConnectedLine",
            "NewCallerid",
            "NewConnectedLine",
            "LocalBridge",
            "DialBegin"
        ]
    );
    assert_eq!(t.s.poll_timeout(), Some(t.at(400)));
    // Other actions are answered meanwhile.
    let f = t.send(b"Action: Ping\r\nActionID: p\r\n\r\n", 200);
    assert_eq!(resp(&f[0]).action_id(), Some(&b"p"[..]));
    t.s.handle_timeout(t.at(399));
    assert!(t.frames().is_empty());
    t.s.handle_timeout(t.at(400));
    let f = t.frames();
    assert_eq!(
        event_names(&f),
        [
            "Newstate",
            "Newstate",
            "DialEnd",
            "OriginateResponse",
            "DeviceStateChange",
            "DeviceStateChange"
        ]
    );
    let or = ev(&f[3]);
    assert_eq!(
        names(&f[3]),
        [
            "Event",
            "Privilege",
            "ActionID",
            "Response",
            "Channel",
            "Application",
            "Data",
            "Reason",
            "Uniqueid",
            "CallerIDNum",
            "CallerIDName"
        ]
    );
    assert_eq!(or.action_id(), Some(&b"orig-1"[..]));
    assert_eq!(or.get("Response"), Some(&b"Success"[..]));
    assert_eq!(or.get("Reason"), Some(&b"4"[..]));
    assert_eq!(or.get("CallerIDName"), Some(&b"AMI Test"[..]));
    assert_eq!(
        or.get("Channel"),
        Some(&b"Local/100@test-00000000;1"[..]),
        "the created channel, not the dial string"
    );
    let mut seen = 0;
    while let Some(chunk) = other.poll_transmit() {
        seen += chunk.windows(7).filter(|w| w == b"Event: ").count();
    }
    assert_eq!(seen, 15, "the other session got the call's events");
    // The ;1 half runs Wait(10), then the call hangs up.
    assert_eq!(t.s.poll_timeout(), Some(t.at(10_400)));
    let f = t.send(
        b"Action: Hangup\r\nActionID: h\r\nChannel: Local/100@test-00000000;1\r\n\r\n",
        500,
    );
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Channel Hungup"));
    assert_eq!(
        event_names(&f[1..]),
        [
            "HangupRequest",
            "Hangup",
            "Cdr",
            "Hangup",
            "Cdr",
            "DeviceStateChange",
            "DeviceStateChange"
        ]
    );
    assert_eq!(t.s.poll_timeout(), None, "nothing left to do");
}

#[test]
fn async_originate_failure_never_and_events_off() {
    let orig = b"Action: Originate\r\nActionID: o\r\nChannel: PJSIP/100\r\nContext: c\r\nExten: 1\r\nAsync: yes\r\n\r\n";
    let mut t = T::new(ServerConfig {
        originate: OriginateBehavior {
            delay: Duration::from_millis(10),
            outcome: OriginateOutcome::Failure { reason: 0 },
        },
        ..ServerConfig::default()
    });
    t.login();
    t.send(orig, 0);
    t.s.handle_timeout(t.at(10));
    let f = t.frames();
    assert_eq!(f.len(), 1);
    let e = ev(&f[0]);
    assert_eq!(e.get("Response"), Some(&b"Failure"[..]));
    assert_eq!(e.get("Reason"), Some(&b"0"[..]));
    assert_eq!(e.get("Exten"), Some(&b"1"[..]));

    let mut t = T::new(ServerConfig {
        originate: OriginateBehavior {
            delay: Duration::from_millis(10),
            outcome: OriginateOutcome::Never,
        },
        ..ServerConfig::default()
    });
    t.login();
    assert_eq!(t.send(orig, 0).len(), 1);
    assert_eq!(t.s.poll_timeout(), None, "nothing will ever come");

    let mut t = T::quick();
    t.login();
    t.send(b"Action: Events\r\nEventMask: off\r\n\r\n", 0);
    assert_eq!(t.send(orig, 0).len(), 1);
    t.s.handle_timeout(t.at(1000));
    assert!(t.frames().is_empty(), "events off: no OriginateResponse");
}

#[test]
fn sync_originate_blocks_the_session_until_its_outcome() {
    let mut t = T::new(ServerConfig {
        originate: OriginateBehavior {
            delay: Duration::from_millis(500),
            outcome: OriginateOutcome::Failure { reason: 5 },
        },
        ..ServerConfig::default()
    });
    t.login();
    let f = t.send(
        b"Action: Originate\r\nActionID: s\r\nChannel: Local/1@t\r\nApplication: Wait\r\n\r\n\
          Action: Ping\r\nActionID: after\r\n\r\n",
        0,
    );
    assert!(f.is_empty());
    t.s.handle_timeout(t.at(500));
    let f = t.frames();
    assert_eq!(f.len(), 2);
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Originate failed"));
    assert_eq!(resp(&f[1]).action_id(), Some(&b"after"[..]));
}

#[test]
fn userevent_is_echoed_with_the_sender_actionid_and_broadcast() {
    let mut t = T::quick();
    let mut other = ServerSession::with_pbx(t.s.pbx());
    other.handle_input(LOGIN, t.t0);
    t.login();
    while other.poll_transmit().is_some() {}
    let f = t.send(
        b"Action: UserEvent\r\nActionID: ue-1\r\nUserEvent: AmiCaptureTest\r\nHeader1: value one\r\n\
          Header2: value: with colon\r\nHeader1: repeated\r\nEmpty: \r\n\r\n",
        0,
    );
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Event Sent"));
    assert_eq!(
        names(&f[1]),
        [
            "Event",
            "Privilege",
            "UserEvent",
            "ActionID",
            "Header1",
            "Header2",
            "Header1",
            "Empty"
        ]
    );
    let all: Vec<_> = ev(&f[1]).headers().get_all("Header1").collect();
    assert_eq!(all, [&b"value one"[..], b"repeated"]);
    let seen = other.poll_transmit().expect("the other session gets it");
    assert!(seen.starts_with(b"Event: UserEvent\r\n"));
}

#[test]
fn db_vars_hangup_redirect() {
    let mut t = T::new(ServerConfig {
        channels: 2,
        ..ServerConfig::default()
    });
    t.login();
    let f = t.send(
        b"Action: DBPut\r\nActionID: p\r\nFamily: f\r\nKey: k\r\nVal: v: 1\r\n\r\n",
        0,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Updated database successfully")
    );
    let f = t.send(
        b"Action: DBGet\r\nActionID: g\r\nFamily: f\r\nKey: k\r\n\r\n",
        0,
    );
    assert_eq!(f.len(), 3);
    assert_eq!(names(&f[1]), ["Event", "Family", "Key", "Val", "ActionID"]);
    assert_eq!(ev(&f[1]).get("Val"), Some(&b"v: 1"[..]));
    assert_eq!(ev(&f[2]).get("ListItems"), Some(&b"1"[..]));
    let f = t.send(
        b"Action: DBGet\r\nActionID: m\r\nFamily: f\r\nKey: missing\r\n\r\n",
        0,
    );
    assert_eq!(f.len(), 1);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Database entry not found")
    );

    let f = t.send(
        b"Action: SetVar\r\nVariable: G\r\nValue: global value\r\n\r\n",
        0,
    );
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Variable Set"));
    assert_eq!(ev(&f[1]).get("Channel"), Some(&b"none"[..]));
    let f = t.send(b"Action: GetVar\r\nActionID: gv\r\nVariable: G\r\n\r\n", 0);
    assert_eq!(names(&f[0]), ["Response", "ActionID", "Variable", "Value"]);
    assert_eq!(resp(&f[0]).get("Value"), Some(&b"global value"[..]));
    let f = t.send(b"Action: GetVar\r\nVariable: UNSET\r\n\r\n", 0);
    assert_eq!(resp(&f[0]).get("Value"), Some(&b""[..]));
    let f = t.send(
        b"Action: GetVar\r\nChannel: SIP/none\r\nVariable: X\r\n\r\n",
        0,
    );
    assert_eq!(resp(&f[0]).message().as_deref(), Some("No such channel"));
    let f = t.send(b"Action: GetVar\r\n\r\n", 0);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("No variable specified")
    );

    let chan = "Local/long@test-00000000;2";
    let redirect = format!(
        "Action: Redirect\r\nChannel: {chan}\r\nExten: 1\r\nContext: c\r\nPriority: 1\r\n\r\n"
    );
    let f = t.send(redirect.as_bytes(), 0);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Redirect successful")
    );
    let hangup = format!("Action: Hangup\r\nChannel: {chan}\r\n\r\n");
    let f = t.send(hangup.as_bytes(), 0);
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Channel Hungup"));
    let f = t.send(hangup.as_bytes(), 0);
    assert_eq!(resp(&f[0]).message().as_deref(), Some("No such channel"));
}

#[test]
fn unknown_action_missing_action_and_limits() {
    let mut t = T::quick();
    t.login();
    let f = t.send(
        b"Action: NoSuchActionXyz\r\nActionID: unk-1\r\nFoo: bar\r\n\r\n",
        0,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Invalid/unknown command: NoSuchActionXyz. Use Action: ListCommands to show available commands.")
    );
    assert!(ev(&f[1]).is("RequestBadFormat"));
    assert_eq!(
        ev(&f[1]).get("RequestType"),
        Some(&b"Action: NoSuchActionXyz"[..])
    );
    let f = t.send(b"ActionID: no-action-header\r\nFoo: bar\r\n\r\n", 0);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Missing action in request")
    );
    assert_eq!(ev(&f[1]).get("RequestType"), Some(&b"Action: NONE"[..]));
    let mut long = b"Action: Ping\r\nActionID: big\r\nHuge: ".to_vec();
    long.extend(std::iter::repeat_n(b'H', 1100));
    long.extend_from_slice(b"\r\n\r\n");
    let f = t.send(&long, 0);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Failed to parse message: line too long")
    );
    let mut many = b"Action: Ping\r\nActionID: many\r\n".to_vec();
    for i in 0..130 {
        many.extend_from_slice(format!("X{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let f = t.send(&many, 0);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Too many lines in message or allocation failure")
    );
}

#[test]
fn scripted_replies_answer_for_the_action_or_never() {
    let mut t = T::new(
        ServerConfig {
            auth_failure_delay: Duration::ZERO,
            ..ServerConfig::default()
        }
        .with_reply(
            "QueueReset",
            crate::ScriptedReply::Status {
                status: "Failure".into(),
                message: "No such queue".into(),
            },
        )
        .with_reply("Ping", crate::ScriptedReply::Never),
    );
    // Before login, the usual refusal.
    let f = t.send(b"Action: QueueReset\r\nActionID: q0\r\n\r\n", 0);
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Permission denied"));
    t.login();
    let f = t.send(b"Action: queuereset\r\nActionID: q1\r\nQueue: x\r\n\r\n", 0);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(resp(&f[0]).status(), Status::Other("Failure".into()));
    assert_eq!(resp(&f[0]).action_id(), Some(&b"q1"[..]));
    assert_eq!(resp(&f[0]).message().as_deref(), Some("No such queue"));
    // A lost response: the next request is answered, the Ping never.
    let f = t.send(
        b"Action: Ping\r\nActionID: p1\r\n\r\nAction: CoreSettings\r\nActionID: c1\r\n\r\n",
        0,
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(resp(&f[0]).action_id(), Some(&b"c1"[..]));
    assert_eq!(
        t.s.received_actions(),
        ["QueueReset", "Login", "queuereset", "Ping", "CoreSettings"]
    );
}

#[test]
fn logoff_says_goodbye_and_closes() {
    let mut t = T::quick();
    // Logoff works before login too.
    let f = t.send(
        b"Action: Logoff\r\nActionID: bye-1\r\n\r\nAction: Ping\r\n\r\n",
        0,
    );
    assert_eq!(f.len(), 1);
    assert_eq!(resp(&f[0]).status(), Status::Goodbye);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Thanks for all the fish.")
    );
    assert!(t.s.is_closing());
}

#[test]
fn events_action_toggles_delivery() {
    let mut t = T::quick();
    t.login();
    let f = t.send(
        b"Action: Events\r\nActionID: ev-off\r\nEventMask: off\r\n\r\n",
        0,
    );
    assert_eq!(names(&f[0]), ["Response", "ActionID", "Events"]);
    assert_eq!(resp(&f[0]).get("Events"), Some(&b"Off"[..]));
    t.s.deliver_event(&b"Event: Dropped\r\n\r\n"[..]);
    assert!(t.frames().is_empty());
    let f = t.send(b"Action: Events\r\nEventMask: system,user\r\n\r\n", 0);
    assert_eq!(resp(&f[0]).get("Events"), Some(&b"On"[..]));
    let f = t.send(b"Action: Events\r\nActionID: ev-nomask\r\n\r\n", 0);
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Invalid event mask"));
    t.s.deliver_event(&b"Event: Kept\r\n\r\n"[..]);
    assert!(ev(&t.frames()[0]).is("Kept"));
}

#[test]
fn read_and_write_classes_limit_events_and_actions() {
    let mut t = T::new(
        ServerConfig::default()
            .with_user(
                "limited",
                User::new("limited123").read("system").write("system"),
            )
            .with_user("mute", User::new("mute").read("").write("")),
    );
    let f = t.send(
        b"Action: Login\r\nUsername: limited\r\nSecret: limited123\r\n\r\n",
        0,
    );
    assert_eq!(event_names(&f[1..]), ["FullyBooted"], "no security read");
    let f = t.send(
        b"Action: Originate\r\nActionID: o\r\nChannel: Local/1@t\r\nApplication: Wait\r\nAsync: true\r\n\r\n\
          Action: Command\r\nActionID: c\r\nCommand: core show channels\r\n\r\n\
          Action: GetVar\r\nActionID: g\r\nVariable: X\r\n\r\n\
          Action: CoreStatus\r\nActionID: s\r\n\r\nAction: Ping\r\nActionID: p\r\n\r\n",
        1,
    );
    let messages: Vec<_> = f
        .iter()
        .map(|x| resp(x).message().map(String::from))
        .collect();
    assert_eq!(
        messages[..3],
        [
            Some("Permission denied".into()),
            Some("Permission denied".into()),
            Some("Permission denied".into())
        ]
    );
    assert!(!resp(&f[3]).is_error() && !resp(&f[4]).is_error());
    // ListCommands lists only what the user may run.
    let f = t.send(b"Action: ListCommands\r\n\r\n", 1);
    let listed = names(&f[0]);
    assert!(listed.contains(&"CoreStatus".to_string()) && listed.contains(&"Ping".to_string()));
    assert!(!listed.contains(&"Originate".to_string()));

    let mut t = T::new(ServerConfig::default().with_user("mute", User::new("mute").read("")));
    let f = t.send(
        b"Action: Login\r\nUsername: mute\r\nSecret: mute\r\n\r\n",
        0,
    );
    assert_eq!(f.len(), 1, "no FullyBooted without read permission");
    assert!(t.s.is_authenticated() && !t.s.wants_events());
}

#[test]
fn filters_select_events_by_regex_and_report_bad_ones() {
    let mut t = T::quick();
    t.login();
    let f = t.send(
        b"Action: Filter\r\nActionID: f1\r\nOperation: Add\r\nFilter: UserEvent: Keep\r\n\r\n",
        0,
    );
    assert_eq!(names(&f[0]), ["Response", "ActionID", "Message"]);
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Success"));
    let f = t.send(
        b"Action: UserEvent\r\nUserEvent: Drop\r\n\r\nAction: UserEvent\r\nUserEvent: Keep\r\n\r\n",
        0,
    );
    assert_eq!(f.len(), 3, "two responses, one event: {f:?}");
    assert_eq!(ev(&f[2]).get("UserEvent"), Some(&b"Keep"[..]));
    let f = t.send(
        b"Action: Filter\r\nActionID: f2\r\nOperation: Add\r\nFilter: Event: (Broken\r\n\r\n",
        0,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Filter did not compile.  Check the syntax of the filter given.")
    );
    let f = t.send(
        b"Action: Filter\r\nOperation: Remove\r\nFilter: x\r\n\r\n",
        0,
    );
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Unknown operation"));
}

#[test]
fn wait_event_times_out_or_wakes_on_an_event() {
    let mut t = T::new(ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::default()
    });
    t.send(
        b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n",
        0,
    );
    assert!(t
        .send(
            b"Action: WaitEvent\r\nActionID: w1\r\nTimeout: 2\r\n\r\n",
            0
        )
        .is_empty());
    assert_eq!(t.s.poll_timeout(), Some(t.at(2000)));
    t.s.handle_timeout(t.at(2000));
    let f = t.frames();
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Waiting for Event completed.")
    );
    assert_eq!(names(&f[1]), ["Event", "ActionID"]);
    assert!(ev(&f[1]).is("WaitEventComplete"));
    t.send(b"Action: Events\r\nEventMask: user\r\n\r\n", 2001);
    assert!(t
        .send(
            b"Action: WaitEvent\r\nActionID: w2\r\nTimeout: 10\r\n\r\n",
            2002
        )
        .is_empty());
    let mut helper = ServerSession::with_pbx(t.s.pbx());
    helper.handle_input(LOGIN, t.at(3000));
    helper.handle_input(
        b"Action: UserEvent\r\nActionID: h-68\r\nUserEvent: WakeUp\r\n\r\n",
        t.at(3000),
    );
    t.s.handle_timeout(t.at(3000));
    let f = t.frames();
    assert_eq!(event_names(&f[1..]), ["UserEvent", "WaitEventComplete"]);
}

#[test]
fn astdb_tree_and_deletes() {
    let mut t = T::new(ServerConfig::default().with_db("pbx", "UUID", "u"));
    t.login();
    t.send(
        b"Action: DBPut\r\nFamily: amitest\r\nKey: k1\r\nVal: v1\r\n\r\n\
          Action: DBPut\r\nFamily: amitest/sub\r\nKey: k2\r\nVal: v2\r\n\r\n\
          Action: DBPut\r\nFamily: amitestx\r\nKey: k3\r\nVal: v3\r\n\r\n",
        0,
    );
    let f = t.send(
        b"Action: DBGetTree\r\nActionID: t\r\nFamily: amitest\r\n\r\n",
        0,
    );
    let keys: Vec<_> = f[1..f.len() - 1]
        .iter()
        .map(|x| String::from_utf8_lossy(ev(x).get("Key").expect("key")).into_owned())
        .collect();
    assert_eq!(
        keys,
        ["/amitest/k1", "/amitest/sub/k2"],
        "family boundary respected"
    );
    assert_eq!(names(&f[1]), ["Event", "Key", "Val", "ActionID"]);
    assert_eq!(ev(f.last().expect("end")).get("ListItems"), Some(&b"2"[..]));
    let f = t.send(b"Action: DBGetTree\r\n\r\n", 0);
    assert_eq!(f.len(), 2 + 4, "everything, /pbx/UUID included");
    let f = t.send(
        b"Action: DBDel\r\nFamily: amitest\r\nKey: k1\r\n\r\nAction: DBDel\r\nFamily: amitest\r\nKey: k1\r\n\r\n\
          Action: DBDelTree\r\nFamily: amitest\r\n\r\nAction: DBDelTree\r\nFamily: amitest\r\n\r\n",
        0,
    );
    let messages: Vec<_> = f
        .iter()
        .map(|x| resp(x).message().unwrap_or_default().into_owned())
        .collect();
    assert_eq!(
        messages,
        [
            "Key deleted successfully",
            "Database entry could not be deleted",
            "Key tree deleted successfully",
            "Database entry not found"
        ]
    );
}

#[test]
fn core_settings_and_list_commands_shapes() {
    let mut t = T::quick();
    t.login();
    let f = t.send(b"Action: CoreSettings\r\nActionID: cs\r\n\r\n", 0);
    assert_eq!(
        names(&f[0]),
        [
            "Response",
            "ActionID",
            "AMIversion",
            "AsteriskVersion",
            "SystemName",
            "CoreMaxCalls",
            "CoreMaxLoadAvg",
            "CoreRunUser",
            "CoreRunGroup",
            "CoreMaxFilehandles",
            "CoreRealTimeEnabled",
            "CoreCDRenabled",
            "CoreHTTPenabled",
            "SoundsSearchCustomDir"
        ]
    );
    assert_eq!(resp(&f[0]).get("AMIversion"), Some(&b"11.0.0"[..]));
    let f = t.send(b"Action: ListCommands\r\nActionID: lc\r\n\r\n", 0);
    assert_eq!(names(&f[0]).len(), 2 + 93, "every Asterisk 22 action");
    assert_eq!(
        resp(&f[0]).get("Ping"),
        Some(&b"Answers Pong: a keepalive.  (Priv: <none>)"[..])
    );
    let f = t.send(b"Action: Atxfer\r\nActionID: x\r\n\r\n", 0);
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Action Atxfer is not simulated by ami-testkit")
    );
}

#[test]
fn input_in_any_chunking_gives_the_same_answers() {
    let script: &[u8] =
        b"Action: Login\r\nActionID: a\r\nUsername: admin\r\nSecret: amp111\r\n\r\n\
        Action: Ping\nActionID: bare-lf\n\nAction:Ping\r\nActionID:no-space\r\n\r\n";
    let mut whole = T::quick();
    let expected: Vec<_> = whole.send(script, 0).iter().map(names).collect();
    for size in [1, 2, 7, 33] {
        let mut t = T::quick();
        let mut got = Vec::new();
        for piece in script.chunks(size) {
            got.extend(t.send(piece, 0).iter().map(names));
        }
        assert_eq!(got, expected, "chunk {size}");
    }
    assert_eq!(expected.len(), 5);
}

/// Originates `dest` (async, `Wait(5)` on `;1`, 2 s timeout) on the
/// captures' PBX and runs it to the end: the events, as
/// `(event, channel or dest channel, status)` per frame.
fn call_to(dest: &str) -> Vec<(String, String, String)> {
    let mut t = T::new(ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::asterisk_corpus()
    });
    t.login();
    let orig = format!(
        "Action: Originate\r\nActionID: o\r\nChannel: Local/{dest}\r\nApplication: Wait\r\n\
         Data: 5\r\nTimeout: 2000\r\nAsync: true\r\n\r\n"
    );
    let mut f = t.send(orig.as_bytes(), 0);
    for ms in (100..=10_000).step_by(100) {
        t.s.handle_timeout(t.at(ms));
        f.extend(t.frames());
    }
    f[1..]
        .iter()
        .map(|x| {
            let e = ev(x);
            let get = |n: &str| String::from_utf8_lossy(e.get(n).unwrap_or_default()).into_owned();
            let chan = match get("Channel") {
                c if c.is_empty() => get("DestChannel"),
                c => c,
            };
            let status = [get("DialStatus"), get("Reason"), get("Cause")].concat();
            (e.name_str().into_owned(), chan, status)
        })
        .collect()
}

/// `call_to` as `Event(channel suffix)=status` strings.
fn brief(events: &[(String, String, String)]) -> Vec<String> {
    events
        .iter()
        .filter(|(n, _, _)| n != "QueueMemberStatus")
        .map(|(n, c, s)| {
            let half = c
                .rsplit(';')
                .next()
                .filter(|_| c.contains(';'))
                .unwrap_or("-");
            format!("{n}({half}){s}")
        })
        .collect()
}

#[test]
fn busy_and_congested_destinations_fail_as_dial_c_reports_them() {
    // Not captured (transcripts 32-35 are missing): main/dial.c publishes
    // DialEnd BUSY and hangs ;1 up; core_unreal.c passes the hangup to ;2.
    for (dest, status, cause, reason) in [
        ("busy@test", "BUSY", "17", "5"),
        ("congestion@test", "CONGESTION", "34", "8"),
    ] {
        let app = if dest.starts_with("busy") {
            "Busy"
        } else {
            "Congestion"
        };
        assert_eq!(
            brief(&call_to(dest)),
            [
                "Newchannel(1)",
                "Newchannel(2)",
                "Newexten(1)",
                "LocalBridge(-)",
                "DialBegin(1)",
                "Newexten(2)",
                "Newstate(2)",
                &format!("DialEnd(1){status}"),
                "HangupRequest(2)0",
                "Hangup(1)0",
                "SoftHangupRequest(2)16",
                "Newexten(2)",
                &format!("Hangup(2){cause}"),
                &format!("OriginateResponse(-){reason}"),
            ],
            "{dest} ({app})"
        );
    }
}

#[test]
fn a_missing_extension_fails_before_the_dialplan_with_reason_0() {
    // local_call finds no extension: no LocalBridge, no DialBegin; ;2 never
    // ran, so it is hung up without a hangup request.
    let events = call_to("nosuch@test");
    assert_eq!(
        brief(&events),
        [
            "Newchannel(1)",
            "Newchannel(2)",
            "Newexten(1)",
            "Hangup(1)0",
            "Hangup(2)0",
            "OriginateResponse(-)0"
        ]
    );
    let (_, channel, _) = events.last().expect("the outcome");
    assert_eq!(
        channel, "Local/nosuch@test",
        "a failed call names the dial string"
    );
}

#[test]
fn an_unanswered_destination_times_out_with_reason_3() {
    let got = brief(&call_to("agent1@agents"));
    assert_eq!(
        got,
        [
            "Newchannel(1)",
            "Newchannel(2)",
            "Newexten(1)",
            "LocalBridge(-)",
            "DialBegin(1)",
            "Newexten(2)",
            "Newexten(2)",
            "Newstate(1)",
            "DialState(1)RINGING",
            "Newexten(2)",
            "DialEnd(1)NOANSWER",
            "HangupRequest(2)19",
            "Hangup(1)19",
            "SoftHangupRequest(2)16",
            "Hangup(2)19",
            "OriginateResponse(-)3"
        ]
    );
}

#[test]
fn sync_originate_answers_at_the_answer_and_errs_on_failure() {
    let mut t = T::new(ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::asterisk_corpus()
    });
    t.login();
    let f = t.send(
        b"Action: Originate\r\nActionID: s1\r\nChannel: Local/busy@test\r\nApplication: Wait\r\nData: 1\r\n\r\n",
        0,
    );
    assert_eq!(resp(&f[0]).message().as_deref(), Some("Originate failed"));
    assert!(
        f[1..].iter().all(|x| matches!(x, Frame::Event(_))),
        "events after the answer"
    );
    let f = t.send(
        b"Action: Originate\r\nActionID: s2\r\nChannel: Local/100@test\r\nApplication: Wait\r\nData: 1\r\n\r\n",
        0,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Originate successfully queued"),
        "answered at once: Answer is 100@test's second priority"
    );
    let f = t.send(
        b"Action: Originate\r\nActionID: s3\r\nChannel: Local/100@test\r\nContext: test\r\nExten: none\r\nPriority: 1\r\n\r\n",
        0,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Extension does not exist.")
    );
}

#[test]
fn queue_pause_marks_the_member_in_lists_and_events() {
    let mut t = T::new(ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::asterisk_corpus()
    });
    t.login();
    let f = t.send(
        b"Action: QueuePause\r\nActionID: p\r\nInterface: Local/agent3@agents\r\n\
          Paused: true\r\nReason: lunch\r\n\r\n",
        1000,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Interface paused successfully")
    );
    assert_eq!(event_names(&f[1..]), ["QueueMemberPause"]);
    assert_eq!(ev(&f[1]).get("PausedReason"), Some(&b"lunch"[..]));
    let f = t.send(b"Action: QueueStatus\r\nQueue: sales\r\n\r\n", 1000);
    assert_eq!(ev(&f[2]).get("Paused"), Some(&b"1"[..]));
    let f = t.send(b"Action: QueueSummary\r\nQueue: sales\r\n\r\n", 1000);
    assert_eq!(
        ev(&f[1]).get("Available"),
        Some(&b"0"[..]),
        "a paused member is not available"
    );
    let f = t.send(
        b"Action: QueuePause\r\nInterface: PJSIP/nobody\r\nPaused: false\r\n\r\n",
        1000,
    );
    assert_eq!(
        resp(&f[0]).message().as_deref(),
        Some("Interface not found")
    );
}

#[test]
fn a_caller_hanging_up_in_queue_abandons_and_its_members_stop_ringing() {
    let mut t = T::new(ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::asterisk_corpus()
    });
    t.login();
    t.send(
        b"Action: Originate\r\nChannel: Local/queue@test\r\nApplication: Wait\r\nData: 600\r\nAsync: true\r\n\r\n",
        0,
    );
    let caller = t.s.pbx().queue_callers("support");
    assert_eq!(caller, ["Local/queue@test-00000000;2"]);
    assert_eq!(t.s.pbx().channels().len(), 4, "the call and Agent One's");
    let f = t.send(
        b"Action: Hangup\r\nChannel: Local/queue@test-00000000;2\r\n\r\n",
        3000,
    );
    let names = event_names(&f[1..]);
    let abandon = names.iter().position(|n| n == "QueueCallerAbandon");
    let leave = names.iter().position(|n| n == "QueueCallerLeave");
    assert!(abandon.is_some() && abandon < leave, "{names:?}");
    assert!(t.s.pbx().queue_callers("support").is_empty());
    assert!(
        t.s.pbx().channels().is_empty(),
        "the agent's channels went too"
    );
    let f = t.send(b"Action: QueueStatus\r\nQueue: support\r\n\r\n", 3000);
    assert_eq!(
        ev(f.last().expect("complete")).get("ListItems"),
        Some(&b"3"[..])
    );
    assert_eq!(t.s.poll_timeout(), None, "no queue timer left behind");
}
