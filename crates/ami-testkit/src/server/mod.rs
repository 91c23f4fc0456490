//! `ServerSession`: the fake server's sans-IO state machine for one client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

mod astdb;
mod calls;
mod status;

use crate::actions;
use crate::filter::Filters;
use crate::pbx::{Pbx, SubId};
use crate::perm::Classes;
use crate::request::{Input, Reader, Request};
use crate::rng::{event_tv, SplitMix64};
use crate::script::{ChallengeNonce, ScriptedReply, ServerConfig, User};
use crate::wire::{ack, error, W};

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
        ServerSession::with_pbx(&Pbx::new(config, now))
    }

    /// A fresh session (not logged in) on a shared PBX: it sees the other
    /// sessions' calls and events, they see its.
    pub fn with_pbx(pbx: &Pbx) -> Self {
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

    fn note(&mut self, r: &Request) {
        self.received.push(r.text("Action"));
    }

    /// A security event for every session that reads `security`: the
    /// common headers, then `fields` (given the event's time, for `SessionTV`).
    fn security_event(
        &mut self,
        name: &str,
        severity: &str,
        now: Instant,
        fields: impl FnOnce(W, &str) -> W,
    ) {
        let mut pbx = self.pbx.lock();
        let tv = event_tv(pbx.epoch(now));
        pbx.emit(Classes::SECURITY, name, |w| {
            let w = w
                .h("EventTV", &tv)
                .h("Severity", severity)
                .h("Service", "AMI")
                .h("EventVersion", "1");
            fields(w, &tv)
        });
    }

    /// The session's id as security events show it.
    fn session_id(&self) -> String {
        format!("0x7f3c{:08x}", self.sub)
    }

    fn bad_format(&mut self, action: &str, now: Instant) {
        let action = if action.is_empty() { "NONE" } else { action };
        let user = self
            .user
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        let session = self.session_id();
        self.security_event("RequestBadFormat", "Error", now, |w, tv| {
            w.h("SessionID", session)
                .h("LocalAddress", "IPV4/TCP/127.0.0.1/5038")
                .h("RemoteAddress", "IPV4/TCP/127.0.0.1/39396")
                .h("RequestType", format!("Action: {action}"))
                .h("SessionTV", tv)
                .h("AccountID", user)
        });
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
        if let Some(reply) = self.user.as_ref().and(self.config.replies.get(&lower)) {
            return match reply.clone() {
                ScriptedReply::Status { status, message } => {
                    self.respond(W::response(&status, aid).h("Message", message))
                }
                ScriptedReply::Never => {}
            };
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
            "QueuePause" => self.queue_pause(r, aid, now),
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
        // No (or an empty) Events header: the user's read classes.
        self.send_events = match Classes::parse_mask(&r.text("Events")) {
            Some(mask) => user.read.and(mask),
            None => user.read,
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
        let session = self.session_id();
        self.security_event("SuccessfulAuth", "Informational", now, |w, tv| {
            w.h("AccountID", name)
                .h("SessionID", session)
                .h("LocalAddress", "IPV4/TCP/127.0.0.1/5038")
                .h("RemoteAddress", "IPV4/TCP/127.0.0.1/40560")
                .h("UsingPassword", "0")
                .h("SessionTV", tv)
        });
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
}

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests;
