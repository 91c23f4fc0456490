//! `ServerSession`: the fake server's sans-IO state machine for one client.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ami_proto::{Decoder, Frame, Message};
use bytes::Bytes;

use crate::rng::{event_tv, SplitMix64};
use crate::script::{ChallengeNonce, OriginateOutcome, ServerConfig};

/// Builds one frame: `Key: Value\r\n` lines, then the blank line.
struct W(Vec<u8>);

impl W {
    fn response(status: &str, action_id: Option<&[u8]>) -> W {
        W(Vec::with_capacity(128))
            .h("Response", status)
            .aid(action_id)
    }

    fn event(name: &str) -> W {
        W(Vec::with_capacity(256)).h("Event", name)
    }

    fn h(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> W {
        self.0.extend_from_slice(name.as_ref());
        self.0.extend_from_slice(b": ");
        self.0.extend_from_slice(value.as_ref());
        self.0.extend_from_slice(b"\r\n");
        self
    }

    fn aid(self, action_id: Option<&[u8]>) -> W {
        match action_id {
            Some(id) => self.h("ActionID", id),
            None => self,
        }
    }

    fn done(mut self) -> Bytes {
        self.0.extend_from_slice(b"\r\n");
        Bytes::from(self.0)
    }
}

/// A timer of the session; all of them sit in one table.
#[derive(Debug)]
enum Timer {
    /// Send `Authentication failed`, then close.
    AuthFailure { action_id: Option<Vec<u8>> },
    /// The outcome of an Originate.
    Originate(Box<PendingOriginate>),
}

#[derive(Debug)]
struct PendingOriginate {
    action_id: Option<Vec<u8>>,
    /// Whether the request was `Async: true` (else the session is blocked).
    is_async: bool,
    channel: String,
    context: Option<String>,
    exten: Option<String>,
    application: Option<String>,
    data: Option<String>,
    caller_num: String,
    caller_name: String,
}

/// The fake server's state machine for ONE client connection: bytes in,
/// bytes out, time passed in as `now`. It never reads a clock, sleeps or
/// touches a socket; [`crate::TcpServer`] and [`crate::MemoryLink`] drive it.
///
/// Contract: send [`ServerSession::greeting`] first. After every
/// [`handle_input`](ServerSession::handle_input),
/// [`handle_timeout`](ServerSession::handle_timeout) or injection, drain
/// [`poll_transmit`](ServerSession::poll_transmit) (each chunk is one whole
/// frame or one injected blob) and [`poll_broadcast`](ServerSession::poll_broadcast);
/// wake at [`poll_timeout`](ServerSession::poll_timeout). Once
/// [`is_closing`](ServerSession::is_closing) is true and the transmit queue is
/// drained, close the transport.
///
/// Client frames are decoded with `ami_proto::Decoder::without_banner`; the
/// `ActionID` is echoed byte for byte (leading spaces stripped, as Asterisk
/// does) and omitted when the request had none. Request header values are
/// read first-wins. Stray blank lines from the client are skipped by the
/// decoder, so the server does not answer them with `Missing action in request`.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use ami_testkit::{ServerConfig, ServerSession};
///
/// let now = Instant::now();
/// let mut session = ServerSession::new(ServerConfig::default(), now);
/// assert_eq!(&session.greeting()[..], b"Asterisk Call Manager/11.0.0\r\n");
/// session.handle_input(b"Action: Ping\r\nActionID: p1\r\n\r\n", now);
/// let reply = session.poll_transmit().unwrap();
/// assert_eq!(&reply[..], b"Response: Error\r\nActionID: p1\r\nMessage: Permission denied\r\n\r\n");
/// ```
#[derive(Debug)]
pub struct ServerSession {
    config: Arc<ServerConfig>,
    decoder: Decoder,
    out: VecDeque<Bytes>,
    broadcast: VecDeque<Bytes>,
    started: Instant,
    user: Option<String>,
    events_on: bool,
    events_allowed: bool,
    challenge: Option<String>,
    challenges: u64,
    closing: bool,
    /// While set, decoded input waits (auth failure delay, sync Originate).
    blocked: bool,
    timers: Vec<(Instant, Timer)>,
    vars: BTreeMap<(String, String), String>,
    db: BTreeMap<(String, String), String>,
    channels: BTreeSet<String>,
    received: Vec<String>,
    decode_errors: u64,
    originated: u64,
    uid_seq: u64,
}

/// A header value with the leading spaces Asterisk strips removed.
fn val<'a>(m: &'a Message, name: &str) -> Option<&'a [u8]> {
    m.get(name).map(|v| {
        let skip = v.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        &v[skip..]
    })
}

fn val_str(m: &Message, name: &str) -> Option<String> {
    val(m, name).map(|v| String::from_utf8_lossy(v).into_owned())
}

fn is_true(v: Option<&[u8]>) -> bool {
    v.is_some_and(|v| {
        ["true", "yes", "1", "on", "y", "t"]
            .iter()
            .any(|t| v.eq_ignore_ascii_case(t.as_bytes()))
    })
}

impl ServerSession {
    /// A fresh session (not logged in) whose clock starts at `now`.
    pub fn new(config: impl Into<Arc<ServerConfig>>, now: Instant) -> Self {
        let config = config.into();
        let mut channels = BTreeSet::new();
        for i in 0..config.channels {
            channels.insert(ServerConfig::channel_name(i));
        }
        ServerSession {
            decoder: Decoder::without_banner(config.max_frame),
            config,
            out: VecDeque::new(),
            broadcast: VecDeque::new(),
            started: now,
            user: None,
            events_on: true,
            events_allowed: false,
            challenge: None,
            challenges: 0,
            closing: false,
            blocked: false,
            timers: Vec::new(),
            vars: BTreeMap::new(),
            db: BTreeMap::new(),
            channels,
            received: Vec::new(),
            decode_errors: 0,
            originated: 0,
            uid_seq: 0,
        }
    }

    /// The banner line the transport must send first (`...\r\n`, no blank line).
    pub fn greeting(&self) -> Bytes {
        let mut b = self.config.banner.clone().into_bytes();
        b.extend_from_slice(b"\r\n");
        Bytes::from(b)
    }

    /// The configuration this session runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Whether a login succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// Whether events are delivered to this client now: logged in, the user
    /// may read events, and they were not turned off (`Events: off` at login,
    /// or the `Events` action).
    pub fn wants_events(&self) -> bool {
        self.user.is_some() && self.events_allowed && self.events_on
    }

    /// Whether the transport should close once the transmit queue is drained
    /// (after `Goodbye` or `Authentication failed`).
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Names of the actions received so far, as the client spelled them
    /// (`""` for a frame without `Action`).
    pub fn received_actions(&self) -> &[String] {
        &self.received
    }

    /// How many client frames the decoder rejected (garbage or over `max_frame`).
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Feeds bytes from the client. Ignored once closing; while the session
    /// is blocked (auth failure delay, synchronous Originate) they wait.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.closing {
            return;
        }
        self.decoder.push(bytes);
        self.process(now);
    }

    /// The next chunk to send: one whole frame or one injected blob.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }

    /// The next event for the OTHER sessions of the same server (UserEvent,
    /// Originate call events and `OriginateResponse`: Asterisk broadcasts
    /// them). A transport with several sessions hands these to their
    /// [`deliver_event`](ServerSession::deliver_event).
    pub fn poll_broadcast(&mut self) -> Option<Bytes> {
        self.broadcast.pop_front()
    }

    /// The earliest pending deadline (delayed auth failure, Originate outcome).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().map(|(at, _)| *at).min()
    }

    /// Fires every timer due at `now` (early calls do nothing), then resumes
    /// any input that waited while the session was blocked.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            let due = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, (at, _))| *at <= now)
                .min_by_key(|(_, (at, _))| *at)
                .map(|(i, _)| i);
            let Some(i) = due else { break };
            let (_, timer) = self.timers.remove(i);
            self.fire(timer, now);
        }
        self.process(now);
    }

    /// Queues raw bytes for the client as they are (events, garbage, half
    /// frames), whether or not it is logged in.
    pub fn inject(&mut self, bytes: impl Into<Bytes>) {
        self.out.push_back(bytes.into());
    }

    /// Queues an event frame if this client receives events now (see
    /// [`wants_events`](ServerSession::wants_events)); otherwise drops it,
    /// as Asterisk does.
    pub fn deliver_event(&mut self, bytes: impl Into<Bytes>) {
        if self.wants_events() {
            self.out.push_back(bytes.into());
        }
    }

    /// Queues `Response: Error` / `Message: Permission denied` with NO
    /// ActionID (a chaos case: real servers echo it, but a client must cope).
    pub fn inject_permission_denied_without_actionid(&mut self) {
        self.inject(
            W::response("Error", None)
                .h("Message", "Permission denied")
                .done(),
        );
    }

    fn now_epoch(&self, now: Instant) -> f64 {
        self.config.epoch + now.saturating_duration_since(self.started).as_secs_f64()
    }

    fn respond(&mut self, w: W) {
        self.out.push_back(w.done());
    }

    fn event(&mut self, w: W) {
        let b = w.done();
        self.deliver_event(b);
    }

    /// An event for this session and every other one.
    fn broadcast_event(&mut self, w: W) {
        let b = w.done();
        self.broadcast.push_back(b.clone());
        self.deliver_event(b);
    }

    fn process(&mut self, now: Instant) {
        while !self.blocked && !self.closing {
            match self.decoder.next_frame() {
                None => break,
                Some(Err(_)) => self.decode_errors += 1,
                Some(Ok(Frame::Banner(_))) => self.decode_errors += 1,
                Some(Ok(Frame::Other(m))) => self.dispatch(&m, now),
                Some(Ok(Frame::Response(r))) => self.dispatch(&r.into_message(), now),
                Some(Ok(Frame::Event(e))) => self.dispatch(&e.into_message(), now),
            }
        }
    }

    fn security_event(&mut self, name: &str, severity: &str, now: Instant) -> W {
        let tv = event_tv(self.now_epoch(now));
        W::event(name)
            .h("Privilege", "security,all")
            .h("EventTV", &tv)
            .h("Severity", severity)
            .h("Service", "AMI")
            .h("EventVersion", "1")
    }

    fn bad_format(&mut self, action: &[u8], now: Instant) {
        let tv = event_tv(self.now_epoch(now));
        let mut request_type = b"Action: ".to_vec();
        request_type.extend_from_slice(if action.is_empty() { b"NONE" } else { action });
        let user = self.user.clone().unwrap_or_default();
        let w = self
            .security_event("RequestBadFormat", "Error", now)
            .h("SessionID", "0x7f3c30004500")
            .h("LocalAddress", "IPV4/TCP/127.0.0.1/5038")
            .h("RemoteAddress", "IPV4/TCP/127.0.0.1/39396")
            .h("RequestType", request_type)
            .h("SessionTV", &tv)
            .h("AccountID", user);
        self.event(w);
    }

    fn dispatch(&mut self, m: &Message, now: Instant) {
        let aid: Option<Vec<u8>> = val(m, "ActionID").map(<[u8]>::to_vec);
        let aid = aid.as_deref();
        let action = val(m, "Action").map(<[u8]>::to_vec);
        self.received.push(
            action
                .as_deref()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .unwrap_or_default(),
        );
        // Asterisk's own request limits: 128 lines, 1,024 bytes a line.
        if m.headers().len() > 128 {
            let w = W::response("Error", aid)
                .h("Message", "Too many lines in message or allocation failure");
            return self.respond(w);
        }
        if m.headers()
            .iter()
            .any(|(n, v)| n.len() + v.len() + 4 > 1024)
        {
            let w =
                W::response("Error", aid).h("Message", "Failed to parse message: line too long");
            return self.respond(w);
        }
        let Some(action) = action else {
            self.respond(W::response("Error", aid).h("Message", "Missing action in request"));
            return self.bad_format(b"", now);
        };
        let lower = String::from_utf8_lossy(&action).to_ascii_lowercase();
        if self.user.is_none() && !matches!(lower.as_str(), "login" | "challenge" | "logoff") {
            return self.respond(W::response("Error", aid).h("Message", "Permission denied"));
        }
        match lower.as_str() {
            "login" => self.login(m, aid, now),
            "challenge" => self.challenge(m, aid),
            "logoff" => {
                self.respond(W::response("Goodbye", aid).h("Message", "Thanks for all the fish."));
                self.closing = true;
            }
            "ping" => {
                let ts = format!("{:.6}", self.now_epoch(now));
                self.respond(
                    W::response("Success", aid)
                        .h("Ping", "Pong")
                        .h("Timestamp", ts),
                );
            }
            "events" => self.events(m, aid),
            "command" => self.command(m, aid),
            "coreshowchannels" => self.core_show_channels(aid),
            "status" => self.status(m, aid),
            "queuestatus" => {
                self.empty_list(aid, "Queue status will follow", "QueueStatusComplete")
            }
            "queuesummary" => {
                self.empty_list(aid, "Queue summary will follow", "QueueSummaryComplete")
            }
            "corestatus" => {
                let calls = self.originated.to_string();
                self.respond(
                    W::response("Success", aid)
                        .h("CoreStartupDate", "2026-11-26")
                        .h("CoreStartupTime", "21:16:09")
                        .h("CoreReloadDate", "2026-11-26")
                        .h("CoreReloadTime", "21:16:09")
                        .h(
                            "CoreCurrentCalls",
                            self.config.channels.div_ceil(2).to_string(),
                        )
                        .h("CoreProcessedCalls", calls),
                );
            }
            "originate" => self.originate(m, aid, now),
            "hangup" => self.hangup(m, aid),
            "redirect" => self.redirect(m, aid),
            "getvar" => self.getvar(m, aid),
            "setvar" => self.setvar(m, aid),
            "dbput" => self.dbput(m, aid),
            "dbget" => self.dbget(m, aid),
            "userevent" => self.user_event(m, aid),
            _ => {
                let mut msg = b"Invalid/unknown command: ".to_vec();
                msg.extend_from_slice(&action);
                msg.extend_from_slice(b". Use Action: ListCommands to show available commands.");
                self.respond(W::response("Error", aid).h("Message", msg));
                self.bad_format(&action, now);
            }
        }
    }

    fn login(&mut self, m: &Message, aid: Option<&[u8]>, now: Instant) {
        if self.user.is_some() {
            return self.respond(W::response("Success", aid).h("Message", "Already authenticated"));
        }
        let name = val_str(m, "Username").unwrap_or_default();
        let md5 = val(m, "AuthType").is_some_and(|t| t.eq_ignore_ascii_case(b"md5"));
        let ok = match self.config.users.get(&name) {
            Some(user) if md5 => match (&self.challenge, val(m, "Key")) {
                (Some(nonce), Some(key)) => {
                    let digest = format!("{:x}", md5::compute(format!("{nonce}{}", user.secret)));
                    key.eq_ignore_ascii_case(digest.as_bytes())
                }
                _ => false,
            },
            Some(user) => val(m, "Secret") == Some(user.secret.as_bytes()),
            None => self.config.accept_any_login && !md5,
        };
        if !ok {
            let action_id = aid.map(<[u8]>::to_vec);
            if self.config.auth_failure_delay.is_zero() {
                self.fire(Timer::AuthFailure { action_id }, now);
            } else {
                self.blocked = true;
                let at = now + self.config.auth_failure_delay;
                self.timers.push((at, Timer::AuthFailure { action_id }));
            }
            return;
        }
        self.events_allowed = self
            .config
            .users
            .get(&name)
            .map_or(true, |u| u.events_allowed);
        self.events_on = !val(m, "Events").is_some_and(|v| v.eq_ignore_ascii_case(b"off"));
        self.user = Some(name.clone());
        self.respond(W::response("Success", aid).h("Message", "Authentication accepted"));
        let uptime = (self.config.uptime + now.saturating_duration_since(self.started).as_secs())
            .to_string();
        self.event(
            W::event("FullyBooted")
                .h("Privilege", "system,all")
                .h("Uptime", &uptime)
                .h("LastReload", &uptime)
                .h("Status", "Fully Booted"),
        );
        let tv = event_tv(self.now_epoch(now));
        let w = self
            .security_event("SuccessfulAuth", "Informational", now)
            .h("AccountID", &name)
            .h("SessionID", "0x7f3c180011a0")
            .h("LocalAddress", "IPV4/TCP/127.0.0.1/5038")
            .h("RemoteAddress", "IPV4/TCP/127.0.0.1/40560")
            .h("UsingPassword", "0")
            .h("SessionTV", &tv);
        self.event(w);
    }

    fn challenge(&mut self, m: &Message, aid: Option<&[u8]>) {
        if !val(m, "AuthType").is_some_and(|t| t.eq_ignore_ascii_case(b"md5")) {
            return self.respond(W::response("Error", aid).h("Message", "Must specify AuthType"));
        }
        let nonce = match &self.config.md5_challenge {
            ChallengeNonce::Fixed(n) => n.clone(),
            ChallengeNonce::Seeded(seed) => {
                let mut r = SplitMix64::new(seed ^ self.challenges.wrapping_mul(0x2545_F491));
                (r.next_u64() % 1_000_000_000).to_string()
            }
        };
        self.challenges += 1;
        self.challenge = Some(nonce.clone());
        self.respond(W::response("Success", aid).h("Challenge", nonce));
    }

    fn events(&mut self, m: &Message, aid: Option<&[u8]>) {
        let Some(mask) = val(m, "EventMask") else {
            return self.respond(W::response("Error", aid).h("Message", "Invalid event mask"));
        };
        self.events_on = !mask.eq_ignore_ascii_case(b"off");
        let word = if self.events_on { "On" } else { "Off" };
        self.respond(W::response("Success", aid).h("Events", word));
    }

    fn command_lines(&self, cmd: &str) -> Option<Vec<String>> {
        if let Some(lines) = self.config.command_outputs.get(cmd) {
            return Some(lines.clone());
        }
        match cmd {
            "core show channels" => {
                let mut lines = vec![format!(
                    "{:<64} {:<32} {:<7} {:<30}",
                    "Channel", "Location", "State", "Application(Data)"
                )];
                for name in &self.channels {
                    lines.push(format!(
                        "{name:<64} {:<32} {:<7} {:<30}",
                        "long@test:1", "Up", "Wait(60)"
                    ));
                }
                let n = self.channels.len();
                lines.push(format!(
                    "{n} active channel{}",
                    if n == 1 { "" } else { "s" }
                ));
                let calls = n.div_ceil(2);
                lines.push(format!(
                    "{calls} active call{}",
                    if calls == 1 { "" } else { "s" }
                ));
                lines.push(format!("{} calls processed", self.originated));
                Some(lines)
            }
            "core show version" => Some(vec![
                "Asterisk 22.10.1 built by ami-testkit @ localhost on a x86_64 running Linux"
                    .to_string(),
            ]),
            _ => None,
        }
    }

    fn command(&mut self, m: &Message, aid: Option<&[u8]>) {
        let Some(cmd) = val_str(m, "Command").filter(|c| !c.trim().is_empty()) else {
            return self.respond(W::response("Error", aid).h("Message", "No command provided"));
        };
        let cmd = cmd.trim().to_string();
        let found = self.command_lines(&cmd);
        let known = found.is_some();
        let lines = found.unwrap_or_else(|| {
            vec![format!(
                "No such command '{cmd}' (type 'core show help {cmd}' for other possible commands)"
            )]
        });
        if self.config.legacy_command {
            let mut w = W(Vec::new())
                .h("Response", "Follows")
                .h("Privilege", "Command")
                .aid(aid);
            for line in &lines {
                w.0.extend_from_slice(line.as_bytes());
                w.0.push(b'\n');
            }
            w.0.extend_from_slice(b"--END COMMAND--\r\n\r\n");
            self.out.push_back(Bytes::from(w.0));
            return;
        }
        let mut w = W::response(if known { "Success" } else { "Error" }, aid)
            .h("Message", "Command output follows");
        for line in &lines {
            w = w.h("Output", line);
        }
        self.respond(w);
    }

    fn list_start(&mut self, aid: Option<&[u8]>, message: &str) {
        self.respond(
            W::response("Success", aid)
                .h("EventList", "start")
                .h("Message", message),
        );
    }

    fn list_complete(&mut self, aid: Option<&[u8]>, name: &str, items: usize, legacy: bool) {
        let mut w = W::event(name)
            .aid(aid)
            .h("EventList", "Complete")
            .h("ListItems", items.to_string());
        if legacy {
            w = w.h("Items", items.to_string());
        }
        self.respond(w);
    }

    fn empty_list(&mut self, aid: Option<&[u8]>, message: &str, complete: &str) {
        self.list_start(aid, message);
        self.list_complete(aid, complete, 0, false);
    }

    /// Channel snapshot headers (`Channel` .. `Linkedid`) of channel `i`.
    fn snapshot(w: W, i: usize) -> W {
        let pair = i / 2;
        let uid = format!("1795727795.{}", i);
        let linked = format!("1795727795.{}", pair * 2);
        w.h("Channel", ServerConfig::channel_name(i))
            .h("ChannelState", "6")
            .h("ChannelStateDesc", "Up")
            .h("CallerIDNum", "<unknown>")
            .h("CallerIDName", "<unknown>")
            .h("ConnectedLineNum", "<unknown>")
            .h("ConnectedLineName", "<unknown>")
            .h("Language", "en")
            .h("AccountCode", "")
            .h("Context", "test")
            .h("Exten", "long")
            .h("Priority", if i % 2 == 0 { "1" } else { "2" })
            .h("Uniqueid", uid)
            .h("Linkedid", linked)
    }

    fn core_show_channels(&mut self, aid: Option<&[u8]>) {
        self.list_start(aid, "Channels will follow");
        let n = self.config.channels;
        for i in 0..n {
            let w = Self::snapshot(W::event("CoreShowChannel").aid(aid), i)
                .h("Application", "Wait")
                .h("ApplicationData", "60")
                .h("Duration", "00:00:01")
                .h("BridgeId", "");
            self.respond(w);
        }
        self.list_complete(aid, "CoreShowChannelsComplete", n, false);
    }

    fn status(&mut self, m: &Message, aid: Option<&[u8]>) {
        let wanted = val_str(m, "Channel").filter(|c| !c.is_empty());
        let indices: Vec<usize> = match &wanted {
            Some(name) => {
                match (0..self.config.channels).find(|&i| ServerConfig::channel_name(i) == *name) {
                    Some(i) => vec![i],
                    None => {
                        return self
                            .respond(W::response("Error", aid).h("Message", "No such channel"))
                    }
                }
            }
            None => (0..self.config.channels).collect(),
        };
        self.list_start(aid, "Channel status will follow");
        for &i in &indices {
            let w = Self::snapshot(W::event("Status").h("Privilege", "Call"), i)
                .h("Type", "Local")
                .h("DNID", "")
                .h("EffectiveConnectedLineNum", "<unknown>")
                .h("EffectiveConnectedLineName", "<unknown>")
                .h("TimeToHangup", "0")
                .h("BridgeID", "")
                .h("Application", "Wait")
                .h("Data", "60")
                .h("Nativeformats", "(slin)")
                .h("Readformat", "slin")
                .h("Readtrans", "")
                .h("Writeformat", "slin")
                .h("Writetrans", "")
                .h("Callgroup", "0")
                .h("Pickupgroup", "0")
                .h("Seconds", "1")
                .aid(aid);
            self.respond(w);
        }
        self.list_complete(aid, "StatusComplete", indices.len(), true);
    }

    fn originate(&mut self, m: &Message, aid: Option<&[u8]>, now: Instant) {
        let Some(channel) = val_str(m, "Channel").filter(|c| !c.is_empty()) else {
            return self.respond(W::response("Error", aid).h("Message", "Channel not specified"));
        };
        let (caller_num, caller_name) = match val_str(m, "CallerID") {
            Some(cid) => match (cid.find('<'), cid.rfind('>')) {
                (Some(a), Some(b)) if a < b => (
                    cid[a + 1..b].to_string(),
                    cid[..a].trim().trim_matches('"').to_string(),
                ),
                _ => (cid.clone(), String::new()),
            },
            None => ("<unknown>".to_string(), "<unknown>".to_string()),
        };
        let pending = PendingOriginate {
            action_id: aid.map(<[u8]>::to_vec),
            is_async: is_true(val(m, "Async")),
            channel,
            context: val_str(m, "Context"),
            exten: val_str(m, "Exten"),
            application: val_str(m, "Application"),
            data: val_str(m, "Data"),
            caller_num,
            caller_name,
        };
        let never = self.config.originate.outcome == OriginateOutcome::Never;
        if pending.is_async {
            self.respond(W::response("Success", aid).h("Message", "Originate successfully queued"));
        } else {
            // A synchronous Originate holds the whole session, as in Asterisk.
            self.blocked = true;
        }
        if !never {
            let at = now + self.config.originate.delay;
            self.timers.push((at, Timer::Originate(Box::new(pending))));
        }
    }

    fn fire(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::AuthFailure { action_id } => {
                self.respond(
                    W::response("Error", action_id.as_deref())
                        .h("Message", "Authentication failed"),
                );
                self.closing = true;
                self.blocked = false;
            }
            Timer::Originate(p) => {
                self.originate_outcome(&p, now);
                if !p.is_async {
                    self.blocked = false;
                }
            }
        }
    }

    fn originate_outcome(&mut self, p: &PendingOriginate, now: Instant) {
        self.originated += 1;
        let aid = p.action_id.as_deref();
        let success = self.config.originate.outcome == OriginateOutcome::Success;
        let reason = match self.config.originate.outcome {
            OriginateOutcome::Failure { reason } => reason,
            _ => 4,
        };
        let secs = self.now_epoch(now) as u64;
        let seq = self.originated - 1;
        let local = p.channel.starts_with("Local/");
        let name = |side: u8| {
            if local {
                format!("{}-{seq:08x};{side}", p.channel)
            } else {
                format!("{}-{seq:08x}", p.channel)
            }
        };
        let uid1 = format!("{secs}.{}", self.uid_seq);
        let uid2 = format!("{secs}.{}", self.uid_seq + 1);
        self.uid_seq += 2;
        if success {
            let (ctx, ext) = (
                p.context.clone().unwrap_or_else(|| "default".into()),
                p.exten.clone().unwrap_or_else(|| "s".into()),
            );
            let snap = |w: W, prefix: &str, ch: &str, state: &str, uid: &str| {
                let desc = if state == "6" {
                    "Up"
                } else if state == "4" {
                    "Ring"
                } else {
                    "Down"
                };
                w.h(format!("{prefix}Channel"), ch)
                    .h(format!("{prefix}ChannelState"), state)
                    .h(format!("{prefix}ChannelStateDesc"), desc)
                    .h(format!("{prefix}CallerIDNum"), &p.caller_num)
                    .h(format!("{prefix}CallerIDName"), &p.caller_name)
                    .h(format!("{prefix}ConnectedLineNum"), "<unknown>")
                    .h(format!("{prefix}ConnectedLineName"), "<unknown>")
                    .h(format!("{prefix}Language"), "en")
                    .h(format!("{prefix}AccountCode"), "")
                    .h(format!("{prefix}Context"), &ctx)
                    .h(format!("{prefix}Exten"), &ext)
                    .h(format!("{prefix}Priority"), "1")
                    .h(format!("{prefix}Uniqueid"), uid)
                    .h(format!("{prefix}Linkedid"), &uid1)
            };
            let (c1, c2) = (name(1), name(2));
            self.channels.insert(c1.clone());
            let call = "call,all";
            self.broadcast_event(snap(
                W::event("Newchannel").h("Privilege", call),
                "",
                &c1,
                "0",
                &uid1,
            ));
            if local {
                self.channels.insert(c2.clone());
                self.broadcast_event(snap(
                    W::event("Newchannel").h("Privilege", call),
                    "",
                    &c2,
                    "4",
                    &uid2,
                ));
            }
            self.broadcast_event(
                snap(
                    W::event("DialBegin").h("Privilege", call),
                    "Dest",
                    &c1,
                    "0",
                    &uid1,
                )
                .h(
                    "DialString",
                    p.channel.split_once('/').map_or("", |(_, d)| d),
                ),
            );
            self.broadcast_event(snap(
                W::event("Newstate").h("Privilege", call),
                "",
                &c1,
                "6",
                &uid1,
            ));
            self.broadcast_event(
                snap(
                    W::event("DialEnd").h("Privilege", call),
                    "Dest",
                    &c1,
                    "6",
                    &uid1,
                )
                .h("DialStatus", "ANSWER"),
            );
        }
        let mut w = W::event("OriginateResponse")
            .h("Privilege", "call,all")
            .aid(aid)
            .h("Response", if success { "Success" } else { "Failure" })
            .h("Channel", &p.channel);
        match &p.application {
            Some(app) => {
                w = w
                    .h("Application", app)
                    .h("Data", p.data.as_deref().unwrap_or(""));
            }
            None => {
                w = w
                    .h("Context", p.context.as_deref().unwrap_or(""))
                    .h("Exten", p.exten.as_deref().unwrap_or(""));
            }
        }
        w = w
            .h("Reason", reason.to_string())
            .h("Uniqueid", if success { uid1.as_str() } else { "<null>" })
            .h("CallerIDNum", &p.caller_num)
            .h("CallerIDName", &p.caller_name);
        if p.is_async {
            self.broadcast_event(w);
        } else if success {
            self.respond(W::response("Success", aid).h("Message", "Originate successfully queued"));
        } else {
            self.respond(W::response("Error", aid).h("Message", "Originate failed"));
        }
    }

    fn known_channel(&self, m: &Message) -> Result<String, bool> {
        match val_str(m, "Channel").filter(|c| !c.is_empty()) {
            None => Err(false),
            Some(c) if self.channels.contains(&c) => Ok(c),
            Some(_) => Err(true),
        }
    }

    fn hangup(&mut self, m: &Message, aid: Option<&[u8]>) {
        match self.known_channel(m) {
            Ok(c) => {
                self.channels.remove(&c);
                self.respond(W::response("Success", aid).h("Message", "Channel Hungup"));
            }
            Err(false) => {
                self.respond(W::response("Error", aid).h("Message", "No channel specified"))
            }
            Err(true) => self.respond(W::response("Error", aid).h("Message", "No such channel")),
        }
    }

    fn redirect(&mut self, m: &Message, aid: Option<&[u8]>) {
        match self.known_channel(m) {
            Ok(_) => self.respond(W::response("Success", aid).h("Message", "Redirect successful")),
            Err(false) => {
                self.respond(W::response("Error", aid).h("Message", "Channel not specified"))
            }
            Err(true) => {
                let c = val_str(m, "Channel").unwrap_or_default();
                self.respond(
                    W::response("Error", aid).h("Message", format!("Channel does not exist: {c}")),
                )
            }
        }
    }

    /// The variable's channel key: `""` for globals, `Err` for an unknown channel.
    fn var_scope(&self, m: &Message) -> Result<String, ()> {
        match self.known_channel(m) {
            Ok(c) => Ok(c),
            Err(false) => Ok(String::new()),
            Err(true) => Err(()),
        }
    }

    fn getvar(&mut self, m: &Message, aid: Option<&[u8]>) {
        let Some(var) = val_str(m, "Variable").filter(|v| !v.is_empty()) else {
            return self.respond(W::response("Error", aid).h("Message", "No variable specified"));
        };
        let Ok(scope) = self.var_scope(m) else {
            return self.respond(W::response("Error", aid).h("Message", "No such channel"));
        };
        let value = self
            .vars
            .get(&(scope, var.clone()))
            .cloned()
            .unwrap_or_default();
        self.respond(
            W::response("Success", aid)
                .h("Variable", var)
                .h("Value", value),
        );
    }

    fn setvar(&mut self, m: &Message, aid: Option<&[u8]>) {
        let Some(var) = val_str(m, "Variable").filter(|v| !v.is_empty()) else {
            return self.respond(W::response("Error", aid).h("Message", "No variable specified"));
        };
        let Ok(scope) = self.var_scope(m) else {
            return self.respond(W::response("Error", aid).h("Message", "No such channel"));
        };
        let value = val_str(m, "Value").unwrap_or_default();
        self.vars
            .insert((scope.clone(), var.clone()), value.clone());
        self.respond(W::response("Success", aid).h("Message", "Variable Set"));
        let chan = if scope.is_empty() {
            "none".to_string()
        } else {
            scope
        };
        self.event(
            W::event("VarSet")
                .h("Privilege", "dialplan,all")
                .h("Channel", &chan)
                .h("Uniqueid", "none")
                .h("Variable", var)
                .h("Value", value),
        );
    }

    fn db_key(&mut self, m: &Message, aid: Option<&[u8]>) -> Option<(String, String)> {
        let Some(family) = val_str(m, "Family").filter(|v| !v.is_empty()) else {
            self.respond(W::response("Error", aid).h("Message", "No family specified"));
            return None;
        };
        let Some(key) = val_str(m, "Key").filter(|v| !v.is_empty()) else {
            self.respond(W::response("Error", aid).h("Message", "No key specified"));
            return None;
        };
        Some((family, key))
    }

    fn dbput(&mut self, m: &Message, aid: Option<&[u8]>) {
        let Some(k) = self.db_key(m, aid) else { return };
        let value = val_str(m, "Val").unwrap_or_default();
        self.db.insert(k, value);
        self.respond(W::response("Success", aid).h("Message", "Updated database successfully"));
    }

    fn dbget(&mut self, m: &Message, aid: Option<&[u8]>) {
        let Some(k) = self.db_key(m, aid) else { return };
        let Some(value) = self.db.get(&k).cloned() else {
            return self
                .respond(W::response("Error", aid).h("Message", "Database entry not found"));
        };
        self.list_start(aid, "Result will follow");
        self.respond(
            W::event("DBGetResponse")
                .h("Family", &k.0)
                .h("Key", &k.1)
                .h("Val", value)
                .aid(aid),
        );
        self.list_complete(aid, "DBGetComplete", 1, false);
    }

    fn user_event(&mut self, m: &Message, aid: Option<&[u8]>) {
        let Some(name) = val(m, "UserEvent").map(<[u8]>::to_vec) else {
            return self.respond(W::response("Error", aid).h("Message", "UserEvent not specified"));
        };
        self.respond(W::response("Success", aid).h("Message", "Event Sent"));
        let mut w = W::event("UserEvent")
            .h("Privilege", "user,all")
            .h("UserEvent", name)
            .aid(aid);
        for (n, v) in m.headers().iter() {
            let skip = ["Action", "ActionID", "UserEvent"]
                .iter()
                .any(|s| n.eq_ignore_ascii_case(s.as_bytes()));
            if !skip && !n.is_empty() {
                w = w.h(n, v);
            }
        }
        self.broadcast_event(w);
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
