//! Replays the byte-exact Asterisk 22 transcripts through the decoder and a
//! `Connection`.
//!
//! Each `.raw` file is decoded whole, byte by byte and in seeded random
//! chunks; the three must give the same frames, and the counts must match
//! `INDEX.json`. Then a `Connection` is driven through the login, list,
//! Command and originate sessions, with the transcript's ActionIDs rewritten
//! to the ones the connection generated.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ami_proto::{
    Action, ActionError, ActionId, AuthMethod, Completion, Config, ConnState, Connection, Decoder,
    Frame, Output, SendError,
};
use ami_tests::corpus_dir;
use serde_json::Value;

fn index() -> Vec<Value> {
    let text = std::fs::read_to_string(corpus_dir().join("INDEX.json")).expect("INDEX.json");
    serde_json::from_str::<Value>(&text)
        .expect("valid JSON")
        .as_array()
        .expect("an array")
        .clone()
}

fn read(name: &str, ext: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(format!("{name}.{ext}"))).expect("transcript file")
}

/// A frame rendered as comparable text (kind, headers, Follows body).
fn render(frame: &Frame) -> String {
    let (kind, message) = match frame {
        Frame::Banner(b) => return format!("banner {}", String::from_utf8_lossy(b)),
        Frame::Response(r) => ("response", &**r),
        Frame::Event(e) => ("event", &**e),
        Frame::Other(m) => ("other", m),
    };
    let mut out = kind.to_owned();
    for (n, v) in message.headers().iter() {
        out += &format!(
            "|{}={}",
            String::from_utf8_lossy(n),
            String::from_utf8_lossy(v)
        );
    }
    out
}

/// Decodes `raw` fed in pieces of the sizes `next_len` gives, every other
/// one (the first included) handed over as `Bytes`, which the decoder takes
/// over when nothing is buffered.
fn decode(raw: &[u8], mut next_len: impl FnMut() -> usize) -> Vec<String> {
    let mut decoder = Decoder::new(4 << 20);
    let mut out = Vec::new();
    let mut rest = raw;
    let mut as_bytes = true;
    while !rest.is_empty() {
        let n = next_len().clamp(1, rest.len());
        if as_bytes {
            decoder.push_bytes(rest[..n].to_vec().into());
        } else {
            decoder.push(&rest[..n]);
        }
        as_bytes = !as_bytes;
        rest = &rest[n..];
        while let Some(item) = decoder.next_frame() {
            out.push(render(&item.expect("the corpus has no decoding errors")));
        }
    }
    assert_eq!(decoder.buffered(), 0, "bytes left over");
    out
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[test]
fn every_transcript_decodes_the_same_in_any_chunking_and_matches_the_index() {
    let entries = index();
    assert!(entries.len() >= 25, "corpus incomplete: {}", entries.len());
    for entry in entries {
        let name = entry["file"].as_str().expect("file");
        let raw = read(name, "raw");
        assert_eq!(
            raw.len() as u64,
            entry["bytes"].as_u64().expect("bytes"),
            "{name}"
        );

        let whole = decode(&raw, || usize::MAX);
        assert_eq!(decode(&raw, || 1), whole, "{name}: byte by byte");
        for seed in 0..5 {
            let mut rng = Rng(seed);
            let random = decode(&raw, || (rng.next() % 700) as usize + 1);
            assert_eq!(random, whole, "{name}: random chunks, seed {seed}");
        }

        let frames: Vec<_> = whole.iter().filter(|f| !f.starts_with("banner")).collect();
        let events = frames.iter().filter(|f| f.starts_with("event")).count();
        let mut responses: HashMap<String, u64> = HashMap::new();
        for f in frames.iter().filter(|f| f.starts_with("response")) {
            let status = f.split('|').nth(1).expect("a Response header");
            let status = status.strip_prefix("Response=").expect("Response first");
            *responses.entry(status.to_owned()).or_default() += 1;
        }
        assert_eq!(
            frames.len() as u64,
            entry["frames"].as_u64().expect("frames"),
            "{name}"
        );
        assert_eq!(
            events as u64,
            entry["events"].as_u64().expect("events"),
            "{name}"
        );
        let want: HashMap<String, u64> = entry["responses"]
            .as_object()
            .expect("responses")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
            .collect();
        assert_eq!(responses, want, "{name}");
    }
}

/// A transcript replayed against a real `Connection`.
struct Replay {
    conn: Connection,
    now: Instant,
    /// Transcript ActionID → the id the connection generated.
    ids: HashMap<String, String>,
    /// Transcript ActionIDs of the client's actions, in send order.
    script: Vec<String>,
    sent: usize,
    outputs: Vec<Output>,
}

impl Replay {
    fn new(name: &str, auth: AuthMethod) -> Replay {
        let mut config = Config::new("corpus", "admin", "amp111");
        config.auth = auth;
        config.heartbeat_interval = None;
        let now = Instant::now();
        let mut decoder = Decoder::without_banner(1 << 20);
        decoder.push(&read(name, "sent"));
        let mut script = Vec::new();
        while let Some(Ok(frame)) = decoder.next_frame() {
            if let Frame::Other(m) = frame {
                script.push(String::from_utf8_lossy(m.action_id().unwrap_or(b"")).into_owned());
            }
        }
        Replay {
            conn: Connection::new(config, now).expect("config"),
            now,
            ids: HashMap::new(),
            script,
            sent: 0,
            outputs: Vec::new(),
        }
    }

    /// Pairs what the connection wrote with the transcript's next actions.
    fn collect_sent(&mut self) -> Vec<u8> {
        let Some(bytes) = self.conn.poll_transmit() else {
            return Vec::new();
        };
        let bytes = bytes.to_vec();
        self.conn.advance(bytes.len());
        for line in String::from_utf8_lossy(&bytes).lines() {
            if let Some(ours) = line.strip_prefix("ActionID: ") {
                let theirs = self.script[self.sent].clone();
                self.ids.insert(theirs, ours.to_owned());
                self.sent += 1;
            }
        }
        bytes
    }

    /// Feeds the server's bytes frame by frame, with ids rewritten, in random
    /// chunks; `before_frame` may send actions once the connection is ready.
    fn run(&mut self, name: &str, mut before_frame: impl FnMut(&mut Replay)) {
        let raw = read(name, "raw");
        let text = String::from_utf8(raw).expect("the corpus is ASCII");
        let mut rng = Rng(42);
        let mut pieces: Vec<&str> = text.split_inclusive("\r\n\r\n").collect();
        let banner_end = pieces[0].find("\r\n").expect("banner line") + 2;
        let first = pieces[0];
        pieces[0] = &first[banner_end..];
        self.feed(&first[..banner_end], &mut rng);
        for piece in pieces {
            self.collect_sent();
            before_frame(self);
            self.collect_sent();
            let rewritten = self.rewrite(piece);
            self.feed(&rewritten, &mut rng);
        }
        self.collect_sent();
    }

    fn rewrite(&self, frame: &str) -> String {
        let mut out = String::new();
        for line in frame.split_inclusive("\r\n") {
            match line
                .strip_prefix("ActionID: ")
                .and_then(|v| self.ids.get(v.trim_end()))
            {
                Some(ours) => out += &format!("ActionID: {ours}\r\n"),
                None => out += line,
            }
        }
        out
    }

    fn feed(&mut self, bytes: &str, rng: &mut Rng) {
        let mut rest = bytes.as_bytes();
        while !rest.is_empty() {
            let n = ((rng.next() % 97) as usize + 1).min(rest.len());
            self.conn.handle_input(&rest[..n], self.now);
            rest = &rest[n..];
            while let Some(out) = self.conn.poll_output() {
                self.outputs.push(out);
            }
        }
    }

    fn send(&mut self, action: Action) -> ActionId {
        self.conn.send(action, self.now).expect("send accepted")
    }

    fn completion(&self, id: &ActionId) -> &Result<Completion, ActionError> {
        let mut found = self.outputs.iter().filter_map(|o| match o {
            Output::Completion { id: got, result } if got == id => Some(result),
            _ => None,
        });
        let result = found.next().expect("a completion");
        assert!(found.next().is_none(), "completed twice");
        result
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
}

#[test]
fn plain_login_then_events() {
    let mut r = Replay::new("01-login-success", AuthMethod::Plain);
    r.run("01-login-success", |_| {});
    assert!(r.conn.is_ready());
    assert!(r
        .outputs
        .iter()
        .any(|o| matches!(o, Output::State(ConnState::Ready))));
    assert_eq!(r.events(), vec!["FullyBooted", "SuccessfulAuth"]);
}

#[test]
fn md5_challenge_login_sends_the_captured_key() {
    let mut r = Replay::new("03-challenge-md5-login", AuthMethod::Md5);
    let mut ping = None;
    r.run("03-challenge-md5-login", |r| {
        if r.conn.is_ready() && ping.is_none() {
            ping = Some(r.send(Action::ping()));
        }
    });
    assert!(r.conn.is_ready(), "{:?}", r.conn.state());
    let ping = ping.expect("ping sent");
    let Ok(Completion::Response(pong)) = r.completion(&ping) else {
        panic!("ping failed: {:?}", r.completion(&ping))
    };
    assert_eq!(pong.get("Ping"), Some(&b"Pong"[..]));
}

#[test]
fn md5_key_on_the_wire_equals_the_capture() {
    // Replays only up to the Challenge answer and inspects the Login bytes.
    let mut config = Config::new("corpus", "admin", "amp111");
    config.auth = AuthMethod::Md5;
    let now = Instant::now();
    let mut conn = Connection::new(config, now).expect("config");
    conn.handle_input(b"Asterisk Call Manager/11.0.0\r\n", now);
    let challenge = String::from_utf8_lossy(conn.poll_transmit().expect("challenge")).into_owned();
    conn.advance(challenge.len());
    let id = challenge
        .lines()
        .find_map(|l| l.strip_prefix("ActionID: "))
        .expect("id");
    let reply = format!("Response: Success\r\nActionID: {id}\r\nChallenge: 682751052\r\n\r\n");
    conn.handle_input(reply.as_bytes(), now);
    let login = String::from_utf8_lossy(conn.poll_transmit().expect("login")).into_owned();
    assert!(login.contains("AuthType: MD5\r\n"), "{login}");
    assert!(
        login.contains("Key: 640e67a291df210d40aa507ef6587ec0\r\n"),
        "{login}"
    );
    assert!(
        !login.contains("amp111"),
        "the secret never crosses the wire"
    );
}

#[test]
fn event_list_collects_twenty_channels() {
    let mut r = Replay::new("10-coreshowchannels-20", AuthMethod::Plain);
    let mut list = None;
    r.run("10-coreshowchannels-20", |r| {
        if r.conn.is_ready() && list.is_none() {
            list = Some(r.send(Action::core_show_channels()));
        }
    });
    let list = list.expect("sent");
    let Ok(Completion::List(list)) = r.completion(&list) else {
        panic!("{:?}", r.completion(&list))
    };
    let (items, complete) = (&list.items, &list.complete);
    assert_eq!(items.len(), 20);
    assert!(items.iter().all(|e| e.is("CoreShowChannel")));
    let complete = complete.as_ref().expect("complete event");
    assert_eq!(complete.get("ListItems"), Some(&b"20"[..]));
    // List items are consumed by the action, not repeated as events.
    assert!(!r.events().iter().any(|e| e.starts_with("CoreShowChannel")));
}

#[test]
fn command_output_and_command_errors() {
    let mut r = Replay::new("07-command", AuthMethod::Plain);
    let mut ids = Vec::new();
    r.run("07-command", |r| {
        if r.conn.is_ready() && ids.is_empty() {
            for cmd in [
                Some("core show help"),
                Some("core show channels"),
                Some("dialplan show"),
                Some("core show nonsense-command"),
                Some("core show version"),
                None,
            ] {
                let action = match cmd {
                    Some(c) => Action::command(c),
                    None => {
                        // Without its `Command` header it is refused before
                        // sending; the transcript's server refused it too,
                        // as it does an empty one (sent instead).
                        let refused = r.conn.send(Action::new("Command"), r.now);
                        assert_eq!(
                            refused,
                            Err(SendError::MissingParameter {
                                action: "Command",
                                parameter: "Command"
                            })
                        );
                        Action::command("")
                    }
                };
                ids.push(r.send(action));
            }
        }
    });
    let raw = String::from_utf8(read("07-command", "raw")).expect("ASCII");
    let help_lines = raw
        .split("\r\n\r\n")
        .find(|f| f.contains("ActionID: cmd-help"))
        .expect("help frame")
        .lines()
        .filter(|l| l.starts_with("Output:"))
        .count();
    let Ok(Completion::Command(output)) = r.completion(&ids[0]) else {
        panic!("{:?}", r.completion(&ids[0]))
    };
    let lines = &output.lines;
    assert_eq!(lines.len(), help_lines);
    assert!(help_lines > 100);
    assert!(lines.iter().any(|l| l.starts_with(b"core show help")));
    let Err(ActionError::Server { message }) = r.completion(&ids[3]) else {
        panic!("{:?}", r.completion(&ids[3]))
    };
    assert!(message.contains("No such command"), "{message}");
    assert!(matches!(
        r.completion(&ids[5]),
        Err(ActionError::Server { .. })
    ));
    let Ok(Completion::Command(output)) = r.completion(&ids[4]) else {
        panic!("{:?}", r.completion(&ids[4]))
    };
    let lines = &output.lines;
    assert!(lines[0].starts_with(b"Asterisk 22"), "{:?}", lines[0]);
}

#[test]
fn async_originate_completes_with_originate_response() {
    let mut r = Replay::new("09-originate-async", AuthMethod::Plain);
    let mut id = None;
    r.run("09-originate-async", |r| {
        if r.conn.is_ready() && id.is_none() {
            let o = ami_proto::Originate::new("Local/100@test")
                .application("Wait", "10")
                .caller_id("\"AMI Test\" <5551234>")
                .timeout_ms(15000)
                .variable("ORIGVAR", "hello")
                .async_(true);
            id = Some(r.send(Action::originate(o)));
        }
    });
    let id = id.expect("sent");
    let Ok(Completion::Originate(outcome)) = r.completion(&id) else {
        panic!("{:?}", r.completion(&id))
    };
    assert!(outcome.is_success());
    assert_eq!(outcome.reason(), Some(4));
    let events = r.events();
    assert!(events.iter().any(|e| e == "Newchannel"));
    assert!(!events.iter().any(|e| e == "OriginateResponse"));
}

#[test]
fn async_originate_without_outcome_times_out_never_succeeds() {
    let mut r = Replay::new("09-originate-async", AuthMethod::Plain);
    let mut id = None;
    // Only the login and the acknowledgement arrive; the OriginateResponse never does.
    let raw = String::from_utf8(read("09-originate-async", "raw")).expect("ASCII");
    let cut = raw.find("Event: Newchannel").expect("call events");
    let mut rng = Rng(7);
    let pieces: Vec<String> = raw[..cut]
        .split_inclusive("\r\n\r\n")
        .map(str::to_owned)
        .collect();
    let banner_end = pieces[0].find("\r\n").expect("banner") + 2;
    r.feed(&pieces[0][..banner_end], &mut rng);
    for (i, piece) in pieces.iter().enumerate() {
        r.collect_sent();
        if r.conn.is_ready() && id.is_none() {
            let o = ami_proto::Originate::new("Local/100@test")
                .application("Wait", "10")
                .timeout_ms(15000)
                .async_(true);
            id = Some(r.send(Action::originate(o)));
            r.collect_sent();
        }
        let piece = if i == 0 {
            &piece[banner_end..]
        } else {
            piece.as_str()
        };
        let rewritten = r.rewrite(piece);
        r.feed(&rewritten, &mut rng);
    }
    let id = id.expect("sent");
    assert!(!r
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Completion { .. })));
    // The deadline is the dial timeout plus slack (20 s), not the 10 s default.
    r.conn.handle_timeout(r.now + Duration::from_secs(19));
    assert!(r.conn.poll_output().is_none());
    r.conn.handle_timeout(r.now + Duration::from_secs(21));
    while let Some(out) = r.conn.poll_output() {
        r.outputs.push(out);
    }
    assert!(
        matches!(r.completion(&id), Err(ActionError::Timeout(t)) if *t == Duration::from_secs(20))
    );
}
