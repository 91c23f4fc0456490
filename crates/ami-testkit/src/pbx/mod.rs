//! The fake PBX behind every session of one server: channels, calls and
//! their dialplan, bridges, queues, device and hint states, variables and
//! AstDB, and the events all of it produces.
//!
//! Sans-IO like the sessions: time comes in as `now`, timers are a table
//! ([`Pbx::poll_timeout`], [`Pbx::handle_timeout`]). Every session of a
//! [`crate::TcpServer`] shares one `Pbx`, as every AMI session of an
//! Asterisk shares its channels: a call originated on one connection is in
//! every connection's `CoreShowChannels`, and its events reach every session
//! whose permissions and `Events` mask let them through.

mod bridge;
mod call;
mod chan;
mod devices;
mod dial;
mod queue;
mod vars;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::dialplan::Extension;
use crate::perm::Classes;
use crate::rng::SplitMix64;
use crate::script::ServerConfig;
use crate::wire::W;

pub(crate) use bridge::Bridge;
pub(crate) use chan::{Chan, ChanId, Exec, State};
pub(crate) use dial::{OriginateRequest, Target};
pub(crate) use queue::QueueState;

/// One event on its way to the sessions: its classes (`Privilege:`) and
/// its bytes (the whole frame, which is also what `Filter` regexes see).
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) classes: Classes,
    pub(crate) text: Bytes,
}

/// A session's id as a subscriber of the PBX's events.
pub(crate) type SubId = u64;

/// Most events a session's mailbox keeps before dropping the oldest (a
/// session nobody drives must not grow without bound).
const MAILBOX_MAX: usize = 100_000;

#[derive(Debug, Default)]
struct Mailbox {
    /// The session's `Events` mask ANDed with its read classes; events
    /// outside it are not even queued, as in Asterisk.
    mask: Classes,
    events: VecDeque<Arc<Event>>,
}

/// Something due at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// A `Wait` (in the dialplan or the Originate's application) ended.
    Resume(ChanId),
    /// An Originate's `Timeout` passed without an answer.
    DialTimeout(u64),
    /// A dialed device (or, without dialplan, any destination) answers.
    Answer(ChanId),
    /// Without dialplan: an Originate fails with this reason.
    Fail(u64, u32),
    /// A device's talk time ended: it hangs up.
    DeviceHangup(ChanId),
    /// A queue caller's members rang long enough.
    QueueRingTimeout(ChanId),
    /// A queue caller's next round of ringing.
    QueueRetry(ChanId),
    /// A queue caller waited as long as its `Queue()` allows.
    QueueTimeout(ChanId),
}

/// The whole PBX state; sessions lock it through [`Pbx`].
#[derive(Debug)]
pub(crate) struct PbxState {
    pub(crate) config: Arc<ServerConfig>,
    started: Instant,
    pub(crate) chans: BTreeMap<ChanId, Chan>,
    next_chan: ChanId,
    local_seq: u32,
    tech_seq: u32,
    uid_seq: u64,
    pub(crate) bridges: BTreeMap<u64, Bridge>,
    next_bridge: u64,
    pub(crate) queues: Vec<QueueState>,
    /// Cached device states (`Custom:lamp6001`, `Queue:support`).
    pub(crate) devices: BTreeMap<String, &'static str>,
    /// The hint status last published for each hinted device.
    hints_seen: BTreeMap<String, (u32, &'static str)>,
    pub(crate) db: BTreeMap<String, String>,
    pub(crate) globals: BTreeMap<String, String>,
    timers: Vec<(Instant, u64, Wake)>,
    timer_seq: u64,
    subs: BTreeMap<SubId, Mailbox>,
    next_sub: SubId,
    /// Calls that reached the dialplan (`CoreProcessedCalls`).
    pub(crate) processed: u64,
    origs: BTreeMap<u64, dial::Orig>,
    next_orig: u64,
    /// Outcomes of synchronous Originates, by session: true when answered.
    sync_outcomes: BTreeMap<SubId, bool>,
    rng: SplitMix64,
}

/// The fake PBX: a cheap handle (clone it freely) on the state every
/// session of one server shares.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use ami_testkit::{Pbx, ServerConfig, ServerSession};
///
/// let now = Instant::now();
/// let pbx = Pbx::new(ServerConfig { channels: 4, ..ServerConfig::default() }, now);
/// // Two AMI sessions on the same PBX see the same channels.
/// let a = ServerSession::with_pbx(&pbx);
/// let b = ServerSession::with_pbx(&pbx);
/// assert_eq!(pbx.channels().len(), 4);
/// assert_eq!(pbx.channels()[0], "Local/long@test-00000000;1");
/// # drop((a, b));
/// ```
#[derive(Clone, Debug)]
pub struct Pbx(Arc<Mutex<PbxState>>);

impl Pbx {
    /// A PBX whose clock starts at `now`, with the stage of `config` set
    /// up (the calls up at the start, variables, AstDB, queues).
    pub fn new(config: impl Into<Arc<ServerConfig>>, now: Instant) -> Pbx {
        Pbx(Arc::new(Mutex::new(PbxState::new(config.into(), now))))
    }

    /// The configuration the PBX runs.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.lock().config.clone()
    }

    /// The next instant [`Pbx::handle_timeout`] has work (a `Wait` ending,
    /// a device answering, a queue retrying), if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lock().poll_timeout()
    }

    /// Runs everything due at `now`, in order; early calls do nothing.
    pub fn handle_timeout(&self, now: Instant) {
        self.lock().handle_timeout(now);
    }

    /// The live channels' names, oldest first.
    pub fn channels(&self) -> Vec<String> {
        self.lock().chans.values().map(|c| c.name.clone()).collect()
    }

    /// The channels waiting in queue `queue`, first in line first.
    pub fn queue_callers(&self, queue: &str) -> Vec<String> {
        let state = self.lock();
        state
            .queues
            .iter()
            .find(|q| q.config.name == queue)
            .map(|q| {
                q.callers
                    .iter()
                    .filter_map(|c| state.chans.get(&c.chan).map(|c| c.name.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many bridges exist.
    pub fn bridges(&self) -> usize {
        self.lock().bridges.len()
    }

    /// Publishes event frames made elsewhere (a traffic simulator's): each
    /// goes to every session whose mask holds all the classes of its
    /// `Privilege:` header (an event without one reaches every session
    /// that receives events), after its `Filter`s.
    pub fn publish(&self, frames: &[u8]) {
        let mut state = self.lock();
        for frame in split_frames(frames) {
            let classes = privilege_of(frame);
            state.deliver(Event {
                classes,
                text: Bytes::copy_from_slice(frame),
            });
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, PbxState> {
        // A panicking session must not take the other sessions down.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The frames in `bytes` (each up to and including its blank line).
fn split_frames(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memmem::find(rest, b"\r\n\r\n").map_or(rest.len(), |i| i + 4);
        let (frame, tail) = rest.split_at(end);
        rest = tail;
        Some(frame)
    })
}

/// The classes of a frame's `Privilege:` header (none without one).
pub(crate) fn privilege_of(frame: &[u8]) -> Classes {
    frame
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Privilege: "))
        .map(|v| Classes::parse(String::from_utf8_lossy(v).trim_end()))
        .unwrap_or(Classes::NONE)
}

impl PbxState {
    fn new(config: Arc<ServerConfig>, now: Instant) -> PbxState {
        let queues = config.queues.iter().cloned().map(QueueState::new).collect();
        let mut state = PbxState {
            started: now,
            chans: BTreeMap::new(),
            next_chan: 0,
            local_seq: config.channel_seq,
            tech_seq: 0,
            uid_seq: 0,
            bridges: BTreeMap::new(),
            next_bridge: 0,
            queues,
            devices: BTreeMap::new(),
            hints_seen: BTreeMap::new(),
            db: config.astdb.clone(),
            globals: config.globals.clone(),
            timers: Vec::new(),
            timer_seq: 0,
            subs: BTreeMap::new(),
            next_sub: 0,
            processed: 0,
            origs: BTreeMap::new(),
            next_orig: 0,
            sync_outcomes: BTreeMap::new(),
            rng: SplitMix64::new(config.seed),
            config,
        };
        for (_, _, device) in state.hints() {
            let status = state.hint_status(&device);
            state.hints_seen.insert(device, status);
        }
        // Whole calls, and half of one when the count is odd.
        let channels = state.config.channels as u32;
        for call in 0..channels.div_ceil(2) {
            state.stage_call((channels - 2 * call).min(2), now);
        }
        state
    }

    // ----- clock and ids -------------------------------------------------------

    /// Unix time at `now` on the server's clock.
    pub(crate) fn epoch(&self, now: Instant) -> f64 {
        self.config.epoch + now.saturating_duration_since(self.started).as_secs_f64()
    }

    /// Seconds the fake Asterisk has been up at `now`.
    pub(crate) fn uptime(&self, now: Instant) -> u64 {
        self.config.uptime + now.saturating_duration_since(self.started).as_secs()
    }

    fn next_uniqueid(&mut self, now: Instant) -> String {
        let id = format!("{}.{}", self.epoch(now) as u64, self.uid_seq);
        self.uid_seq += 1;
        id
    }

    /// A bridge id in Asterisk's UUID form.
    fn next_bridge_uuid(&mut self) -> String {
        let r = &mut self.rng;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            r.next_u64() as u32,
            r.next_u64() as u16,
            r.next_u64() as u16,
            r.next_u64() as u16,
            r.next_u64() & 0xffff_ffff_ffff
        )
    }

    // ----- sessions and events -------------------------------------------------

    /// Registers a session; its mask starts empty (not logged in).
    pub(crate) fn subscribe(&mut self) -> SubId {
        self.next_sub += 1;
        self.subs.insert(self.next_sub, Mailbox::default());
        self.next_sub
    }

    pub(crate) fn unsubscribe(&mut self, sub: SubId) {
        self.subs.remove(&sub);
        self.sync_outcomes.remove(&sub);
    }

    /// Sets which classes a session queues from now on.
    pub(crate) fn set_mask(&mut self, sub: SubId, mask: Classes) {
        if let Some(m) = self.subs.get_mut(&sub) {
            m.mask = mask;
        }
    }

    /// Takes the events queued for a session.
    pub(crate) fn take_events(&mut self, sub: SubId) -> VecDeque<Arc<Event>> {
        self.subs
            .get_mut(&sub)
            .map(|m| std::mem::take(&mut m.events))
            .unwrap_or_default()
    }

    /// Whether events wait for a session.
    pub(crate) fn has_events(&self, sub: SubId) -> bool {
        self.subs.get(&sub).is_some_and(|m| !m.events.is_empty())
    }

    /// Queues an event for every session whose mask holds all its classes.
    fn deliver(&mut self, event: Event) {
        let event = Arc::new(event);
        for m in self.subs.values_mut() {
            if !m.mask.is_empty() && m.mask.contains(event.classes) {
                if m.events.len() >= MAILBOX_MAX {
                    m.events.pop_front();
                }
                m.events.push_back(event.clone());
            }
        }
    }

    /// Publishes an event of `classes` (`Privilege:` is written here).
    pub(crate) fn emit(&mut self, classes: Classes, name: &str, body: impl FnOnce(W) -> W) {
        let w = body(W::event(name).h("Privilege", classes.to_string()));
        self.deliver(Event {
            classes,
            text: w.done(),
        });
    }

    /// Publishes a channel event: the snapshot of `chan`, then `extra`.
    pub(crate) fn chan_event(
        &mut self,
        classes: Classes,
        name: &str,
        chan: ChanId,
        extra: impl FnOnce(W) -> W,
    ) {
        let Some(c) = self.chans.get(&chan) else {
            return;
        };
        let w = c.snapshot(W::event(name).h("Privilege", classes.to_string()), "");
        let w = extra(w);
        self.deliver(Event {
            classes,
            text: w.done(),
        });
    }

    // ----- timers --------------------------------------------------------------

    pub(crate) fn schedule(&mut self, at: Instant, wake: Wake) {
        self.timer_seq += 1;
        self.timers.push((at, self.timer_seq, wake));
    }

    pub(crate) fn cancel(&mut self, wake: &Wake) {
        self.timers.retain(|(_, _, w)| w != wake);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().map(|(at, _, _)| *at).min()
    }

    /// Fires every timer due at `now`, oldest first; each runs at its own
    /// due time, so a late call replays the calls as they would have gone.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        loop {
            let due = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, (at, _, _))| *at <= now)
                .min_by_key(|(_, (at, seq, _))| (*at, *seq))
                .map(|(i, _)| i);
            let Some(i) = due else { break };
            let (at, _, wake) = self.timers.remove(i);
            self.fire(wake, at);
        }
    }

    fn fire(&mut self, wake: Wake, at: Instant) {
        match wake {
            Wake::Resume(c) => self.resume(c, at),
            Wake::DialTimeout(o) => self.dial_timeout(o, at),
            Wake::Answer(c) => self.answer(c, at),
            Wake::Fail(o, reason) => self.permissive_fail(o, reason, at),
            Wake::DeviceHangup(c) => self.hangup_chan(c, 16, at),
            Wake::QueueRingTimeout(c) => self.queue_ring_timeout(c, at),
            Wake::QueueRetry(c) => self.queue_ring(c, at),
            Wake::QueueTimeout(c) => self.queue_timeout(c, at),
        }
    }

    // ----- lookups -------------------------------------------------------------

    /// The live channel called `name`.
    pub(crate) fn chan_by_name(&self, name: &str) -> Option<ChanId> {
        self.chans
            .iter()
            .find(|(_, c)| c.name == name)
            .map(|(id, _)| *id)
    }

    /// The extension a call to `exten@context` runs, if the dialplan has it.
    pub(crate) fn find_exten(&self, context: &str, exten: &str) -> Option<Extension> {
        self.config
            .dialplan
            .as_ref()
            .and_then(|d| d.find(context, exten))
            .cloned()
    }
}

/// How long a `Wait(data)` lasts (`data` in seconds, decimals allowed).
pub(crate) fn wait_duration(data: &str) -> Duration {
    let secs: f64 = data.trim().parse().unwrap_or(0.0);
    Duration::from_secs_f64(secs.clamp(0.0, 1e9))
}
