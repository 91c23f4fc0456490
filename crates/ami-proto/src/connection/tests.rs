//! Whole sessions in memory with virtual time: a scripted server, a
//! `Connection`, and `now` moved by hand.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::*;
use crate::config::AuthMethod;
use crate::error::CallEventsOff;

const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

struct Session {
    conn: Connection,
    now: Instant,
    outputs: Vec<Output>,
}

impl Session {
    fn new(config: Config) -> Session {
        let now = Instant::now();
        Session {
            conn: Connection::new(config, now).expect("valid config"),
            now,
            outputs: Vec::new(),
        }
    }

    fn config() -> Config {
        let mut c = Config::new("pbx-test", "admin", "hunter2");
        c.auth = AuthMethod::Plain;
        c.heartbeat_interval = None;
        c
    }

    /// A logged-in session.
    fn ready(config: Config) -> Session {
        let mut s = Session::new(config);
        s.input(BANNER);
        let login = s.sent_ids();
        s.input(format!("Response: Success\r\nActionID: {}\r\n\r\n", login[0]).as_bytes());
        assert!(s.conn.is_ready(), "{:?}", s.conn.state());
        s.outputs.clear();
        s
    }

    fn input(&mut self, bytes: &[u8]) {
        self.conn.handle_input(bytes, self.now);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(out) = self.conn.poll_output() {
            self.outputs.push(out);
        }
    }

    fn wait(&mut self, d: Duration) {
        self.now += d;
        self.conn.handle_timeout(self.now);
        self.drain();
    }

    /// Everything written so far, taken from the write buffer.
    fn sent(&mut self) -> String {
        let Some(bytes) = self.conn.poll_transmit() else {
            return String::new();
        };
        let text = String::from_utf8_lossy(bytes).into_owned();
        self.conn.advance(text.len());
        text
    }

    fn sent_ids(&mut self) -> Vec<String> {
        self.sent()
            .lines()
            .filter_map(|l| l.strip_prefix("ActionID: ").map(str::to_owned))
            .collect()
    }

    fn send(&mut self, action: Action) -> ActionId {
        let id = self.conn.send(action, self.now).expect("accepted");
        self.sent();
        id
    }

    fn completions(&self, id: &ActionId) -> Vec<&Result<Completion, ActionError>> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Completion { id: got, result } if got == id => Some(result),
                _ => None,
            })
            .collect()
    }

    fn only(&self, id: &ActionId) -> &Result<Completion, ActionError> {
        let all = self.completions(id);
        assert_eq!(all.len(), 1, "completions of {id}: {all:?}");
        all[0]
    }

    fn err(&self, id: &ActionId) -> &ActionError {
        match self.only(id) {
            Err(e) => e,
            Ok(c) => panic!("{id} succeeded: {c:?}"),
        }
    }

    fn events(&self) -> Vec<String> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.name_str().into_owned()),
                _ => None,
            })
            .collect()
    }

    fn closed_with(&self) -> Option<&CloseReason> {
        self.outputs.iter().find_map(|o| match o {
            Output::State(ConnState::Closed(r)) => Some(r),
            _ => None,
        })
    }
}

fn success(id: &ActionId) -> String {
    format!("Response: Success\r\nActionID: {id}\r\n\r\n")
}

#[test]
fn nothing_is_sent_before_the_banner() {
    let mut s = Session::new(Session::config());
    assert!(s.conn.poll_transmit().is_none());
    s.input(b"Asterisk Call Manager/11.0.0\r");
    assert!(
        s.conn.poll_transmit().is_none(),
        "banner line not complete yet"
    );
    s.input(b"\n");
    assert!(s.sent().starts_with("Action: Login\r\n"));
}

#[test]
fn sends_before_login_are_refused() {
    let mut s = Session::new(Session::config());
    let err = s.conn.send(Action::ping(), s.now).unwrap_err();
    assert!(matches!(err, SendError::NotReady { .. }));
}

#[test]
fn login_timeout_closes_with_a_login_error() {
    let mut s = Session::new(Session::config());
    s.wait(Duration::from_secs(9));
    assert!(!s.conn.is_closed());
    s.wait(Duration::from_secs(2));
    assert_eq!(
        s.closed_with(),
        Some(&CloseReason::LoginFailed(LoginError::Timeout))
    );
    assert_eq!(
        s.conn.poll_timeout(),
        None,
        "a closed session has no deadline"
    );
}

#[test]
fn authentication_failure_is_a_distinct_error() {
    let mut s = Session::new(Session::config());
    s.input(BANNER);
    let id = s.sent_ids().remove(0);
    s.input(
        format!("Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n")
            .as_bytes(),
    );
    assert!(matches!(
        s.closed_with(),
        Some(CloseReason::LoginFailed(LoginError::AuthenticationFailed(
            _
        )))
    ));
}

#[test]
fn missing_responses_on_close_are_connection_lost_exactly_once() {
    let mut s = Session::ready(Session::config());
    let ids: Vec<_> = (0..5).map(|_| s.send(Action::ping())).collect();
    s.input(success(&ids[0]).as_bytes());
    // Bytes the old socket never took are never sent anywhere else.
    s.conn
        .send(Action::ping(), s.now)
        .expect("queued, never written");
    assert!(s.conn.poll_transmit().is_some());
    s.conn.handle_closed(s.now);
    assert!(
        s.conn.poll_transmit().is_none(),
        "a closed session transmits nothing"
    );
    s.drain();
    assert!(matches!(s.only(&ids[0]), Ok(Completion::Response(_))));
    for id in &ids[1..] {
        assert_eq!(s.err(id), &(ActionError::ConnectionLost));
    }
    assert_eq!(s.closed_with(), Some(&CloseReason::Lost));
    // Nothing more, ever.
    s.conn.handle_closed(s.now);
    s.wait(Duration::from_secs(60));
    assert_eq!(
        s.outputs.len(),
        6 + 1,
        "six completions and one state change"
    );
}

#[test]
fn timeout_then_late_response_is_absorbed_not_given_to_the_next_action() {
    let mut s = Session::ready(Session::config());
    let slow = s.send(Action::ping().with_timeout(Duration::from_secs(1)));
    s.wait(Duration::from_millis(1001));
    assert_eq!(
        s.err(&slow),
        &(ActionError::Timeout(Duration::from_secs(1)))
    );
    let next = s.send(Action::ping());
    // The late answer to `slow`, without an ActionID, then `next`'s answer.
    s.input(b"Response: Success\r\nPing: Pong\r\n\r\n");
    assert!(
        s.completions(&next).is_empty(),
        "late response went to the next action"
    );
    s.input(success(&next).as_bytes());
    assert!(s.only(&next).is_ok());
    assert_eq!(s.completions(&slow).len(), 1);
    assert_eq!(s.conn.stats().desyncs, 0);
}

#[test]
fn response_without_action_id_goes_to_the_oldest_waiting_action() {
    let mut s = Session::ready(Session::config());
    let a = s.send(Action::ping());
    let b = s.send(Action::ping());
    s.input(b"Response: Error\r\nMessage: Permission denied\r\n\r\n");
    assert_eq!(
        s.err(&a),
        &(ActionError::Server {
            message: "Permission denied".into()
        })
    );
    assert!(s.completions(&b).is_empty());
}

#[test]
fn unknown_action_ids_are_ordinary_events_and_counted_desyncs_for_responses() {
    let mut s = Session::ready(Session::config());
    let a = s.send(Action::ping());
    s.input(b"Event: OriginateResponse\r\nActionID: other-client-1\r\nResponse: Success\r\n\r\n");
    assert_eq!(s.events(), vec!["OriginateResponse"]);
    s.input(b"Response: Success\r\nActionID: not-ours\r\n\r\n");
    assert_eq!(s.conn.stats().desyncs, 1);
    assert!(
        s.completions(&a).is_empty(),
        "a foreign response is not ours"
    );
}

#[test]
fn event_with_action_id_and_nothing_pending_is_queued() {
    // Pins the fast path of `on_event`: with an empty table the ActionID
    // is not looked up and the event is an ordinary event; as soon as an
    // action is pending, its list items are claimed again.
    let mut s = Session::ready(Session::config());
    s.input(b"Event: CoreShowChannel\r\nActionID: nobody\r\n\r\n");
    assert_eq!(s.events(), vec!["CoreShowChannel"]);
    let list = s.send(Action::core_show_channels());
    let mut bytes = format!("Response: Success\r\nActionID: {list}\r\nEventList: start\r\n\r\n");
    bytes += &format!("Event: CoreShowChannel\r\nActionID: {list}\r\n\r\n");
    bytes += &format!(
        "Event: CoreShowChannelsComplete\r\nActionID: {list}\r\nEventList: Complete\r\n\r\n"
    );
    s.input(bytes.as_bytes());
    assert!(matches!(s.only(&list), Ok(Completion::List(list)) if list.items.len() == 1));
    assert_eq!(
        s.events(),
        vec!["CoreShowChannel"],
        "only the unclaimed one"
    );
}

#[test]
fn a_skipped_response_fails_with_desync() {
    let mut s = Session::ready(Session::config());
    let a = s.send(Action::ping());
    let b = s.send(Action::ping());
    s.input(success(&b).as_bytes());
    assert!(matches!(s.only(&a), Err(ActionError::Desync(_))));
    assert!(s.only(&b).is_ok());
}

#[test]
fn oversized_response_fails_its_action_and_the_session_goes_on() {
    let mut config = Session::config();
    config.max_frame = 64 << 10;
    let mut s = Session::ready(config);
    let big = s.send(Action::ping());
    let next = s.send(Action::ping());
    let mut frame = format!("Response: Success\r\nActionID: {big}\r\n").into_bytes();
    for _ in 0..3000 {
        frame.extend_from_slice(b"Filler: 0123456789012345678901234567890\r\n");
    }
    frame.extend_from_slice(b"\r\n");
    for chunk in frame.chunks(4096) {
        s.input(chunk);
    }
    assert_eq!(
        s.err(&big),
        &(ActionError::FrameTooLarge { limit: 64 << 10 })
    );
    s.input(success(&next).as_bytes());
    assert!(s.only(&next).is_ok());
    assert!(s.conn.is_ready());
    assert_eq!(s.conn.stats().oversized_frames, 1);
}

#[test]
fn command_output_may_exceed_the_frame_limit_up_to_its_own() {
    let mut config = Session::config();
    config.max_frame = 64 << 10;
    config.max_command_output = 16 << 20;
    let mut s = Session::ready(config);
    let cmd = s.send(Action::command("core show help"));
    let mut frame =
        format!("Response: Success\r\nActionID: {cmd}\r\nMessage: Command output follows\r\n")
            .into_bytes();
    for i in 0..100_000 {
        frame.extend_from_slice(format!("Output: line {i}\r\n").as_bytes());
    }
    frame.extend_from_slice(b"\r\n");
    s.input(&frame);
    let Ok(Completion::Command(output)) = s.only(&cmd) else {
        panic!("{:?}", s.only(&cmd))
    };
    assert_eq!(output.lines.len(), 100_000);
    assert_eq!(&output.lines[99_999][..], b"line 99999");
}

/// A plain answer (`Success` for a live action of one response) completes
/// in line; the general path decides it the same way. Seeded mixes of
/// pings, lists, Commands and async Originates, answered with every status
/// (`Success`, `Error`, `Goodbye`, legacy `Follows`, an unknown word),
/// with and without `EventList: start` and `ActionID`, in CRLF and LF,
/// split across reads, late (after a timeout or a cancel) or for nobody,
/// on a connection with the shortcut and one without, compared after
/// every step: outputs, stats and pending actions.
#[test]
fn a_plain_answer_completes_as_the_general_path_decides_it() {
    let mut plain_answers = 0;
    for seed in [3u64, 17, 2024, 0xfeed, 5, 77] {
        let mut rng = crate::rng::Rng::new(seed);
        let mut next = move |n: u64| rng.below_or_eq(n - 1);
        let mut config = Session::config();
        config.seed = seed;
        let mut fast = Session::ready(config.clone());
        let mut general = Session::ready(config);
        general.conn.general_answers = true;
        let (mut sent, mut live): (Vec<ActionId>, Vec<ActionId>) = (Vec::new(), Vec::new());
        for step in 0..600 {
            let what = next(10);
            match what {
                0..=3 => {
                    let action = match next(8) {
                        0 => Action::core_show_channels(),
                        1 => Action::command("core show uptime"),
                        2 => Action::originate(
                            crate::Originate::new("Local/1@test")
                                .application("Wait", "1")
                                .async_(true),
                        ),
                        _ => Action::ping(),
                    };
                    let ids = [&mut fast, &mut general].map(|s| s.send(action.clone()));
                    assert_eq!(ids[0], ids[1]);
                    sent.push(ids[0].clone());
                    live.push(ids[0].clone());
                }
                4..=6 => {
                    // Mostly the oldest live action's, else the latest's
                    // (the others are passed over), one answered or timed
                    // out before, or nobody's.
                    let id = match (live.len() as u64, next(8)) {
                        (_, 0) => "nobody".to_string(),
                        (_, 1) if !sent.is_empty() => {
                            sent[next(sent.len() as u64) as usize].to_string()
                        }
                        (0, _) => "nobody".to_string(),
                        (n, 2) => live[n as usize - 1].to_string(),
                        (_, _) => live[0].to_string(),
                    };
                    let status = ["Success", "Error", "Goodbye", "Follows", "Odd"]
                        .get(next(10) as usize)
                        .copied()
                        .unwrap_or("Success");
                    let mut frame = format!("Response: {status}\r\n");
                    if next(6) != 0 {
                        frame += &format!("ActionID: {id}\r\n");
                    }
                    if next(6) == 0 {
                        frame += "EventList: start\r\n";
                    }
                    frame += "Message: words\r\n";
                    if status == "Follows" {
                        frame += "uptime 1 s\n--END COMMAND--\r\n";
                    }
                    frame += "\r\n";
                    if next(4) == 0 {
                        frame += &format!("Event: CoreShowChannel\r\nActionID: {id}\r\n\r\n");
                        frame += &format!(
                            "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\n\
                             EventList: Complete\r\nListItems: 1\r\n\r\n"
                        );
                    }
                    if next(3) == 0 {
                        frame = frame.replace("\r\n", "\n");
                    }
                    let cut = next(frame.len() as u64 + 1) as usize;
                    for s in [&mut fast, &mut general] {
                        s.input(&frame.as_bytes()[..cut]);
                        s.input(&frame.as_bytes()[cut..]);
                    }
                }
                7 => {
                    // Past the 10 s timeout now and then.
                    let most = [2_000, 2_000, 2_000, 12_000][next(4) as usize];
                    let d = Duration::from_millis(next(most));
                    fast.wait(d);
                    general.wait(d);
                }
                _ if !sent.is_empty() && next(2) == 0 => {
                    let id = sent[next(sent.len() as u64) as usize].clone();
                    let now = fast.now;
                    assert_eq!(fast.conn.cancel(&id, now), general.conn.cancel(&id, now));
                    fast.drain();
                    general.drain();
                }
                _ => {}
            }
            for out in &fast.outputs {
                if let Output::Completion { id, result } = out {
                    live.retain(|l| l != id);
                    plain_answers += usize::from(matches!(result, Ok(Completion::Response(_))));
                }
            }
            let seen = [&mut fast, &mut general].map(|s| {
                let outputs: Vec<String> = s.outputs.drain(..).map(|o| format!("{o:?}")).collect();
                (
                    outputs,
                    format!("{:?}", s.conn.stats()),
                    s.conn.table.live(),
                    s.conn.table.len(),
                )
            });
            assert_eq!(seen[0], seen[1], "seed {seed}, step {step}");
            if fast.conn.is_closed() {
                break;
            }
        }
    }
    assert!(plain_answers > 100, "{plain_answers} plain answers");
}

#[test]
fn legacy_follows_output_completes_a_command() {
    let mut s = Session::ready(Session::config());
    let cmd = s.send(Action::command("core show channels"));
    s.input(
        format!(
            "Response: Follows\r\nPrivilege: Command\r\nActionID: {cmd}\r\n\
             Channel  Location\n\n1 active channel\n--END COMMAND--\r\n\r\n"
        )
        .as_bytes(),
    );
    let Ok(Completion::Command(output)) = s.only(&cmd) else {
        panic!("{:?}", s.only(&cmd))
    };
    let lines: Vec<&[u8]> = output.lines.iter().map(|l| &l[..]).collect();
    assert_eq!(
        lines,
        vec![&b"Channel  Location"[..], b"", b"1 active channel"]
    );
}

#[test]
fn drop_oldest_queue_counts_drops_and_never_drops_responses() {
    let mut config = Session::config();
    config.event_queue = 100;
    let mut s = Session::ready(config);
    let ping = s.send(Action::ping());
    let mut flood = Vec::new();
    for i in 0..1000 {
        flood.extend_from_slice(format!("Event: Newexten\r\nSeq: {i}\r\n\r\n").as_bytes());
    }
    flood.extend_from_slice(success(&ping).as_bytes());
    // Nobody drains while the flood arrives.
    s.conn.handle_input(&flood, s.now);
    assert_eq!(s.conn.stats().events_dropped_full, 900);
    s.drain();
    assert!(s.only(&ping).is_ok());
    let events = s.events();
    assert_eq!(events.len(), 100);
    let last = s.outputs.iter().rev().find_map(|o| match o {
        Output::Event(e) => Some(e.get_str("Seq").expect("Seq").into_owned()),
        _ => None,
    });
    assert_eq!(last.as_deref(), Some("999"), "the newest events are kept");
}

/// A session whose queue of ten events is under back-pressure, fed fifty
/// events (`Seq: 0..50`) and then the answer to the Ping it sent.
fn fifty_events_before_an_answer() -> (Session, ActionId) {
    let mut config = Session::config();
    config.event_queue = 10;
    config.queue_policy = QueuePolicy::Backpressure;
    let mut s = Session::ready(config);
    let ping = s.send(Action::ping());
    let mut flood = String::new();
    for i in 0..50 {
        flood += &format!("Event: Newexten\r\nSeq: {i}\r\n\r\n");
    }
    flood += &success(&ping);
    s.conn.handle_input(flood.as_bytes(), s.now);
    (s, ping)
}

#[test]
fn backpressure_stops_decoding_and_loses_nothing() {
    let (mut s, ping) = fifty_events_before_an_answer();
    assert!(
        !s.conn.wants_read(),
        "a full queue asks the adapter to stop reading"
    );
    s.drain();
    assert!(s.conn.wants_read());
    let seqs: Vec<String> = s
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.get_str("Seq").expect("Seq").into_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(s.only(&ping).is_ok());
    assert_eq!(s.conn.stats().events_dropped_full, 0);
}

/// Events taken in batches under back-pressure: each batch taken from a
/// full queue is made up by decoding as many held-back frames, in order,
/// and the answer behind the flood comes once its turn is decoded.
#[test]
fn backpressure_batches_resume_decoding_and_lose_nothing() {
    let (mut s, ping) = fifty_events_before_an_answer();
    let mut batch = Vec::new();
    while s.completions(&ping).is_empty() {
        let taken = batch.len();
        assert_eq!(s.conn.poll_events(&mut batch, 4), 4);
        assert_eq!(batch.len(), taken + 4, "appended");
        if batch.len() <= 40 {
            assert_eq!(s.conn.queue_depth(), 10, "refilled from held-back bytes");
        }
        while let Some(out) = s.conn.poll_completion() {
            s.outputs.push(out);
        }
    }
    assert!(s.only(&ping).is_ok());
    while s.conn.poll_events(&mut batch, 4) > 0 {}
    let seqs: Vec<String> = batch
        .iter()
        .map(|e| e.get_str("Seq").expect("Seq").into_owned())
        .collect();
    assert_eq!(seqs, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(s.conn.stats().events_dropped_full, 0);
    assert!(s.conn.wants_read());
}

/// What an adapter does when its consumer cannot take events while an
/// answer is awaited under back-pressure: it drops queued events, counted,
/// which lets the held-back answer be decoded; the queue keeps the newest.
#[test]
fn dropping_events_releases_an_answer_held_behind_them() {
    let (mut s, ping) = fifty_events_before_an_answer();
    let mut dropped = 0;
    while s.completions(&ping).is_empty() {
        assert!(s.conn.drop_event(), "an event to drop");
        dropped += 1;
        while let Some(out) = s.conn.poll_completion() {
            s.outputs.push(out);
        }
    }
    assert!(s.only(&ping).is_ok());
    // Ten fill the queue; the forty-first makes room for the answer.
    assert_eq!(dropped, 41, "just enough to decode the answer");
    let stats = s.conn.stats();
    assert_eq!((stats.events_dropped_full, stats.queue_depth), (41, 9));
    s.drain();
    let seqs: Vec<String> = s
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.get_str("Seq").expect("Seq").into_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, (41..50).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(!s.conn.drop_event(), "nothing left to drop");
    assert_eq!(s.conn.stats().events_dropped_full, 41);
}

#[test]
fn refused_actions_queue_nothing() {
    let mut config = Session::config();
    config.max_write_buffer = 128 << 10;
    config.max_pending = 3;
    let mut s = Session::ready(config);
    let err = s
        .conn
        .send(Action::ping().header("X", "a\r\nAction: Originate"), s.now)
        .unwrap_err();
    assert!(matches!(err, SendError::LineBreak { .. }));
    assert!(s.conn.poll_transmit().is_none());
    // Fill the write buffer: the server is not reading.
    let big = "x".repeat(1000);
    let mut accepted = 0;
    let full = loop {
        let mut action = Action::new("UserEvent").header("UserEvent", "Fill");
        for i in 0..100 {
            action = action.header(format!("H{i}"), big.as_str());
        }
        match s.conn.send(action, s.now) {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 10, "the buffer never filled");
    };
    assert!(
        matches!(full, SendError::WriteBufferFull { .. }),
        "{full:?}"
    );
    assert!(s.conn.stats().write_buffered <= 128 << 10);
    assert_eq!(accepted, 1);
    // The socket takes everything; now the pending bound (3) is what refuses.
    s.sent();
    s.send(Action::ping());
    s.send(Action::ping());
    let err = s.conn.send(Action::ping(), s.now).unwrap_err();
    assert_eq!(err, SendError::TooManyPending { max: 3 });
    assert!(s.conn.poll_transmit().is_none());
}

#[test]
fn heartbeat_detects_silence_and_recovers_after_a_pong() {
    let mut config = Session::config();
    config.heartbeat_interval = Some(Duration::from_secs(15));
    config.action_timeout = Duration::from_secs(5);
    let mut s = Session::ready(config);
    s.wait(Duration::from_secs(15));
    let ping = s.sent_ids();
    assert_eq!(ping.len(), 1, "idle ping sent");
    s.input(
        format!(
            "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
            ping[0]
        )
        .as_bytes(),
    );
    assert!(
        s.completions(&ActionId::from_bytes(ping[0].clone().into()))
            .is_empty(),
        "internal pings are not reported"
    );
    assert!(s.closed_with().is_none());
    // Now the server goes silent.
    let user = s.send(Action::ping().with_timeout(Duration::from_secs(600)));
    s.wait(Duration::from_secs(15));
    assert_eq!(s.sent_ids().len(), 1);
    s.wait(Duration::from_secs(5));
    assert!(s
        .outputs
        .iter()
        .any(|o| matches!(o, Output::State(ConnState::Degraded { misses: 1 }))));
    for _ in 0..4 {
        s.wait(Duration::from_secs(5));
        s.sent();
    }
    assert_eq!(s.closed_with(), Some(&CloseReason::HeartbeatTimeout));
    assert_eq!(s.err(&user), &(ActionError::ConnectionLost));
}

#[test]
fn degraded_link_returns_to_ready_on_pong() {
    let mut config = Session::config();
    config.heartbeat_interval = Some(Duration::from_secs(15));
    config.action_timeout = Duration::from_secs(5);
    let mut s = Session::ready(config);
    s.wait(Duration::from_secs(15));
    s.sent();
    s.wait(Duration::from_secs(5));
    assert!(matches!(s.conn.state(), ConnState::Degraded { misses: 1 }));
    let ping = s.sent_ids();
    assert_eq!(ping.len(), 1, "a new ping goes out at once");
    s.input(format!("Response: Success\r\nActionID: {}\r\n\r\n", ping[0]).as_bytes());
    assert_eq!(s.conn.state(), &ConnState::Ready);
}

#[test]
fn list_over_its_item_bound_fails_and_the_next_action_works() {
    let mut config = Session::config();
    config.max_list_items = 5;
    let mut s = Session::ready(config);
    let list = s.send(Action::core_show_channels());
    let next = s.send(Action::ping());
    let mut bytes = format!("Response: Success\r\nActionID: {list}\r\nEventList: start\r\n\r\n");
    for _ in 0..10 {
        bytes += &format!("Event: CoreShowChannel\r\nActionID: {list}\r\n\r\n");
    }
    bytes += &format!("Event: CoreShowChannelsComplete\r\nActionID: {list}\r\nEventList: Complete\r\nListItems: 10\r\n\r\n");
    bytes += &success(&next);
    s.input(bytes.as_bytes());
    assert!(matches!(
        s.only(&list),
        Err(ActionError::FrameTooLarge { .. })
    ));
    assert!(s.only(&next).is_ok());
    assert!(
        s.events().is_empty(),
        "the list's items never leak as events"
    );
}

#[test]
fn cancel_completes_once_and_absorbs_the_late_list() {
    let mut s = Session::ready(Session::config());
    let list = s.send(Action::core_show_channels());
    assert!(s.conn.cancel(&list, s.now));
    assert!(!s.conn.cancel(&list, s.now), "cancelled once");
    s.drain();
    assert_eq!(s.err(&list), &(ActionError::Cancelled));
    let mut bytes = format!("Response: Success\r\nActionID: {list}\r\nEventList: start\r\n\r\n");
    bytes += &format!("Event: CoreShowChannel\r\nActionID: {list}\r\n\r\n");
    bytes += &format!(
        "Event: CoreShowChannelsComplete\r\nActionID: {list}\r\nEventList: Complete\r\n\r\n"
    );
    s.input(bytes.as_bytes());
    assert_eq!(s.completions(&list).len(), 1);
    assert!(s.events().is_empty());
}

/// A dashboard tells the caller's own cancels from real failures:
/// `cancelled` counts them, within `actions_failed` (as `timeouts` count
/// theirs); a second cancel of the same action counts nothing.
#[test]
fn cancels_are_counted_apart_within_the_failures() {
    let mut s = Session::ready(Session::config());
    let (kept, gone) = (s.send(Action::ping()), s.send(Action::ping()));
    assert!(s.conn.cancel(&gone, s.now));
    assert!(!s.conn.cancel(&gone, s.now));
    s.input(format!("Response: Error\r\nActionID: {kept}\r\nMessage: no\r\n\r\n").as_bytes());
    s.drain();
    let stats = s.conn.stats();
    assert_eq!(
        (stats.actions_failed, stats.cancelled, stats.timeouts),
        (2, 1, 0)
    );
}

#[test]
fn originate_outcome_may_overtake_its_acknowledgement() {
    let mut s = Session::ready(Session::config());
    let o = s.send(Action::originate(
        crate::Originate::new("Local/1@test")
            .application("Wait", "1")
            .async_(true),
    ));
    s.input(
        format!(
            "Event: OriginateResponse\r\nActionID: {o}\r\nResponse: Failure\r\nReason: 5\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(s.completions(&o).is_empty());
    s.input(success(&o).as_bytes());
    let Ok(Completion::Originate(outcome)) = s.only(&o) else {
        panic!("{:?}", s.only(&o))
    };
    assert!(!outcome.is_success());
    assert_eq!(outcome.reason(), Some(5));
}

#[test]
fn logoff_ends_the_session_as_logged_off() {
    let mut s = Session::ready(Session::config());
    let bye = s.conn.logoff(s.now).expect("logoff");
    s.sent();
    assert_eq!(s.conn.state(), &ConnState::LoggingOff);
    assert!(matches!(
        s.conn.send(Action::ping(), s.now),
        Err(SendError::NotReady { .. })
    ));
    s.input(
        format!(
            "Response: Goodbye\r\nActionID: {bye}\r\nMessage: Thanks for all the fish.\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(s.only(&bye).is_ok());
    s.conn.handle_closed(s.now);
    s.drain();
    assert_eq!(s.closed_with(), Some(&CloseReason::LoggedOff));
}

#[test]
fn garbage_between_frames_is_counted_and_skipped() {
    let mut s = Session::ready(Session::config());
    let ping = s.send(Action::ping());
    s.input(b"\x00\x00binary junk\r\n\r\n");
    s.input(success(&ping).as_bytes());
    assert!(s.only(&ping).is_ok());
    assert_eq!(s.conn.stats().garbage, 1);
}

#[test]
fn debug_output_never_shows_the_secret() {
    let s = Session::ready(Session::config());
    let shown = format!("{:?} {:?}", s.conn, s.conn.config());
    assert!(!shown.contains("hunter2"), "{shown}");
    let login = Action::login("admin", &"hunter2".into(), "on");
    assert!(!format!("{login:?}").contains("hunter2"));
}

#[test]
fn answered_actions_free_their_pending_slot() {
    let mut config = Session::config();
    config.max_pending = 2;
    let mut s = Session::ready(config);
    for _ in 0..100 {
        let id = s.send(Action::ping());
        s.input(success(&id).as_bytes());
        assert!(s.only(&id).is_ok());
    }
    assert_eq!(s.conn.stats().pending, 0);
}

/// Records every tracing event as `name=value` text.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0 += &format!("{}={:?} ", field.name(), value);
    }
}

impl Capture {
    /// Runs `f` with this subscriber as the thread's default, every
    /// callsite's cached interest rebuilt first: tracing caches whether a
    /// callsite is wanted, and a callsite another test thread registered
    /// while it raced with the set-up of this subscriber could stay cached
    /// as unwanted, losing its lines here (about one run in six).
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::subscriber::with_default(self.clone(), || {
            tracing::callsite::rebuild_interest_cache();
            f()
        })
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().expect("not poisoned").push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn every_log_event_has_server_action_id_and_queue_depth_and_no_secret() {
    let capture = Capture::default();
    capture.run(|| {
        let mut config = Session::config();
        config.redaction = config.redaction.clone().with_exact("X-Pin");
        let mut s = Session::ready(config);
        let cmd = s.send(Action::command("database put auth password hunter2"));
        s.send(Action::new("UserEvent").header("X-Pin", "hunter2"));
        s.input(b"\x00garbage\r\n\r\n");
        s.input(b"Response: Success\r\nActionID: nobody\r\n\r\n");
        s.wait(Duration::from_secs(11));
        assert!(matches!(s.only(&cmd), Err(ActionError::Timeout(_))));
        s.conn.handle_closed(s.now);
    });
    let lines = capture.0.lock().expect("not poisoned").clone();
    assert!(lines.len() >= 6, "{lines:#?}");
    for line in &lines {
        for field in ["server=", "action_id=", "queue_depth="] {
            assert!(line.contains(field), "{field} missing in {line}");
        }
        assert!(!line.contains("hunter2"), "secret logged: {line}");
    }
    assert!(lines.iter().any(|l| l.contains("action queued")));
}

#[test]
fn a_configured_redaction_policy_applies_to_every_print_and_log() {
    // Hide `X-Token` headers and any value with `pin=`, beside the defaults.
    let policy = crate::RedactionPolicy::default()
        .with_exact("X-Token")
        .with_value_pattern("pin=");
    let capture = Capture::default();
    let printed = capture.run(|| {
        let mut config = Session::config();
        config.redaction = policy;
        let mut s = Session::ready(config);
        let id = s.send(Action::new("UserEvent").header("X-Token", "tok-123"));
        s.input(
            format!("Response: Success\r\nActionID: {id}\r\nX-Token: tok-123\r\n\r\n").as_bytes(),
        );
        let cmd = s.send(Action::command("core show pins"));
        s.input(
            format!("Response: Success\r\nActionID: {cmd}\r\nOutput: pin=4321\r\n\r\n").as_bytes(),
        );
        s.input(b"Event: UserEvent\r\nX-Token: tok-123\r\nData: pin=4321\r\n\r\n");
        s.input(b"Response: Error\r\nActionID: nobody\r\nMessage: bad pin=4321\r\n\r\n");
        let Some(Output::Event(event)) = s.outputs.iter().find(|o| matches!(o, Output::Event(_)))
        else {
            panic!("{:?}", s.outputs)
        };
        let Ok(done) = s.only(&id) else {
            panic!("{:?}", s.only(&id))
        };
        let Ok(command) = s.only(&cmd) else {
            panic!("{:?}", s.only(&cmd))
        };
        vec![
            format!("{event:?}"),
            format!("{:?}", event.headers()),
            format!("{:?}", event.detach()),
            format!("{:?}", Frame::Event(event.clone())),
            format!("{done:?}"),
            format!("{:?}", done.response()),
            format!("{command:?}"),
        ]
    });
    for text in &printed {
        assert!(
            !text.contains("tok-123") && !text.contains("4321"),
            "shown: {text}"
        );
        assert!(text.contains("***"), "{text}");
    }
    let lines = capture.0.lock().expect("not poisoned").clone();
    assert!(lines.iter().any(|l| l.contains("X-Token")), "{lines:#?}");
    for line in &lines {
        assert!(
            !line.contains("tok-123") && !line.contains("4321"),
            "logged: {line}"
        );
    }
}

#[test]
fn a_server_that_is_not_ami_fails_the_login_at_once() {
    for greeting in [
        &b"HTTP/1.1 400 Bad Request\r\n"[..],
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"Response: Error\r\nMessage: x\r\n\r\n",
    ] {
        let mut s = Session::new(Session::config());
        s.input(greeting);
        assert!(
            matches!(
                s.closed_with(),
                Some(CloseReason::LoginFailed(LoginError::BadBanner(_)))
            ),
            "{:?}: {:?}",
            String::from_utf8_lossy(greeting),
            s.outputs
        );
        assert!(
            s.conn.poll_transmit().is_none(),
            "no Login sent to a stranger"
        );
    }
}

#[test]
fn a_logoff_without_goodbye_is_a_lost_session() {
    let mut s = Session::ready(Session::config());
    s.conn.logoff(s.now).expect("logoff");
    s.sent();
    s.conn.handle_closed(s.now);
    s.drain();
    assert_eq!(s.closed_with(), Some(&CloseReason::Lost));
    assert_eq!(CloseReason::Lost.failure(), Some(Failure::Lost));
    assert_eq!(CloseReason::LoggedOff.failure(), None);
    let auth = CloseReason::LoginFailed(LoginError::AuthenticationFailed(String::new()));
    assert_eq!(auth.failure(), Some(Failure::AuthFailed));
}

#[test]
fn completions_can_be_drained_while_events_stay_queued() {
    let mut s = Session::ready(Session::config());
    let ping = s.conn.send(Action::ping(), s.now).expect("send");
    s.sent();
    let mut bytes = String::from("Event: A\r\n\r\nEvent: B\r\n\r\n");
    bytes += &success(&ping);
    s.conn.handle_input(bytes.as_bytes(), s.now);
    assert!(matches!(
        s.conn.poll_completion(),
        Some(Output::Completion { .. })
    ));
    assert!(s.conn.poll_completion().is_none());
    assert_eq!(s.conn.queue_depth(), 2);
    assert!(s.conn.poll_event().is_some_and(|e| e.is("A")));
    assert!(s
        .conn
        .poll_output()
        .is_some_and(|o| matches!(o, Output::Event(e) if e.is("B"))));
}

#[test]
fn heartbeat_does_not_blame_the_link_while_back_pressure_holds_input() {
    let mut config = Session::config();
    config.heartbeat_interval = Some(Duration::from_secs(15));
    config.action_timeout = Duration::from_secs(5);
    config.event_queue = 2;
    config.queue_policy = QueuePolicy::Backpressure;
    let mut s = Session::ready(config);
    s.wait(Duration::from_secs(15));
    let ping = s.sent_ids().remove(0);
    // The queue fills and the pong arrives behind events nobody takes.
    let mut bytes = String::new();
    for _ in 0..5 {
        bytes += "Event: Newexten\r\n\r\n";
    }
    bytes += &format!("Response: Success\r\nActionID: {ping}\r\n\r\n");
    s.conn.handle_input(bytes.as_bytes(), s.now);
    assert!(!s.conn.wants_read());
    for _ in 0..12 {
        s.now += Duration::from_secs(5);
        s.conn.handle_timeout(s.now);
        assert!(
            matches!(s.conn.state(), ConnState::Ready),
            "{:?}",
            s.conn.state()
        );
        assert!(
            s.conn.poll_timeout().is_some_and(|at| at > s.now),
            "no busy loop"
        );
    }
    s.drain();
    assert_eq!(s.conn.state(), &ConnState::Ready);
    assert_eq!(s.conn.stats().heartbeat_misses, 0);
}

#[test]
fn command_output_limit_below_the_frame_limit_is_enforced() {
    let mut config = Session::config();
    config.max_command_output = 64 << 10;
    let mut s = Session::ready(config);
    let cmd = s.send(Action::command("core show help"));
    let next = s.send(Action::ping());
    let mut frame = format!("Response: Success\r\nActionID: {cmd}\r\n").into_bytes();
    for i in 0..10_000 {
        frame.extend_from_slice(format!("Output: line {i}\r\n").as_bytes());
    }
    frame.extend_from_slice(b"\r\n");
    frame.extend_from_slice(success(&next).as_bytes());
    s.input(&frame);
    assert_eq!(s.err(&cmd), &ActionError::FrameTooLarge { limit: 64 << 10 });
    assert!(s.only(&next).is_ok());
}

/// Command output may exceed `max_frame` whenever the Command is first in
/// line: sent behind another action (the limit grows once that one is
/// answered) or ahead of others (sending them keeps it). Either way the
/// action after it is held to `max_frame` again.
#[test]
fn command_output_may_exceed_the_frame_limit_wherever_the_command_was_queued() {
    let mut config = Session::config();
    config.max_frame = 64 << 10;
    config.max_command_output = 1 << 20;
    let mut s = Session::ready(config);
    let output = |id: &ActionId| {
        let mut frame = format!("Response: Success\r\nActionID: {id}\r\n").into_bytes();
        for i in 0..10_000 {
            frame.extend_from_slice(format!("Output: line {i}\r\n").as_bytes());
        }
        frame.extend_from_slice(b"\r\n");
        frame
    };
    let first = s.send(Action::ping());
    let cmd = s.send(Action::command("core show help"));
    let last = s.send(Action::ping());
    let mut bytes = success(&first).into_bytes();
    bytes.extend(output(&cmd));
    bytes.extend(output(&last));
    s.input(&bytes);
    assert!(s.only(&first).is_ok());
    assert!(s.only(&cmd).is_ok(), "{:?}", s.only(&cmd));
    assert_eq!(
        s.err(&last),
        &ActionError::FrameTooLarge { limit: 64 << 10 }
    );

    let cmd = s.send(Action::command("core show help"));
    let next = s.send(Action::ping());
    let mut bytes = output(&cmd);
    bytes.extend(success(&next).as_bytes());
    s.input(&bytes);
    assert!(s.only(&cmd).is_ok(), "{:?}", s.only(&cmd));
    assert!(s.only(&next).is_ok());
}

/// A 1.8-era `Status` answer (`action_status` in Asterisk 1.8.32.3): a plain
/// acknowledgement, items with the ActionID last, and a `StatusComplete` with
/// only the legacy `Items:` header.
fn legacy_status(id: &ActionId, channels: &[&str]) -> String {
    let mut bytes = format!(
        "Response: Success\r\nActionID: {id}\r\nMessage: Channel status will follow\r\n\r\n"
    );
    for channel in channels {
        bytes += &format!(
            "Event: Status\r\nPrivilege: Call\r\nChannel: {channel}\r\nState: Up\r\n\
             Uniqueid: 1700000000.1\r\nActionID: {id}\r\n\r\n"
        );
    }
    bytes += &format!(
        "Event: StatusComplete\r\nActionID: {id}\r\nItems: {}\r\n\r\n",
        channels.len()
    );
    bytes
}

#[test]
fn a_list_acknowledged_without_eventlist_start_is_collected_to_its_end() {
    let mut s = Session::ready(Session::config());
    let status = s.send(Action::status(None));
    let queues = s.send(Action::queue_status(None));
    let db = s.send(Action::db_get("family", "key"));
    let ping = s.send(Action::ping());
    let mut bytes = legacy_status(&status, &["SIP/100-00000001", "SIP/200-00000002"]);
    // 1.8 QueueStatus: items named unlike the action, ended by name only.
    bytes += &format!(
        "Response: Success\r\nActionID: {queues}\r\nMessage: Queue status will follow\r\n\r\n\
         Event: QueueParams\r\nQueue: support\r\nCompleted: 3\r\nActionID: {queues}\r\n\r\n\
         Event: QueueMember\r\nQueue: support\r\nName: Agent/1\r\nActionID: {queues}\r\n\r\n\
         Event: QueueStatusComplete\r\nActionID: {queues}\r\n\r\n"
    );
    // 1.8 DBGet: one DBGetResponse, then DBGetComplete.
    bytes += &format!(
        "Response: Success\r\nActionID: {db}\r\nMessage: Result will follow\r\n\r\n\
         Event: DBGetResponse\r\nFamily: family\r\nKey: key\r\nVal: v\r\nActionID: {db}\r\n\r\n\
         Event: DBGetComplete\r\nActionID: {db}\r\n\r\n"
    );
    bytes += &success(&ping);
    // In small pieces, as TCP may deliver them.
    for chunk in bytes.as_bytes().chunks(7) {
        s.input(chunk);
    }
    for (id, items, end) in [
        (&status, vec!["Status", "Status"], "StatusComplete"),
        (
            &queues,
            vec!["QueueParams", "QueueMember"],
            "QueueStatusComplete",
        ),
        (&db, vec!["DBGetResponse"], "DBGetComplete"),
    ] {
        let Ok(Completion::List(list)) = s.only(id) else {
            panic!("{id}: {:?}", s.only(id))
        };
        let complete = &list.complete;
        let names: Vec<_> = list
            .items
            .iter()
            .map(|e| e.name_str().into_owned())
            .collect();
        assert_eq!(names, items, "{id}");
        assert!(
            complete.as_ref().is_some_and(|e| e.is(end)),
            "{id}: {complete:?}"
        );
    }
    assert!(s.only(&ping).is_ok());
    assert!(s.events().is_empty(), "items leaked: {:?}", s.events());
}

#[test]
fn a_legacy_list_that_never_ends_times_out_and_its_items_never_leak() {
    let mut s = Session::ready(Session::config());
    let status = s.send(Action::status(None).with_timeout(Duration::from_secs(2)));
    let all = legacy_status(&status, &["SIP/100-00000001", "SIP/200-00000002"]);
    let (head, tail) = all.split_at(all.find("Event: Status\r\n").expect("an item") + 1);
    s.input(head.as_bytes());
    s.wait(Duration::from_secs(1));
    assert!(s.completions(&status).is_empty(), "no empty success");
    s.wait(Duration::from_secs(1));
    assert_eq!(
        s.err(&status),
        &ActionError::Timeout(Duration::from_secs(2))
    );
    // The rest arrives late: absorbed, not handed out as events.
    s.input(tail.as_bytes());
    assert_eq!(s.completions(&status).len(), 1);
    assert!(s.events().is_empty(), "items leaked: {:?}", s.events());
    let ping = s.send(Action::ping());
    s.input(success(&ping).as_bytes());
    assert!(s.only(&ping).is_ok());
}

#[test]
fn only_success_succeeds_other_statuses_are_typed_errors() {
    let mut s = Session::ready(Session::config());
    let failure = s.send(
        Action::new("QueueAdd")
            .header("Queue", "q")
            .header("Interface", "PJSIP/100"),
    );
    let unknown = s.send(Action::ping());
    let goodbye = s.send(Action::ping());
    let empty = s.send(Action::ping());
    let fine = s.send(Action::ping());
    s.input(
        format!(
            "Response: Failure\r\nActionID: {failure}\r\nMessage: Unable to add interface\r\n\r\n\
             Response: Maybe\r\nActionID: {unknown}\r\n\r\n\
             Response: Goodbye\r\nActionID: {goodbye}\r\nMessage: Thanks\r\n\r\n\
             Response:\r\nActionID: {empty}\r\n\r\n"
        )
        .as_bytes(),
    );
    s.input(success(&fine).as_bytes());
    for (id, status, message) in [
        (&failure, "Failure", "Unable to add interface"),
        (&unknown, "Maybe", ""),
        (&goodbye, "Goodbye", "Thanks"),
        (&empty, "", ""),
    ] {
        let want = ActionError::Failed {
            status: status.into(),
            message: message.into(),
        };
        assert_eq!(s.err(id), &want, "{id}");
    }
    assert!(s.only(&fine).is_ok());
    assert!(s.conn.is_ready(), "a Goodbye to a Ping is not a logoff");
}

#[test]
fn a_login_answered_with_anything_but_success_fails() {
    for answer in ["Failure", "Goodbye", "Whatever"] {
        let mut s = Session::new(Session::config());
        s.input(BANNER);
        let id = s.sent_ids().remove(0);
        s.input(
            format!("Response: {answer}\r\nActionID: {id}\r\nMessage: nope\r\n\r\n").as_bytes(),
        );
        let want = LoginError::Failed {
            status: answer.into(),
            message: "nope".into(),
        };
        assert_eq!(s.closed_with(), Some(&CloseReason::LoginFailed(want)));
        assert!(!s.conn.is_ready());
    }
}

#[test]
fn a_challenge_answered_with_anything_but_success_fails() {
    let mut config = Session::config();
    config.auth = AuthMethod::Md5;
    let mut s = Session::new(config);
    s.input(BANNER);
    let id = s.sent_ids().remove(0);
    s.input(format!("Response: Failure\r\nActionID: {id}\r\nChallenge: 123456\r\n\r\n").as_bytes());
    let want = LoginError::Failed {
        status: "Failure".into(),
        message: String::new(),
    };
    assert_eq!(s.closed_with(), Some(&CloseReason::LoginFailed(want)));
    assert!(
        s.conn.poll_transmit().is_none(),
        "no Login after a failed Challenge"
    );
}

#[test]
fn a_refused_answer_that_still_opens_a_list_leaks_no_items() {
    let mut s = Session::ready(Session::config());
    let list = s.send(Action::core_show_channels());
    s.input(
        format!(
            "Response: Failure\r\nActionID: {list}\r\nEventList: start\r\n\r\n\
             Event: CoreShowChannel\r\nActionID: {list}\r\n\r\n\
             Event: CoreShowChannelsComplete\r\nActionID: {list}\r\nEventList: Complete\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(matches!(s.only(&list), Err(ActionError::Failed { .. })));
    assert!(s.events().is_empty(), "items leaked: {:?}", s.events());
}

#[test]
fn a_synchronous_originate_may_take_its_dial_timeout() {
    let mut config = Session::config();
    config.action_timeout = Duration::from_secs(10);
    let mut s = Session::ready(config);
    let originate = || {
        Action::originate(
            crate::Originate::new("PJSIP/100")
                .extension("outbound", "200", 1)
                .timeout_ms(60_000)
                .async_(false),
        )
    };
    // The server answers a synchronous Originate only once the call is
    // answered or the dial timeout (the `Timeout` header) has passed.
    let answered = s.send(originate());
    s.wait(Duration::from_secs(11));
    assert!(
        s.completions(&answered).is_empty(),
        "timed out before the dial timeout"
    );
    s.wait(Duration::from_secs(48));
    s.input(success(&answered).as_bytes());
    assert!(s.only(&answered).is_ok());
    // Silence still ends: the dial timeout plus a margin for the answer.
    let silent = s.send(originate());
    s.wait(Duration::from_secs(64));
    assert!(s.completions(&silent).is_empty());
    s.wait(Duration::from_secs(1));
    assert_eq!(
        s.err(&silent),
        &ActionError::Timeout(Duration::from_secs(65))
    );
    // Without the header, Asterisk's default dial timeout (30 s) applies.
    let default = s.send(Action::originate(
        crate::Originate::new("PJSIP/100")
            .extension("outbound", "200", 1)
            .async_(false),
    ));
    s.wait(Duration::from_secs(35));
    assert_eq!(
        s.err(&default),
        &ActionError::Timeout(Duration::from_secs(35))
    );
}

#[test]
fn the_deadline_heap_stays_within_a_multiple_of_the_pending_table() {
    // A long run of quick actions under a long timeout: each answered one
    // leaves a stale deadline behind, and timed-out ones leave tombstones.
    let mut s = Session::ready(Session::config());
    let hour = Duration::from_secs(3600);
    let mut in_flight = VecDeque::new();
    let mut largest_heap = 0;
    for round in 0..20_000u32 {
        in_flight.push_back(s.send(Action::ping().with_timeout(hour)));
        if round % 97 == 0 {
            // Never answered in time: a timeout, then a tombstone.
            s.send(Action::ping().with_timeout(Duration::from_millis(5)));
            s.wait(Duration::from_millis(5));
        }
        if in_flight.len() > 50 {
            let id = in_flight.pop_front().expect("in flight");
            s.input(success(&id).as_bytes());
        }
        let (heap, entries) = (s.conn.table.deadline_entries(), s.conn.table.len());
        largest_heap = largest_heap.max(heap);
        assert!(
            heap <= 4 * (entries + 16),
            "round {round}: {heap} deadlines for {entries} entries ({} live)",
            s.conn.table.live()
        );
        s.outputs.clear();
    }
    assert!(largest_heap > 50, "the run kept actions in flight");
    assert_eq!(s.conn.stats().timeouts, 207, "tombstones were made");
}

fn async_originate() -> Action {
    Action::originate(
        crate::Originate::new("Local/100@test")
            .application("Wait", "1")
            .async_(true),
    )
}

#[test]
fn an_async_originate_is_refused_when_the_login_turned_call_events_off() {
    // As Asterisk parses the Login `Events` value (`strings_to_mask`):
    // digits are a bit mask (2 is `call`), `off`/`no`/`0` nothing, `on`/`yes`
    // everything, else a comma list of classes, compared case-sensitively.
    for events in [
        "off",
        "no",
        "0",
        "1",
        "4",
        "system,agent",
        "Call",
        "system, call",
    ] {
        let mut config = Session::config();
        config.events = events.into();
        let mut s = Session::ready(config);
        let want = CallEventsOff::Login {
            events: events.into(),
        };
        assert_eq!(
            s.conn.send(async_originate(), s.now),
            Err(SendError::NoCallEvents(want)),
            "Events: {events}"
        );
        assert!(s.conn.poll_transmit().is_none(), "nothing queued");
        // Everything else still goes: a synchronous Originate's outcome is
        // its response.
        let sync = crate::Originate::new("Local/100@test")
            .application("Wait", "1")
            .async_(false);
        let sync = Action::originate(sync);
        assert!(s.conn.send(sync, s.now).is_ok(), "Events: {events}");
        assert!(s.conn.send(Action::ping(), s.now).is_ok());
    }
    for events in [
        "on",
        "yes",
        "",
        "call",
        "system,call",
        "all",
        "2",
        "3",
        "ca,system",
    ] {
        let mut config = Session::config();
        config.events = events.into();
        let mut s = Session::ready(config);
        assert!(
            s.conn.send(async_originate(), s.now).is_ok(),
            "Events: {events:?}"
        );
    }
}

#[test]
fn events_actions_the_server_accepted_decide_whether_an_async_originate_goes() {
    let mut s = Session::ready(Session::config());
    let off = s.send(Action::events("off"));
    // Unanswered yet: the library cannot know, so it does not refuse.
    assert!(s.conn.send(async_originate(), s.now).is_ok());
    s.sent();
    s.input(format!("Response: Success\r\nActionID: {off}\r\nEvents: Off\r\n\r\n").as_bytes());
    let want = SendError::NoCallEvents(CallEventsOff::EventsAction { mask: "off".into() });
    assert_eq!(s.conn.send(async_originate(), s.now), Err(want.clone()));
    // A refused Events action changes nothing.
    let bad = s.send(Action::events(""));
    s.input(
        format!("Response: Error\r\nActionID: {bad}\r\nMessage: Invalid event mask\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(s.conn.send(async_originate(), s.now), Err(want.clone()));
    // Call events back on: Originates go again.
    let on = s.send(Action::events("system,call"));
    s.input(format!("Response: Success\r\nActionID: {on}\r\nEvents: On\r\n\r\n").as_bytes());
    assert!(s.conn.send(async_originate(), s.now).is_ok());
    s.sent();
    // An Events action whose answer never comes leaves the mask unknown:
    // the library does not refuse on a guess.
    let off = s.send(Action::events("off"));
    s.input(format!("Response: Success\r\nActionID: {off}\r\nEvents: Off\r\n\r\n").as_bytes());
    assert_eq!(s.conn.send(async_originate(), s.now), Err(want));
    s.send(Action::events("on").with_timeout(Duration::from_secs(1)));
    s.wait(Duration::from_secs(1));
    assert!(s.conn.send(async_originate(), s.now).is_ok());
}

#[test]
fn a_tombstone_always_expires_even_with_a_zero_timeout() {
    let mut s = Session::ready(Session::config());
    let id = s.send(Action::ping().with_timeout(Duration::ZERO));
    s.wait(Duration::ZERO);
    assert_eq!(s.err(&id), &ActionError::Timeout(Duration::ZERO));
    // The tombstone's grace period (one timeout: none) is over too.
    s.wait(Duration::from_millis(1));
    assert_eq!(
        s.conn.table.len(),
        0,
        "the tombstone outlived its grace period"
    );
    assert_eq!(s.conn.poll_timeout(), None);
}

/// `Response: Error` after `EventList: start`, as Asterisk's
/// `manager_show_dialplan` sends it when a context holds items but not the
/// extension asked for: no `...Complete` follows.
#[test]
fn an_error_after_a_list_started_fails_the_action_not_the_session() {
    let mut s = Session::ready(Session::config());
    let list = s.send(Action::new("ShowDialPlan").header("Extension", "999"));
    let next = s.send(Action::ping());
    s.input(
        format!(
            "Response: Success\r\nActionID: {list}\r\nEventList: start\r\nMessage: DialPlan list will follow\r\n\r\n\
             Event: ListDialplan\r\nActionID: {list}\r\nContext: default\r\nExtension: 100\r\n\r\n\
             Response: Error\r\nActionID: {list}\r\nMessage: Did not find extension 999 in any context\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(
        s.err(&list),
        &ActionError::Server {
            message: "Did not find extension 999 in any context".into()
        }
    );
    assert_eq!(s.conn.stats().desyncs, 0);
    s.input(success(&next).as_bytes());
    assert!(s.only(&next).is_ok());
    // Long after the action's timeout: still exactly one completion each.
    s.wait(Duration::from_secs(3600));
    assert_eq!(s.completions(&list).len(), 1);
    assert!(s.events().is_empty(), "items leaked: {:?}", s.events());
    assert_eq!(s.conn.stats().timeouts, 0);
}

/// `PJSIPShowEndpoint` (`res/res_pjsip/pjsip_configuration.c`) answers
/// `Response: Error` when it cannot format an item, then still ends the
/// list with `EndpointDetailComplete`: both are absorbed.
#[test]
fn an_error_inside_a_list_that_still_completes_leaks_nothing() {
    let mut s = Session::ready(Session::config());
    let list = s.send(Action::pjsip_show_endpoint("100"));
    s.input(
        format!(
            "Response: Success\r\nActionID: {list}\r\nEventList: start\r\n\r\n\
             Event: EndpointDetail\r\nActionID: {list}\r\nObjectName: 100\r\n\r\n\
             Response: Error\r\nActionID: {list}\r\nMessage: Unable to format endpoint 100\r\n\r\n\
             Event: AorDetail\r\nActionID: {list}\r\nObjectName: 100\r\n\r\n\
             Event: EndpointDetailComplete\r\nActionID: {list}\r\nEventList: Complete\r\nListItems: 2\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(
        matches!(s.err(&list), ActionError::Server { message } if message == "Unable to format endpoint 100")
    );
    assert_eq!(s.conn.stats().desyncs, 0);
    assert!(s.events().is_empty(), "leaked: {:?}", s.events());
    s.wait(Duration::from_secs(3600));
    assert_eq!(s.completions(&list).len(), 1);
}

/// The same for a list acknowledged with a plain `Success` (old servers):
/// the action is collecting its list all the same.
#[test]
fn an_error_after_a_legacy_list_acknowledgement_fails_the_action() {
    let mut s = Session::ready(Session::config());
    let list = s.send(Action::new("CoreShowChannelMap").header("Channel", "PJSIP/1-1"));
    s.input(
        format!(
            "Response: Success\r\nActionID: {list}\r\nMessage: Channel map will follow\r\n\r\n\
             Response: Error\r\nActionID: {list}\r\nMessage: Could not complete channel map\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(matches!(s.err(&list), ActionError::Server { .. }));
    assert_eq!(s.conn.stats().desyncs, 0);
}

#[test]
fn an_action_missing_a_required_parameter_is_refused_before_anything_is_queued() {
    let mut s = Session::ready(Session::config());
    // `Redirect` requires Channel, Exten, Context and Priority in every
    // version; the header names are compared without case.
    let redirect = Action::new("redirect")
        .header("channel", "PJSIP/100-00000001")
        .header("Context", "default")
        .header("Exten", "200");
    let err = s.conn.send(redirect.clone(), s.now).unwrap_err();
    assert_eq!(
        err,
        SendError::MissingParameter {
            action: "Redirect",
            parameter: "Priority"
        }
    );
    assert_eq!(err.to_string(), "Redirect requires the Priority parameter");
    assert!(s.conn.poll_transmit().is_none(), "nothing queued");
    let sent = s.conn.stats().actions_sent;
    // With it (even empty: the server decides about values), it goes.
    s.send(redirect.header("PRIORITY", ""));
    // Not refused: actions the catalogue does not know, parameters it
    // documents as required where the handler accepts them absent (Setvar's
    // Value), and parameters only some versions require (AOCMessage's Channel).
    s.send(Action::new("MyModuleAction"));
    s.send(Action::new("Setvar").header("Variable", "GLOBAL_X"));
    s.send(Action::new("AOCMessage").header("MsgType", "D"));
    s.send(Action::new("ExtensionState").header("Exten", "100"));
    assert_eq!(s.conn.stats().actions_sent, sent + 5);
}

#[test]
fn bytes_read_in_place_complete_a_list_split_across_reads_and_count_as_input() {
    let mut s = Session::ready(Session::config());
    let before = s.conn.stats().bytes_in;
    let list = s.send(Action::core_show_channels());
    let mut bytes = format!("Response: Success\r\nActionID: {list}\r\nEventList: start\r\n\r\n");
    for i in 0..50 {
        bytes +=
            &format!("Event: CoreShowChannel\r\nActionID: {list}\r\nChannel: PJSIP/{i}\r\n\r\n");
    }
    bytes += &format!(
        "Event: CoreShowChannelsComplete\r\nActionID: {list}\r\nEventList: Complete\r\n\r\n"
    );
    // Reads of 100 bytes into rooms of 1000, one of them empty.
    let mut rest = bytes.as_bytes();
    s.conn.input_buf(1000);
    s.conn.handle_read(0, s.now);
    while !rest.is_empty() {
        let n = rest.len().min(100);
        s.conn.input_buf(1000)[..n].copy_from_slice(&rest[..n]);
        s.conn.handle_read(n, s.now);
        rest = &rest[n..];
        s.drain();
    }
    let Ok(Completion::List(list)) = s.only(&list) else {
        panic!("{:?}", s.only(&list))
    };
    let channels: Vec<_> = list
        .items
        .iter()
        .map(|e| e.get_str("Channel").unwrap().into_owned())
        .collect();
    assert_eq!(channels.len(), 50);
    assert_eq!(channels[49], "PJSIP/49");
    assert_eq!(s.conn.stats().bytes_in - before, bytes.len() as u64);
}

/// What a server sends for two lists (`a`, `b`) and a ping (`p`) pending
/// together: every rule a list item is told by, its items interleaved with
/// frames that are not its items. Items carry `pad` bytes of padding.
fn interleaved_lists(a: &ActionId, b: &ActionId, p: &ActionId, pad: usize) -> String {
    let pad = "x".repeat(pad);
    let item = |id: &ActionId, n: u32| {
        format!(
            "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: PJSIP/{n}\r\nPad: {pad}\r\n\r\n"
        )
    };
    let mut s = format!("Response: Success\r\nActionID: {a}\r\nEventList: start\r\n\r\n");
    s += &format!("Response: Success\r\nActionID: {b}\r\nEventList: Start\r\n\r\n");
    s += &(item(a, 1) + &item(a, 2));
    // Stray line ends between frames.
    s += "\r\n\r\n";
    s += &item(a, 18);
    // Unrelated events, one naming no action, one an action not pending.
    s += "Event: Hangup\r\nChannel: PJSIP/x\r\n\r\n";
    s += "Event: Hangup\r\nActionID: gone-1\r\nChannel: PJSIP/y\r\n\r\n";
    s += &item(a, 3);
    // The other list's items, then this one's again. `b` ends by its
    // `EventList: Complete`, whatever the event's name (any case).
    s += &(item(b, 10) + &item(b, 11));
    s += &format!("Event: CoreShowChannel\r\nActionID: {b}\r\neventlist: COMPLETE\r\nChannel: PJSIP/12\r\n\r\n");
    s += &item(a, 4);
    // The id in another case, a look-alike name, a line without a colon,
    // an `EventList` that neither opens nor ends a list.
    s += &format!("event: CoreShowChannel\r\nACTIONID: {a}\r\nChannel: PJSIP/5\r\n\r\n");
    s += &format!(
        "Event: CoreShowChannel\r\nActionIDs: {b}\r\nActionID: {a}\r\nChannel: PJSIP/6\r\n\r\n"
    );
    s += &format!(
        "Event: CoreShowChannel\r\nno colon here\r\nActionID: {a}\r\nChannel: PJSIP/7\r\n\r\n"
    );
    s += &format!(
        "Event: CoreShowChannel\r\nActionID: {a}\r\nEventList: more\r\nChannel: PJSIP/8\r\n\r\n"
    );
    // An id followed by more than one `\r`, and by blanks (not the id).
    s += &format!("Event: CoreShowChannel\r\nActionID: {a}\r\r\nChannel: PJSIP/16\r\n\r\n");
    s += &format!("Event: CoreShowChannel\r\nActionID: {a} \r\nChannel: PJSIP/17\r\n\r\n");
    // A response in the middle of a list.
    s += &format!("Response: Success\r\nActionID: {p}\r\nPing: Pong\r\n\r\n");
    s += &item(a, 9);
    s += &item(a, 13);
    // `a` ends by a pre-13.2 `...Complete` name, with no `EventList`.
    s += &format!("Event: CoreShowChannelsCOMPLETE\r\nActionID: {a}\r\nListItems: 10\r\n\r\n");
    // After both ends: events of the lists' ids are plain events.
    s += &item(a, 14);
    s += &item(b, 15);
    s
}

/// A session given [`interleaved_lists`] in one read, and one given the same
/// bytes one at a time (so that no two frames are ever buffered together),
/// report the same: completions, events, statistics. So do sessions given
/// them in reads of a few sizes (a run of items cut short by the read's
/// end, its last frame unfinished), each compared with the one at once.
fn lists_read_at_once_and_byte_by_byte(config: Config, pad: usize) -> (String, String) {
    let run = |read: usize| {
        let mut s = Session::ready(config.clone());
        let a = s.send(Action::core_show_channels());
        let b = s.send(Action::core_show_channels());
        let p = s.send(Action::ping());
        let script = interleaved_lists(&a, &b, &p, pad);
        for piece in script.as_bytes().chunks(read) {
            s.input(piece);
        }
        // Decoded before the queue is drained (under back-pressure, a
        // full queue holds back list items too).
        let mut read_in = s.conn.stats();
        read_in.queue_high_water = 0;
        // Back-pressure: the queue is drained to the end.
        for _ in 0..1000 {
            let Some(event) = s.conn.poll_event() else {
                break;
            };
            s.outputs.push(Output::Event(event));
            s.drain();
        }
        let mut stats = s.conn.stats();
        // How full the queue got depends on when it was drained.
        stats.queue_high_water = 0;
        // Completions and events, each in order: how the two interleave
        // depends on when the queue was drained too.
        let (events, completions): (Vec<_>, Vec<_>) = s
            .outputs
            .iter()
            .partition(|o| matches!(o, Output::Event(_)));
        let report = format!("{read_in:?}\n{completions:?}\n{events:?}\n{stats:?}");
        let names = [(a, "<a>"), (b, "<b>"), (p, "<p>")];
        names
            .iter()
            .fold(report, |r, (id, name)| r.replace(&id.to_string(), name))
    };
    let together = run(usize::MAX);
    for read in [7, 64, 333] {
        assert_eq!(run(read), together, "reads of {read} bytes");
    }
    (together, run(1))
}

#[test]
fn list_items_read_together_are_routed_as_when_read_one_by_one() {
    let (together, one_by_one) = lists_read_at_once_and_byte_by_byte(Session::config(), 0);
    assert_eq!(together, one_by_one);
    // What the rules give: `a`'s items 1-9 and 13 (with 5-8 of the
    // variants), `b`'s 10 and 11, the ping answered, the rest queued.
    for want in [
        "PJSIP/1", "PJSIP/9", "PJSIP/13", "PJSIP/10", "PJSIP/12", "Pong",
    ] {
        assert!(together.contains(want), "{want}: {together}");
    }
    assert_eq!(together.matches("Completion").count(), 3, "{together}");
}

#[test]
fn list_items_over_the_bounds_read_together_fail_as_when_read_one_by_one() {
    let mut items = Session::config();
    items.max_list_items = 3;
    let (together, one_by_one) = lists_read_at_once_and_byte_by_byte(items, 0);
    assert_eq!(together, one_by_one);
    assert!(together.contains("FrameTooLarge"), "{together}");
    let mut bytes = Session::config();
    bytes.max_list_bytes = 64 << 10;
    let (together, one_by_one) = lists_read_at_once_and_byte_by_byte(bytes, 12_000);
    assert_eq!(together, one_by_one);
    assert!(together.contains("FrameTooLarge"), "{together}");
}

/// Back-pressure behind a queue of one event (full after one), frames up
/// to 64 KiB: how the list tests below hold decoding back.
fn full_after_one_event() -> Config {
    let mut config = Session::config();
    config.queue_policy = QueuePolicy::Backpressure;
    config.event_queue = 1;
    config.max_frame = 65_536;
    config
}

#[test]
fn list_items_read_together_behind_a_full_queue_are_routed_as_one_by_one() {
    let (together, one_by_one) = lists_read_at_once_and_byte_by_byte(full_after_one_event(), 0);
    assert_eq!(together, one_by_one);
}

/// Under back-pressure a full queue holds decoding back, list items too,
/// once no more than two frames' worth of bytes are buffered: a run of a
/// list's items read at once, behind a full queue, is taken only while
/// more than that is buffered, as frames decoded one by one are.
#[test]
fn list_items_behind_a_full_queue_are_taken_only_past_two_frames_of_bytes() {
    let mut s = Session::ready(full_after_one_event());
    let list = s.send(Action::core_show_channels());
    s.input(
        format!("Response: Success\r\nActionID: {list}\r\nEventList: start\r\n\r\n").as_bytes(),
    );
    let pad = "x".repeat(900);
    let item = |n: u32| {
        format!("Event: CoreShowChannel\r\nActionID: {list}\r\nChannel: PJSIP/{n:03}\r\nPad: {pad}\r\n\r\n")
    };
    let n = 200;
    let items: String = (0..n).map(item).collect();
    let len = item(0).len();
    assert_eq!(items.len(), len * n as usize, "items of one length");
    let before = s.conn.stats().events;
    // Not drained: the unrelated event fills the queue.
    s.conn
        .handle_input(format!("Event: Hangup\r\n\r\n{items}").as_bytes(), s.now);
    // Taken while more than two frames' worth (of the largest) was buffered.
    let taken = n as usize - 2 * 65_536 / len;
    assert!(taken > 0 && taken < n as usize);
    assert_eq!(s.conn.stats().events - before, 1 + taken as u64);
    // Drained, the rest are decoded.
    s.drain();
    s.input(
        format!(
            "Event: CoreShowChannelsComplete\r\nActionID: {list}\r\nEventList: Complete\r\n\r\n"
        )
        .as_bytes(),
    );
    let Ok(Completion::List(done)) = s.only(&list) else {
        panic!("{:?}", s.only(&list))
    };
    assert_eq!(done.items.len(), n as usize);
    for (i, item) in done.items.iter().enumerate() {
        assert_eq!(
            item.get_str("Channel").as_deref(),
            Some(&*format!("PJSIP/{i:03}"))
        );
    }
}

#[test]
fn a_read_that_blocks_is_stamped_when_its_bytes_came() {
    let mut config = Session::config();
    config.heartbeat_interval = Some(Duration::from_secs(15));
    let mut s = Session::ready(config);
    let came = s.now + Duration::from_secs(10);
    let order = std::cell::RefCell::new(Vec::new());
    let bytes = b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n";
    let n = s.conn.read_with_clock(
        1 << 16,
        || {
            order.borrow_mut().push("clock");
            came
        },
        |room| {
            order.borrow_mut().push("read");
            Ok::<_, ()>(room[..bytes.len()].write_copy_of_slice(bytes))
        },
    );
    assert_eq!(n, Ok(bytes.len()));
    assert_eq!(*order.borrow(), ["read", "clock"]);
    // The next idle ping is due an interval after the bytes came.
    assert_eq!(s.conn.poll_timeout(), Some(came + Duration::from_secs(15)));
    s.drain();
    assert_eq!(s.events(), ["FullyBooted"]);
    // Nothing read, or a failed read: the clock is not read.
    let nothing = s.conn.read_with_clock(
        1 << 16,
        || -> Instant { panic!("the clock is read only when bytes came") },
        |_| Ok::<&mut [u8], ()>(&mut []),
    );
    assert_eq!(nothing, Ok(0));
    let failed = s.conn.read_with_clock(
        1 << 16,
        || -> Instant { panic!("the clock is read only when bytes came") },
        |_| Err::<&mut [u8], _>(()),
    );
    assert_eq!(failed, Err(()));
    assert_eq!(s.conn.poll_timeout(), Some(came + Duration::from_secs(15)));
}

#[test]
fn writes_of_part_and_of_all_leave_exactly_the_bytes_not_written() {
    let mut s = Session::ready(Session::config());
    let bytes_out = s.conn.stats().bytes_out;
    let mut written = Vec::new();
    let mut wrote = |s: &mut Session, n: usize| {
        let pending = s.conn.poll_transmit().expect("bytes to write");
        let n = n.min(pending.len());
        written.extend_from_slice(&pending[..n]);
        s.conn.advance(n);
    };
    let first = s.conn.send(Action::ping(), s.now).expect("accepted");
    let want_first = format!("Action: Ping\r\nActionID: {first}\r\n\r\n");
    wrote(&mut s, 5);
    let second = s.conn.send(Action::ping(), s.now).expect("accepted");
    let want_second = format!("Action: Ping\r\nActionID: {second}\r\n\r\n");
    // All that is left of both, then nothing.
    wrote(&mut s, usize::MAX);
    assert_eq!(s.conn.poll_transmit(), None);
    // Encoded where the written bytes were: no trace of them.
    let third = s.conn.send(Action::ping(), s.now).expect("accepted");
    let want_third = format!("Action: Ping\r\nActionID: {third}\r\n\r\n");
    assert_eq!(s.conn.poll_transmit(), Some(want_third.as_bytes()));
    wrote(&mut s, want_third.len() - 1);
    wrote(&mut s, 1);
    assert_eq!(s.conn.poll_transmit(), None);
    let all = [want_first, want_second, want_third].concat();
    assert_eq!(String::from_utf8_lossy(&written), all);
    assert_eq!(s.conn.stats().bytes_out - bytes_out, all.len() as u64);
}

#[test]
fn the_last_name_sent_kept_changes_no_refusal() {
    let mut s = Session::ready(Session::config());
    let missing = SendError::MissingParameter {
        action: "Hangup",
        parameter: "Channel",
    };
    // Each name after another one, after itself, and in another case.
    for name in [
        "Ping", "Hangup", "Hangup", "Ping", "hangup", "HANGUP", "Ping",
    ] {
        let got = s.conn.send(Action::new(name), s.now).map(|_| ());
        match name.eq_ignore_ascii_case("Hangup") {
            true => assert_eq!(got, Err(missing.clone()), "{name}"),
            false => assert_eq!(got, Ok(()), "{name}"),
        }
        let with_channel = Action::new(name).header("Channel", "PJSIP/100-00000001");
        assert!(s.conn.send(with_channel, s.now).is_ok(), "{name}");
    }
}
