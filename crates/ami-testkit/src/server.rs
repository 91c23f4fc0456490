//! `ServerSession`: the fake server's sans-IO state machine for one client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::actions;
use crate::filter::Filters;
use crate::pbx::{Exec, OriginateRequest, Pbx, PbxState, SubId, Target};
use crate::perm::Classes;
use crate::request::{Input, Reader, Request};
use crate::rng::{civil, event_tv, SplitMix64};
use crate::script::{ChallengeNonce, ServerConfig, User};
use crate::wire::{ack, error, is_true, W};

/// The Asterisk version the fake server claims (`CoreSettings`).
const ASTERISK_VERSION: &str = "22.10.1";

/// What holds the session's input, as Asterisk's session thread is held.
#[derive(Debug)]
enum Block {
    /// A failed login: `Authentication failed` at `at`, then the close.
    AuthFailure {
        action_id: Option<Vec<u8>>,
        at: Instant,
    },
    /// A synchronous Originate: its answer when the call is answered or fails.
    Originate { action_id: Option<Vec<u8>> },
    /// `WaitEvent`: until an event arrives, the client sends, or `until`.
    WaitEvent {
        action_id: Option<Vec<u8>>,
        until: Option<Instant>,
    },
}

/// The fake server's state machine for ONE client connection: bytes in,
/// bytes out, time passed in as `now`. It never reads a clock, sleeps or
/// touches a socket; [`crate::TcpServer`] and [`crate::MemoryLink`] drive it.
///
/// Every session works on a [`Pbx`] (its own, or one shared with the other
/// sessions of a server: [`ServerSession::with_pbx`]): calls, channels,
/// queues and their events are the PBX's, and each session receives the
/// events its user's read classes and its `Events` mask allow, after its
/// `Filter`s.
///
/// Contract: send [`ServerSession::greeting`] first. After every
/// [`handle_input`](ServerSession::handle_input) or
/// [`handle_timeout`](ServerSession::handle_timeout), drain
/// [`poll_transmit`](ServerSession::poll_transmit) (each chunk is one whole
/// frame or one injected blob; it also takes the events other sessions'
/// calls produced meanwhile, so poll it now and then even when idle); wake at
/// [`poll_timeout`](ServerSession::poll_timeout). Once
/// [`is_closing`](ServerSession::is_closing) is true and the transmit queue
/// is drained, close the transport.
///
/// Requests are read as Asterisk reads them (lines of at most 1,024 bytes,
/// at most 128 lines, a stray blank line is an empty request); the
/// `ActionID` is echoed byte for byte (leading blanks stripped) and omitted
/// when the request had none; the first of repeated headers wins.
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
    pbx: Pbx,
    config: Arc<ServerConfig>,
    sub: SubId,
    reader: Reader,
    out: VecDeque<Bytes>,
    /// The logged-in user's name and permissions.
    user: Option<(String, User)>,
    /// The classes of events this session receives (read classes ANDed
    /// with the `Events` mask): Asterisk's `send_events`.
    send_events: Classes,
    filters: Filters,
    challenge: Option<String>,
    challenges: u64,
    closing: bool,
    block: Option<Block>,
    received: Vec<String>,
    decode_errors: u64,
}

impl Drop for ServerSession {
    fn drop(&mut self) {
        self.pbx.lock().unsubscribe(self.sub);
    }
}

impl ServerSession {
    /// A fresh session (not logged in) on a PBX of its own whose clock
    /// starts at `now`.
    pub fn new(config: impl Into<Arc<ServerConfig>>, now: Instant) -> Self {
        ServerSession::with_pbx(&Pbx::new(config, now), now)
    }

    /// A fresh session (not logged in) on a shared PBX: it sees the other
    /// sessions' calls and events, they see its.
    pub fn with_pbx(pbx: &Pbx, _now: Instant) -> Self {
        let (config, sub) = {
            let mut state = pbx.lock();
            (state.config.clone(), state.subscribe())
        };
        ServerSession {
            pbx: pbx.clone(),
            config,
            sub,
            reader: Reader::default(),
            out: VecDeque::new(),
            user: None,
            send_events: Classes::NONE,
            filters: Filters::default(),
            challenge: None,
            challenges: 0,
            closing: false,
            block: None,
            received: Vec::new(),
            decode_errors: 0,
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

    /// The PBX this session works on.
    pub fn pbx(&self) -> &Pbx {
        &self.pbx
    }

    /// Whether a login succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// Whether events are delivered to this client now: logged in, and its
    /// read classes ANDed with its `Events` mask leave some class.
    pub fn wants_events(&self) -> bool {
        self.user.is_some() && !self.send_events.is_empty()
    }

    /// Whether the transport should close once the transmit queue is drained
    /// (after `Goodbye` or `Authentication failed`).
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Names of the actions received so far, as the client spelled them
    /// (`""` for a request without `Action`).
    pub fn received_actions(&self) -> &[String] {
        &self.received
    }

    /// How many requests were refused as malformed (a line over 1,024
    /// bytes, more than 128 lines).
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Feeds bytes from the client. Ignored once closing; while the session
    /// is held (auth failure delay, synchronous Originate) they wait. New
    /// bytes end a `WaitEvent`, as in Asterisk.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.closing {
            return;
        }
        self.reader.push(bytes);
        if matches!(self.block, Some(Block::WaitEvent { .. })) && !bytes.is_empty() {
            self.finish_wait_event();
        }
        self.process(now);
    }

    /// The next chunk to send: one whole frame or one injected blob. When
    /// nothing is queued, takes the events the PBX produced meanwhile.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() && self.block.is_none() {
            self.pull_events();
        }
        self.out.pop_front()
    }

    /// The earliest deadline: the session's (auth failure delay,
    /// `WaitEvent` timeout) or its PBX's (a call's next step).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = match &self.block {
            Some(Block::AuthFailure { at, .. }) => Some(*at),
            Some(Block::WaitEvent { until, .. }) => *until,
            _ => None,
        };
        let pbx = self.pbx.poll_timeout();
        match (own, pbx) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs what is due at `now` (the PBX's calls included; early calls do
    /// nothing), then resumes input that waited while the session was held.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pbx.handle_timeout(now);
        self.process(now);
    }

    /// Queues raw bytes for the client as they are (events, garbage, half
    /// frames), whether or not it is logged in.
    pub fn inject(&mut self, bytes: impl Into<Bytes>) {
        self.out.push_back(bytes.into());
    }

    /// Queues an event frame if this session receives it: logged in, all
    /// the classes of its `Privilege:` in the session's mask, and through
    /// its filters (as Asterisk delivers events).
    pub fn deliver_event(&mut self, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        let classes = crate::pbx::privilege_of(&bytes);
        if self.accepts(classes, &bytes) {
            self.out.push_back(bytes);
        }
    }

    /// Queues `Response: Error` / `Message: Permission denied` with NO
    /// ActionID (a chaos case: real servers echo it, but a client must cope).
    pub fn inject_permission_denied_without_actionid(&mut self) {
        self.inject(error(None, "Permission denied").done());
    }

    fn accepts(&self, classes: Classes, text: &[u8]) -> bool {
        self.wants_events()
            && self.send_events.contains(classes)
            && self.filters.accepts(&String::from_utf8_lossy(text))
    }

    fn respond(&mut self, w: W) {
        self.out.push_back(w.done());
    }

    /// Moves the PBX's events for this session to the transmit queue.
    fn pull_events(&mut self) {
        if self.user.is_none() {
            return;
        }
        let events = self.pbx.lock().take_events(self.sub);
        for e in events {
            if self.accepts(e.classes, &e.text) {
                self.out.push_back(e.text.clone());
            }
        }
    }

    fn process(&mut self, now: Instant) {
        while !self.closing {
            if !self.unblock(now) {
                return;
            }
            let Some(input) = self.reader.next() else {
                break;
            };
            match input {
                Input::Request(r) => self.dispatch(&r, now),
                Input::LineTooLong(r) => {
                    self.note(&r);
                    self.decode_errors += 1;
                    self.respond(error(
                        r.action_id(),
                        "Failed to parse message: line too long",
                    ));
                }
                Input::TooManyLines(r) => {
                    self.note(&r);
                    self.decode_errors += 1;
                    self.respond(error(
                        r.action_id(),
                        "Too many lines in message or allocation failure",
                    ));
                }
            }
            if self.block.is_none() {
                self.pull_events();
            }
        }
        if self.block.is_none() {
            self.pull_events();
        }
    }

    /// Ends a block whose condition is met; whether the session is free.
    fn unblock(&mut self, now: Instant) -> bool {
        match &self.block {
            None => true,
            Some(Block::AuthFailure { at, .. }) if *at <= now => {
                let Some(Block::AuthFailure { action_id, .. }) = self.block.take() else {
                    unreachable!("matched above");
                };
                self.respond(error(action_id.as_deref(), "Authentication failed"));
                self.closing = true;
                false
            }
            Some(Block::Originate { .. }) => {
                let outcome = self.pbx.lock().take_sync_outcome(self.sub);
                let Some(success) = outcome else {
                    return false;
                };
                let Some(Block::Originate { action_id }) = self.block.take() else {
                    unreachable!("matched above");
                };
                let aid = action_id.as_deref();
                self.respond(if success {
                    ack(aid, "Originate successfully queued")
                } else {
                    error(aid, "Originate failed")
                });
                self.pull_events();
                true
            }
            Some(Block::WaitEvent { until, .. }) => {
                let timed_out = until.is_some_and(|u| u <= now);
                if timed_out || self.pbx.lock().has_events(self.sub) {
                    self.finish_wait_event();
                    true
                } else {
                    false
                }
            }
            Some(_) => false,
        }
    }

    /// `WaitEvent`'s answer: the response, the events, `WaitEventComplete`.
    fn finish_wait_event(&mut self) {
        let Some(Block::WaitEvent { action_id, .. }) = self.block.take() else {
            return;
        };
        let aid = action_id.as_deref();
        self.respond(ack(aid, "Waiting for Event completed."));
        self.pull_events();
        self.respond(W::event("WaitEventComplete").aid(aid));
    }

    fn note(&mut self, r: &Request) {
        self.received.push(r.text("Action"));
    }

    /// A security event (`SuccessfulAuth`, `RequestBadFormat`) for every
    /// session that reads `security`.
    fn security_event(
        &mut self,
        name: &str,
        severity: &str,
        now: Instant,
        fields: &[(&str, String)],
    ) {
        let mut pbx = self.pbx.lock();
        let tv = event_tv(pbx.epoch(now));
        pbx.emit(Classes::SECURITY, name, |w| {
            let w = w
                .h("EventTV", &tv)
                .h("Severity", severity)
                .h("Service", "AMI")
                .h("EventVersion", "1");
            fields
                .iter()
                .fold(w, |w, (n, v)| w.h(n, v.replace("{tv}", &tv)))
        });
    }

    fn bad_format(&mut self, action: &str, now: Instant) {
        let request_type = format!(
            "Action: {}",
            if action.is_empty() { "NONE" } else { action }
        );
        let user = self
            .user
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        self.security_event(
            "RequestBadFormat",
            "Error",
            now,
            &[
                ("SessionID", format!("0x7f3c{:08x}", self.sub)),
                ("LocalAddress", "IPV4/TCP/127.0.0.1/5038".into()),
                ("RemoteAddress", "IPV4/TCP/127.0.0.1/39396".into()),
                ("RequestType", request_type),
                ("SessionTV", "{tv}".into()),
                ("AccountID", user),
            ],
        );
    }

    fn dispatch(&mut self, r: &Request, now: Instant) {
        self.note(r);
        let aid = r.action_id().map(<[u8]>::to_vec);
        let aid = aid.as_deref();
        let action = r.text("Action");
        if action.is_empty() {
            self.respond(error(aid, "Missing action in request"));
            return self.bad_format("", now);
        }
        let lower = action.to_ascii_lowercase();
        if self.user.is_none() && !matches!(lower.as_str(), "login" | "challenge" | "logoff") {
            return self.respond(error(aid, "Permission denied"));
        }
        let Some(info) = actions::find(&action) else {
            let msg = format!(
                "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
            );
            self.respond(error(aid, msg));
            return self.bad_format(&action, now);
        };
        let allowed = info.authority.is_empty()
            || self
                .user
                .as_ref()
                .is_some_and(|(_, u)| u.write.intersects(info.authority));
        if !allowed {
            return self.respond(error(aid, "Permission denied"));
        }
        match info.name {
            "Login" => self.login(r, aid, now),
            "Challenge" => self.challenge(r, aid),
            "Logoff" => {
                self.respond(W::response("Goodbye", aid).h("Message", "Thanks for all the fish."));
                self.closing = true;
            }
            "Ping" => {
                let ts = format!("{:.6}", self.pbx.lock().epoch(now));
                self.respond(
                    W::response("Success", aid)
                        .h("Ping", "Pong")
                        .h("Timestamp", ts),
                );
            }
            "Events" => self.events(r, aid),
            "Filter" => self.filter(r, aid),
            "WaitEvent" => self.wait_event(r, aid, now),
            "ListCommands" => self.list_commands(aid),
            "Command" => self.command(r, aid),
            "CoreSettings" => self.core_settings(aid),
            "CoreStatus" => self.core_status(aid),
            "CoreShowChannels" => self.core_show_channels(aid, now),
            "Status" => self.status(r, aid, now),
            "Originate" => self.originate(r, aid, now),
            "Hangup" => self.hangup(r, aid, now),
            "Redirect" => self.redirect(r, aid, now),
            "Getvar" => self.getvar(r, aid),
            "Setvar" => self.setvar(r, aid),
            "DBPut" => self.dbput(r, aid),
            "DBGet" => self.dbget(r, aid),
            "DBGetTree" => self.dbgettree(r, aid),
            "DBDel" => self.dbdel(r, aid),
            "DBDelTree" => self.dbdeltree(r, aid),
            "UserEvent" => self.user_event(r, aid),
            "ExtensionState" => self.extension_state(r, aid),
            "ExtensionStateList" => self.extension_state_list(aid),
            "DeviceStateList" => self.device_state_list(aid),
            "BridgeList" => self.bridge_list(aid),
            "QueueStatus" => self.queue_status(r, aid, now),
            "QueueSummary" => self.queue_summary(r, aid, now),
            "QueuePause" => self.queue_pause(r, aid),
            name => self.respond(error(
                aid,
                format!("Action {name} is not simulated by ami-testkit"),
            )),
        }
    }

    fn login(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        if self.user.is_some() {
            return self.respond(ack(aid, "Already authenticated"));
        }
        let name = r.text("Username");
        let md5 = r.text("AuthType").eq_ignore_ascii_case("md5");
        let user = match self.config.users.get(&name) {
            Some(user) if md5 => match (&self.challenge, r.value("Key")) {
                (Some(nonce), Some(key)) => {
                    let digest = format!("{:x}", md5::compute(format!("{nonce}{}", user.secret)));
                    key.eq_ignore_ascii_case(digest.as_bytes())
                        .then(|| user.clone())
                }
                _ => None,
            },
            Some(user) => (r.value("Secret") == Some(user.secret.as_bytes())).then(|| user.clone()),
            None if self.config.accept_any_login && !md5 => Some(User::new("")),
            None => None,
        };
        let Some(user) = user else {
            let action_id = aid.map(<[u8]>::to_vec);
            let at = now + self.config.auth_failure_delay;
            self.block = Some(Block::AuthFailure { action_id, at });
            self.unblock(now);
            return;
        };
        let events = r.text("Events");
        self.send_events = match Classes::parse_mask(&events) {
            Some(mask) if !events.is_empty() => user.read.and(mask),
            _ => user.read,
        };
        self.pbx.lock().set_mask(self.sub, self.send_events);
        self.user = Some((name.clone(), user));
        self.respond(ack(aid, "Authentication accepted"));
        if self.send_events.contains(Classes::SYSTEM) {
            let uptime = self.pbx.lock().uptime(now).to_string();
            self.respond(
                W::event("FullyBooted")
                    .h("Privilege", Classes::SYSTEM.to_string())
                    .h("Uptime", &uptime)
                    .h("LastReload", &uptime)
                    .h("Status", "Fully Booted"),
            );
        }
        self.security_event(
            "SuccessfulAuth",
            "Informational",
            now,
            &[
                ("AccountID", name),
                ("SessionID", format!("0x7f3c{:08x}", self.sub)),
                ("LocalAddress", "IPV4/TCP/127.0.0.1/5038".into()),
                ("RemoteAddress", "IPV4/TCP/127.0.0.1/40560".into()),
                ("UsingPassword", "0".into()),
                ("SessionTV", "{tv}".into()),
            ],
        );
    }

    fn challenge(&mut self, r: &Request, aid: Option<&[u8]>) {
        if !r.text("AuthType").eq_ignore_ascii_case("md5") {
            return self.respond(error(aid, "Must specify AuthType"));
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

    fn events(&mut self, r: &Request, aid: Option<&[u8]>) {
        let Some(mask) = Classes::parse_mask(&r.text("EventMask")) else {
            return self.respond(error(aid, "Invalid event mask"));
        };
        let read = self.user.as_ref().map_or(Classes::NONE, |(_, u)| u.read);
        self.send_events = read.and(mask);
        self.pbx.lock().set_mask(self.sub, self.send_events);
        let word = if mask.is_empty() { "Off" } else { "On" };
        self.respond(W::response("Success", aid).h("Events", word));
    }

    fn filter(&mut self, r: &Request, aid: Option<&[u8]>) {
        if !r.text("Operation").eq_ignore_ascii_case("add") {
            return self.respond(error(aid, "Unknown operation"));
        }
        match self
            .filters
            .add(&r.text("MatchCriteria"), &r.text("Filter"))
        {
            Ok(()) => self.respond(ack(aid, "Success")),
            Err(e) => self.respond(error(aid, e.message())),
        }
    }

    fn wait_event(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let timeout = r.text("Timeout").trim().parse::<i64>().unwrap_or(-1);
        let until = (timeout >= 0).then(|| now + Duration::from_secs(timeout as u64));
        self.block = Some(Block::WaitEvent {
            action_id: aid.map(<[u8]>::to_vec),
            until,
        });
    }

    fn list_commands(&mut self, aid: Option<&[u8]>) {
        let write = self.user.as_ref().map_or(Classes::NONE, |(_, u)| u.write);
        let mut w = W::response("Success", aid);
        for a in actions::all() {
            if a.authority.is_empty() || write.intersects(a.authority) {
                let synopsis =
                    actions::simulated(a.name).unwrap_or("Not simulated by ami-testkit.");
                w = w.h(a.name, format!("{synopsis}  (Priv: {})", a.authority));
            }
        }
        self.respond(w);
    }

    fn command_lines(&self, cmd: &str) -> Option<Vec<String>> {
        if let Some(lines) = self.config.command_outputs.get(cmd) {
            return Some(lines.clone());
        }
        match cmd {
            "core show channels" => {
                let pbx = self.pbx.lock();
                let mut lines = vec![format!(
                    "{:<64} {:<32} {:<7} {:<30}",
                    "Channel", "Location", "State", "Application(Data)"
                )];
                for c in pbx.chans.values() {
                    lines.push(format!(
                        "{:<64} {:<32} {:<7} {:<30}",
                        c.name,
                        format!("{}@{}:{}", c.exten, c.context, c.priority),
                        c.state.desc(),
                        format!("{}({})", c.app, c.appdata)
                    ));
                }
                let n = pbx.chans.len();
                let calls = active_calls(&pbx);
                lines.push(format!("{n} active channel{}", if n == 1 { "" } else { "s" }));
                lines.push(format!("{calls} active call{}", if calls == 1 { "" } else { "s" }));
                lines.push(format!("{} calls processed", pbx.processed));
                Some(lines)
            }
            "core show version" => Some(vec![format!(
                "Asterisk {ASTERISK_VERSION} built by ami-testkit @ localhost on a x86_64 running Linux"
            )]),
            _ => None,
        }
    }

    fn command(&mut self, r: &Request, aid: Option<&[u8]>) {
        let cmd = r.text("Command").trim().to_string();
        if cmd.is_empty() {
            return self.respond(error(aid, "No command provided"));
        }
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

    fn core_settings(&mut self, aid: Option<&[u8]>) {
        let ami = self
            .config
            .banner
            .rsplit('/')
            .next()
            .unwrap_or("11.0.0")
            .to_string();
        self.respond(
            W::response("Success", aid)
                .h("AMIversion", ami)
                .h("AsteriskVersion", ASTERISK_VERSION)
                .h("SystemName", "")
                .h("CoreMaxCalls", "0")
                .h("CoreMaxLoadAvg", "0.000000")
                .h("CoreRunUser", "")
                .h("CoreRunGroup", "")
                .h("CoreMaxFilehandles", "0")
                .h("CoreRealTimeEnabled", "No")
                .h("CoreCDRenabled", "Yes")
                .h("CoreHTTPenabled", "No")
                .h("SoundsSearchCustomDir", "No"),
        );
    }

    fn core_status(&mut self, aid: Option<&[u8]>) {
        let (date, time, calls, processed) = {
            let pbx = self.pbx.lock();
            let (date, time) = civil(pbx.login_time());
            (date, time, active_calls(&pbx), pbx.processed)
        };
        self.respond(
            W::response("Success", aid)
                .h("CoreStartupDate", &date)
                .h("CoreStartupTime", &time)
                .h("CoreReloadDate", &date)
                .h("CoreReloadTime", &time)
                .h("CoreCurrentCalls", calls.to_string())
                .h("CoreProcessedCalls", processed.to_string()),
        );
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

    /// A list: the start response, `items`, the `<complete>` event.
    fn list(&mut self, aid: Option<&[u8]>, message: &str, items: Vec<W>, complete: &str) {
        self.list_start(aid, message);
        let n = items.len();
        for w in items {
            self.respond(w);
        }
        self.list_complete(aid, complete, n, false);
    }

    fn core_show_channels(&mut self, aid: Option<&[u8]>, now: Instant) {
        let items = {
            let pbx = self.pbx.lock();
            pbx.chans
                .values()
                .map(|c| {
                    let secs = now.saturating_duration_since(c.created).as_secs();
                    c.snapshot(W::event("CoreShowChannel").aid(aid), "")
                        .h("Application", &c.app)
                        .h("ApplicationData", &c.appdata)
                        .h(
                            "Duration",
                            format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
                        )
                        .h("BridgeId", bridge_of(&pbx, c))
                })
                .collect()
        };
        self.list(
            aid,
            "Channels will follow",
            items,
            "CoreShowChannelsComplete",
        );
    }

    fn status(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let wanted = r.text("Channel");
        let variables = r.text("Variables");
        let items: Vec<W> = {
            let pbx = self.pbx.lock();
            let chans: Vec<_> = pbx
                .chans
                .iter()
                .filter(|(_, c)| wanted.is_empty() || c.name == wanted)
                .collect();
            if !wanted.is_empty() && chans.is_empty() {
                drop(pbx);
                return self.respond(error(aid, "No such channel"));
            }
            chans
                .into_iter()
                .map(|(&id, c)| {
                    let secs = c
                        .answered
                        .map_or(0, |a| now.saturating_duration_since(a).as_secs());
                    let effective =
                        |v: &Option<String>| v.clone().unwrap_or_else(|| "<unknown>".into());
                    let mut w = c
                        .snapshot(W::event("Status").h("Privilege", "Call"), "")
                        .h("Type", c.tech())
                        .h("DNID", "")
                        .h("EffectiveConnectedLineNum", effective(&c.connected.0))
                        .h("EffectiveConnectedLineName", effective(&c.connected.1))
                        .h("TimeToHangup", "0")
                        .h("BridgeID", bridge_of(&pbx, c))
                        .h("Application", &c.app)
                        .h("Data", &c.appdata)
                        .h("Nativeformats", "(slin)")
                        .h("Readformat", "slin")
                        .h("Readtrans", "")
                        .h("Writeformat", "slin")
                        .h("Writetrans", "")
                        .h("Callgroup", "0")
                        .h("Pickupgroup", "0")
                        .h("Seconds", secs.to_string());
                    for name in variables
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                    {
                        let is_function = name.ends_with(')');
                        let value = if is_function || c.vars.contains_key(name) {
                            pbx.read_var(Some(id), name)
                        } else {
                            "(null)".to_string()
                        };
                        w = w.h("Variable", format!("{name}={value}"));
                    }
                    w.aid(aid)
                })
                .collect()
        };
        self.list_start(aid, "Channel status will follow");
        let n = items.len();
        for w in items {
            self.respond(w);
        }
        self.list_complete(aid, "StatusComplete", n, true);
    }

    fn originate(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let channel = r.text("Channel");
        if channel.is_empty() {
            return self.respond(error(aid, "Channel not specified"));
        }
        let (context, exten) = (r.text("Context"), r.text("Exten"));
        let priority_text = r.text("Priority");
        let priority: u32 = if priority_text.is_empty() {
            0
        } else {
            match priority_text.trim().parse() {
                Ok(p) => p,
                Err(_) => return self.respond(error(aid, "Invalid priority")),
            }
        };
        let timeout_text = r.text("Timeout");
        let timeout_ms: u64 = if timeout_text.is_empty() {
            30_000
        } else {
            match timeout_text.trim().parse() {
                Ok(t) => t,
                Err(_) => return self.respond(error(aid, "Invalid timeout")),
            }
        };
        if !channel.contains('/') {
            return self.respond(error(aid, "Invalid channel"));
        }
        let app = r.text("Application");
        if priority > 0 && !self.pbx.lock().exten_exists(&context, &exten, priority) {
            return self.respond(error(aid, "Extension does not exist."));
        }
        let is_async = is_true(&r.text("Async"));
        if !is_async && app.is_empty() && priority == 0 {
            return self.respond(error(
                aid,
                "Originate with 'Exten' requires 'Context' and 'Priority'",
            ));
        }
        let target = if app.is_empty() {
            Target::Exten(context, exten, priority)
        } else {
            Target::App(app, r.text("Data"))
        };
        let vars = r
            .values("Variable")
            .flat_map(|v| split_variables(&String::from_utf8_lossy(v)))
            .collect();
        let req = OriginateRequest {
            channel,
            target,
            caller: parse_callerid(&r.text("CallerID")),
            vars,
            timeout: Duration::from_millis(timeout_ms),
            action_id: aid.map(<[u8]>::to_vec),
            is_async,
            sub: self.sub,
        };
        if is_async {
            self.respond(ack(aid, "Originate successfully queued"));
        } else {
            // A synchronous Originate holds the whole session, as in Asterisk.
            self.block = Some(Block::Originate {
                action_id: aid.map(<[u8]>::to_vec),
            });
        }
        self.pbx.lock().originate(req, now);
    }

    fn hangup(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let name = r.text("Channel");
        if name.is_empty() {
            return self.respond(error(aid, "No channel specified"));
        }
        let cause = r
            .text("Cause")
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&c| c <= 127)
            .unwrap_or(0);
        let pbx = self.pbx.clone();
        let mut state = pbx.lock();
        if let Some(pattern) = name.strip_prefix('/').and_then(|n| n.strip_suffix('/')) {
            let Ok(re) = regex::Regex::new(pattern) else {
                drop(state);
                return self.respond(error(aid, format!("Regex compile failed on: {name}")));
            };
            let matched: Vec<_> = state
                .chans
                .iter()
                .filter(|(_, c)| re.is_match(&c.name))
                .map(|(&id, c)| (id, c.name.clone()))
                .collect();
            self.list_start(aid, "Channels hung up will follow");
            for (id, chan) in &matched {
                state.hangup_request(*id, cause, now);
                self.respond(W::event("ChannelHungup").h("Channel", chan).aid(aid));
            }
            return self.list_complete(aid, "ChannelsHungupListComplete", matched.len(), false);
        }
        match state.chan_by_name(&name) {
            None => self.respond(error(aid, "No such channel")),
            Some(id) => {
                self.respond(ack(aid, "Channel Hungup"));
                state.hangup_request(id, cause, now);
            }
        }
    }

    fn redirect(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let name = r.text("Channel");
        if name.is_empty() {
            return self.respond(error(aid, "Channel not specified"));
        }
        let priority = match r.text("Priority").trim() {
            "" => 1,
            p => match p.parse::<u32>() {
                Ok(p) => p,
                Err(_) => return self.respond(error(aid, "Invalid priority")),
            },
        };
        let pbx = self.pbx.clone();
        let mut state = pbx.lock();
        let Some(id) = state.chan_by_name(&name) else {
            drop(state);
            return self.respond(error(aid, format!("Channel does not exist: {name}")));
        };
        self.respond(ack(aid, "Redirect successful"));
        let (context, exten) = (r.text("Context"), r.text("Exten"));
        state.redirect(id, &context, &exten, priority, now);
    }

    /// The channel a variable action names: `Ok(None)` for globals,
    /// `Err` when it does not exist.
    fn var_channel(&self, state: &PbxState, r: &Request) -> Result<Option<u64>, ()> {
        match r.text("Channel") {
            name if name.is_empty() => Ok(None),
            name => state.chan_by_name(&name).map(Some).ok_or(()),
        }
    }

    fn getvar(&mut self, r: &Request, aid: Option<&[u8]>) {
        let var = r.text("Variable");
        if var.is_empty() {
            return self.respond(error(aid, "No variable specified"));
        }
        let pbx = self.pbx.clone();
        let state = pbx.lock();
        let Ok(chan) = self.var_channel(&state, r) else {
            drop(state);
            return self.respond(error(aid, "No such channel"));
        };
        let value = state.read_var(chan, &var);
        drop(state);
        self.respond(
            W::response("Success", aid)
                .h("Variable", var)
                .h("Value", value),
        );
    }

    fn setvar(&mut self, r: &Request, aid: Option<&[u8]>) {
        let var = r.text("Variable");
        if var.is_empty() {
            return self.respond(error(aid, "No variable specified"));
        }
        let pbx = self.pbx.clone();
        let mut state = pbx.lock();
        let Ok(chan) = self.var_channel(&state, r) else {
            drop(state);
            return self.respond(error(aid, "No such channel"));
        };
        self.respond(ack(aid, "Variable Set"));
        state.write_var(chan, &var, &r.text("Value"));
    }

    fn dbput(&mut self, r: &Request, aid: Option<&[u8]>) {
        let (family, key) = (r.text("Family"), r.text("Key"));
        if family.is_empty() {
            return self.respond(error(aid, "No family specified"));
        }
        if key.is_empty() {
            return self.respond(error(aid, "No key specified"));
        }
        self.pbx
            .lock()
            .db
            .insert(format!("/{family}/{key}"), r.text("Val"));
        self.respond(ack(aid, "Updated database successfully"));
    }

    /// Family and key of a DBGet/DBDel; the error response when missing.
    fn db_family_key(&mut self, r: &Request, aid: Option<&[u8]>) -> Option<(String, String)> {
        let (family, key) = (r.text("Family"), r.text("Key"));
        if family.is_empty() {
            self.respond(error(aid, "No family specified."));
            return None;
        }
        if key.is_empty() {
            self.respond(error(aid, "No key specified."));
            return None;
        }
        Some((family, key))
    }

    fn dbget(&mut self, r: &Request, aid: Option<&[u8]>) {
        let Some((family, key)) = self.db_family_key(r, aid) else {
            return;
        };
        let value = self.pbx.lock().db.get(&format!("/{family}/{key}")).cloned();
        let Some(value) = value else {
            return self.respond(error(aid, "Database entry not found"));
        };
        let item = W::event("DBGetResponse")
            .h("Family", &family)
            .h("Key", &key)
            .h("Val", value)
            .aid(aid);
        self.list(aid, "Result will follow", vec![item], "DBGetComplete");
    }

    fn dbgettree(&mut self, r: &Request, aid: Option<&[u8]>) {
        let entries = self.pbx.lock().db_tree(&r.text("Family"), &r.text("Key"));
        let items = entries
            .into_iter()
            .map(|(k, v)| {
                W::event("DBGetTreeResponse")
                    .h("Key", k)
                    .h("Val", v)
                    .aid(aid)
            })
            .collect();
        self.list(aid, "Result will follow", items, "DBGetTreeComplete");
    }

    fn dbdel(&mut self, r: &Request, aid: Option<&[u8]>) {
        let Some((family, key)) = self.db_family_key(r, aid) else {
            return;
        };
        let removed = self.pbx.lock().db.remove(&format!("/{family}/{key}"));
        match removed {
            Some(_) => self.respond(ack(aid, "Key deleted successfully")),
            None => self.respond(error(aid, "Database entry could not be deleted")),
        }
    }

    fn dbdeltree(&mut self, r: &Request, aid: Option<&[u8]>) {
        let family = r.text("Family");
        if family.is_empty() {
            return self.respond(error(aid, "No family specified."));
        }
        let deleted = self.pbx.lock().db_del_tree(&family, &r.text("Key"));
        match deleted {
            0 => self.respond(error(aid, "Database entry not found")),
            _ => self.respond(ack(aid, "Key tree deleted successfully")),
        }
    }

    fn user_event(&mut self, r: &Request, aid: Option<&[u8]>) {
        self.respond(ack(aid, "Event Sent"));
        let name = r.text("UserEvent");
        // Every other line of the request, as sent (ActionID included).
        let body: Vec<Vec<u8>> = r
            .lines()
            .filter(|l| !starts_with_ci(l, b"UserEvent:") && !starts_with_ci(l, b"Action:"))
            .map(<[u8]>::to_vec)
            .collect();
        self.pbx.lock().emit(Classes::USER, "UserEvent", |w| {
            let mut w = w.h("UserEvent", name);
            for line in body {
                w.0.extend_from_slice(&line);
                w.0.extend_from_slice(b"\r\n");
            }
            w
        });
    }

    fn extension_state(&mut self, r: &Request, aid: Option<&[u8]>) {
        let exten = r.text("Exten");
        if exten.is_empty() {
            return self.respond(error(aid, "Extension not specified"));
        }
        let context = match r.text("Context") {
            c if c.is_empty() => "default".to_string(),
            c => c,
        };
        let (hint, status) = {
            let pbx = self.pbx.lock();
            match pbx
                .hints()
                .into_iter()
                .find(|(c, e, _)| *c == context && *e == exten)
            {
                Some((_, _, dev)) => {
                    let s = pbx.hint_status(&dev);
                    (dev, (s.0 as i64, s.1))
                }
                None => (String::new(), (-1, "Unknown")),
            }
        };
        self.respond(
            ack(aid, "Extension Status")
                .h("Exten", exten)
                .h("Context", context)
                .h("Hint", hint)
                .h("Status", status.0.to_string())
                .h("StatusText", status.1),
        );
    }

    fn extension_state_list(&mut self, aid: Option<&[u8]>) {
        let items: Vec<W> = {
            let pbx = self.pbx.lock();
            pbx.hints()
                .into_iter()
                .filter(|(_, e, _)| !e.starts_with('_'))
                .map(|(ctx, exten, dev)| {
                    let s = pbx.hint_status(&dev);
                    W::event("ExtensionStatus")
                        .aid(aid)
                        .h("Exten", exten)
                        .h("Context", ctx)
                        .h("Hint", dev)
                        .h("Status", s.0.to_string())
                        .h("StatusText", s.1)
                })
                .collect()
        };
        if items.is_empty() {
            return self.respond(error(aid, "No dialplan hints are available"));
        }
        self.list(
            aid,
            "Extension Statuses will follow",
            items,
            "ExtensionStateListComplete",
        );
    }

    fn device_state_list(&mut self, aid: Option<&[u8]>) {
        let items = {
            let pbx = self.pbx.lock();
            pbx.devices
                .iter()
                .map(|(d, s)| {
                    W::event("DeviceStateChange")
                        .aid(aid)
                        .h("Device", d)
                        .h("State", *s)
                })
                .collect()
        };
        self.list(
            aid,
            "Device State Changes will follow",
            items,
            "DeviceStateListComplete",
        );
    }

    fn bridge_list(&mut self, aid: Option<&[u8]>) {
        let items = {
            let pbx = self.pbx.lock();
            pbx.bridges
                .keys()
                .map(|&id| pbx.bridge_snapshot(W::event("BridgeListItem").aid(aid), id))
                .collect()
        };
        self.list(
            aid,
            "Bridge listing will follow",
            items,
            "BridgeListComplete",
        );
    }

    fn queue_status(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let (queue, member) = (r.text("Queue"), r.text("Member"));
        let items: Vec<W> = {
            let pbx = self.pbx.lock();
            let mut items = Vec::new();
            for q in pbx
                .queues
                .iter()
                .filter(|q| queue.is_empty() || q.config.name == queue)
            {
                let name = &q.config.name;
                let avg = |total: u64| total.checked_div(q.completed).unwrap_or(0);
                items.push(
                    W::event("QueueParams")
                        .h("Queue", name)
                        .h("Max", q.config.max.to_string())
                        .h("Strategy", q.config.strategy.name())
                        .h("Calls", q.callers.len().to_string())
                        .h("Holdtime", avg(q.holdtime).to_string())
                        .h("TalkTime", avg(q.talktime).to_string())
                        .h("Completed", q.completed.to_string())
                        .h("Abandoned", q.abandoned.to_string())
                        .h("ServiceLevel", "0")
                        .h("ServicelevelPerf", "0.0")
                        .h("ServicelevelPerf2", "0.0")
                        .h("Weight", q.config.weight.to_string())
                        .aid(aid),
                );
                for (cfg, st) in q.config.members.iter().zip(&q.members) {
                    if !member.is_empty() && cfg.interface != member && cfg.name != member {
                        continue;
                    }
                    items.push(
                        W::event("QueueMember")
                            .h("Queue", name)
                            .h("Name", &cfg.name)
                            .h("Location", &cfg.interface)
                            .h("StateInterface", &cfg.interface)
                            .h("Membership", "static")
                            .h("Penalty", cfg.penalty.to_string())
                            .h("CallsTaken", st.calls.to_string())
                            .h("LastCall", st.last_call.to_string())
                            .h("LastPause", "0")
                            .h("LoginTime", pbx.login_time().to_string())
                            .h("InCall", u8::from(st.in_call).to_string())
                            .h("Status", st.status.to_string())
                            .h("Paused", u8::from(st.paused).to_string())
                            .h("PausedReason", "")
                            .h("Wrapuptime", "0")
                            .aid(aid),
                    );
                }
                for (pos, caller) in q.callers.iter().enumerate() {
                    let Some(c) = pbx.chans.get(&caller.chan) else {
                        continue;
                    };
                    let or_unknown =
                        |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
                    items.push(
                        W::event("QueueEntry")
                            .h("Queue", name)
                            .h("Position", (pos + 1).to_string())
                            .h("Channel", &c.name)
                            .h("Uniqueid", &c.uniqueid)
                            .h("CallerIDNum", or_unknown(&c.caller.0))
                            .h("CallerIDName", or_unknown(&c.caller.1))
                            .h("ConnectedLineNum", or_unknown(&c.connected.0))
                            .h("ConnectedLineName", or_unknown(&c.connected.1))
                            .h(
                                "Wait",
                                now.saturating_duration_since(caller.joined)
                                    .as_secs()
                                    .to_string(),
                            )
                            .h("Priority", "0")
                            .aid(aid),
                    );
                }
            }
            items
        };
        self.list(
            aid,
            "Queue status will follow",
            items,
            "QueueStatusComplete",
        );
    }

    fn queue_summary(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let queue = r.text("Queue");
        let items: Vec<W> = {
            let pbx = self.pbx.lock();
            pbx.queues
                .iter()
                .filter(|q| queue.is_empty() || q.config.name == queue)
                .map(|q| {
                    let available = q
                        .members
                        .iter()
                        .filter(|m| !m.paused && !m.in_call && m.status == 1)
                        .count();
                    let longest = q
                        .callers
                        .first()
                        .map_or(0, |c| now.saturating_duration_since(c.joined).as_secs());
                    let avg = |total: u64| total.checked_div(q.completed).unwrap_or(0);
                    W::event("QueueSummary")
                        .h("Queue", &q.config.name)
                        .h("LoggedIn", q.members.len().to_string())
                        .h("Available", available.to_string())
                        .h("Callers", q.callers.len().to_string())
                        .h("HoldTime", avg(q.holdtime).to_string())
                        .h("TalkTime", avg(q.talktime).to_string())
                        .h("LongestHoldTime", longest.to_string())
                        .aid(aid)
                })
                .collect()
        };
        self.list(
            aid,
            "Queue summary will follow",
            items,
            "QueueSummaryComplete",
        );
    }

    fn queue_pause(&mut self, r: &Request, aid: Option<&[u8]>) {
        let interface = r.text("Interface");
        if interface.is_empty() {
            return self.respond(error(aid, "Need 'Interface' and 'Paused' parameters."));
        }
        let paused_text = r.text("Paused");
        if paused_text.is_empty() {
            return self.respond(error(aid, "Need 'Interface' and 'Paused' parameters."));
        }
        let paused = is_true(&paused_text);
        let found =
            self.pbx
                .lock()
                .queue_pause(&interface, &r.text("Queue"), paused, &r.text("Reason"));
        match (found, paused) {
            (false, _) => self.respond(error(aid, "Interface not found")),
            (true, true) => self.respond(ack(aid, "Interface paused successfully")),
            (true, false) => self.respond(ack(aid, "Interface unpaused successfully")),
        }
    }
}

/// `CoreCurrentCalls`: calls in progress (a Local pair counts once).
fn active_calls(pbx: &PbxState) -> usize {
    pbx.chans
        .values()
        .filter(|c| !c.name.ends_with(";2"))
        .count()
}

/// The `BridgeId` of a channel (`""` when not bridged).
fn bridge_of(pbx: &PbxState, c: &crate::pbx::Chan) -> String {
    match c.exec {
        Exec::Bridged(id) => pbx
            .bridges
            .get(&id)
            .map(|b| b.uniqueid.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `CallerID:` as `ast_callerid_parse` reads it: `"Name" <num>`, `num`, or a name.
fn parse_callerid(cid: &str) -> (Option<String>, Option<String>) {
    let cid = cid.trim();
    if cid.is_empty() {
        return (None, None);
    }
    let non_empty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    match (cid.find('<'), cid.rfind('>')) {
        (Some(a), Some(b)) if a < b => (
            non_empty(cid[a + 1..b].trim()),
            non_empty(cid[..a].trim().trim_matches('"')),
        ),
        _ if cid
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+*#-() ".contains(&b)) =>
        {
            (non_empty(cid), None)
        }
        _ => (None, non_empty(cid.trim_matches('"'))),
    }
}

/// One `Variable:` header's assignments: split on commas, quotes removed,
/// backslash escapes consumed, as the server re-splits them.
fn split_variables(value: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for ch in value.chars() {
        match ch {
            _ if escaped => {
                cur.push(ch);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter_map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .filter(|(k, _)| !k.is_empty())
        })
        .collect()
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
