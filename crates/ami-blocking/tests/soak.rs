//! A seeded, randomized, bounded soak of the blocking adapter: the
//! one-thread `Multiplexer` over several fake servers (each with its own
//! faults: answers cut small and slowed, garbage between frames), over
//! flapping servers, beside a server that stops reading; and the blocking
//! `Client` on one.
//!
//! Every action is submitted with an ActionID of the test's choosing that
//! names its node (or a generated one, checked against the id `submit`
//! returned, or unique), and asks for something whose answer says whose
//! it is (a per-node database value, a UserEvent carrying its node), so
//! that an answer given to the wrong action, or from the wrong node, is
//! caught whatever the timing. Each action must end exactly once (its
//! callback called, or its handle filled), `Ok` with its own answer or
//! with an error its way of waiting allows (its timeout, its cancel, its
//! session lost); and the nodes' counters must add up with what the test
//! saw.
//!
//! The actions, and the check that an answer is its own, are
//! `ami_testkit::soak`'s, as in the async adapters' soak. Randomness comes
//! from fixed seeds (`ami_testkit`'s SplitMix64): what is sent where, how it waits, what is cancelled or
//! dropped, and when events are read. Timing varies from run to run; the
//! checks hold under any timing.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ami_blocking::{Client, ClientError, CompletionHandle, Multiplexer, MuxConfig, NodeId};
use ami_blocking::{NodeStats, SubmitError};
use ami_proto::{Action, ActionError, ActionId, Backoff, CircuitBreaker, Completion, Config};
use ami_proto::{Event, QueuePolicy, ReconnectPolicy, SendError, Stats};
use ami_testkit::soak::{db_put, Kind, KINDS, OWNER, SOAK_EVENT};
use ami_testkit::tls::TestPki;
use ami_testkit::{Faults, SplitMix64 as Rng, TcpServer};
use common::{big_user_event, server, tls_server, Watchdog};

/// The seeds every soak runs with.
const SEEDS: [u64; 4] = [0x5eed_0001, 0xa11c_e5ee, 0xdead_10cc, 0x0bad_cafe];

/// How a node's server behaves, and so which failures its actions may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Answers everything (slowly, in pieces, with garbage): only the
    /// caller's own timeouts and cancels fail an action.
    Steady,
    /// Drops each connection shortly after accepting it: actions may also
    /// be lost with their session, or refused between sessions.
    Flapping,
    /// Stops reading after the login: every action sent there times out
    /// (all have a timeout), or is refused once the buffers are full.
    Stuck,
}

/// One action the test started.
#[derive(Debug)]
struct Entry {
    node: usize,
    kind: Kind,
    /// The ActionID it was submitted with: the test's, or the generated
    /// one `submit` returned (`None`: generated, submitted for a handle).
    id: Option<String>,
    /// It has a timeout of its own.
    timeout: bool,
    /// `cancel` said it was pending: it must end `Cancelled`.
    cancelled: bool,
}

/// One node's tally.
#[derive(Debug, Default)]
struct Tally {
    /// Actions the node took (`submit` returned `Ok`).
    submitted: u64,
    ok: u64,
    cancelled: u64,
    timed_out: u64,
    /// Lost with their session.
    lost: u64,
    /// Handles dropped before their outcome was taken.
    dropped: u64,
    /// Submits refused (between sessions, or full buffers).
    refused: u64,
    /// The ActionIDs of the answers given (each at most once).
    answered: HashSet<Vec<u8>>,
    /// UserEvents submitted, and those answered `Ok`.
    events_sent: HashSet<String>,
    events_ok: HashSet<String>,
    /// Events delivered (handler or queue), and the soak's UserEvents
    /// among them, by ActionID.
    delivered: u64,
    events_seen: HashSet<String>,
}

/// What every action of a run became; checked at the end.
struct Ledger {
    modes: Vec<Mode>,
    pending: BTreeMap<u64, Entry>,
    nodes: Vec<Tally>,
    /// What must not happen: a foreign answer, an outcome not allowed, an
    /// action ended twice.
    failures: Vec<String>,
}

type Shared = Arc<Mutex<Ledger>>;

fn entries(l: &Shared) -> MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ledger {
    fn new(modes: Vec<Mode>) -> Shared {
        let nodes = modes.iter().map(|_| Tally::default()).collect();
        Arc::new(Mutex::new(Ledger {
            modes,
            pending: BTreeMap::new(),
            nodes,
            failures: Vec::new(),
        }))
    }

    /// Action `token` ended with `result` (a callback ran, a handle gave it).
    fn end(&mut self, token: u64, result: Result<Completion, ActionError>) {
        let Some(entry) = self.pending.remove(&token) else {
            self.failures.push(format!(
                "action {token} ended again (or was never started): {result:?}"
            ));
            return;
        };
        let mode = self.modes[entry.node];
        let tally = &mut self.nodes[entry.node];
        let what = format!("{entry:?} ({mode:?})");
        match result {
            Ok(_) if entry.cancelled => {
                self.failures
                    .push(format!("{what}: cancelled, yet completed Ok"));
            }
            Ok(_) if mode == Mode::Stuck => {
                self.failures
                    .push(format!("{what}: Ok from a server that reads nothing"));
            }
            Ok(done) => match entry.kind.check(&done, entry.id.as_deref(), entry.node) {
                Ok(got) => {
                    tally.ok += 1;
                    if !tally.answered.insert(got.clone()) {
                        let got = String::from_utf8_lossy(&got);
                        self.failures
                            .push(format!("{what}: answer {got} given twice"));
                    }
                    if let (Kind::UserEvent, Some(id)) = (entry.kind, entry.id) {
                        tally.events_ok.insert(id);
                    }
                }
                Err(foreign) => self.failures.push(foreign),
            },
            Err(ActionError::Cancelled) if entry.cancelled => tally.cancelled += 1,
            Err(ActionError::Timeout(_)) if entry.timeout && !entry.cancelled => {
                tally.timed_out += 1;
            }
            Err(ActionError::ConnectionLost) if mode == Mode::Flapping => tally.lost += 1,
            Err(e) => self.failures.push(format!("{what} failed: {e:?}")),
        }
    }

    /// `event` was delivered from `node`: to its handler or the queue.
    fn saw(&mut self, node: usize, event: &Event) {
        let tally = &mut self.nodes[node];
        tally.delivered += 1;
        if event.get_str("UserEvent").as_deref() != Some(SOAK_EVENT) {
            return;
        }
        let id = event.get_str("ActionID").unwrap_or_default().into_owned();
        let from = event.get_str(OWNER).unwrap_or_default().into_owned();
        if from != node.to_string() {
            self.failures.push(format!(
                "event {id} of node {from} delivered as node {node}'s"
            ));
        } else if !tally.events_sent.contains(&id) {
            self.failures
                .push(format!("event {id} on node {node}: never raised there"));
        } else if !tally.events_seen.insert(id.clone()) {
            self.failures
                .push(format!("event {id} on node {node} delivered twice"));
        }
    }

    /// The first failures and pending actions, for a panic message.
    fn summary(&self) -> String {
        let pending: Vec<_> = self.pending.iter().take(20).collect();
        format!(
            "{} failures {:#?}; {} actions pending, among them {pending:#?}",
            self.failures.len(),
            &self.failures[..self.failures.len().min(20)],
            self.pending.len()
        )
    }
}

/// A multiplexer over fake servers, the test's actions on it and what
/// they became.
struct Soak {
    what: String,
    rng: Rng,
    mux: Multiplexer,
    nodes: Vec<NodeId>,
    ledger: Shared,
    /// Actions whose outcome is polled from a handle.
    handles: Vec<(u64, CompletionHandle)>,
    /// Actions submitted with a callback, which `cancel` can name.
    named: Vec<(u64, NodeId, ActionId)>,
    next_token: u64,
    /// Actions submitted with a timeout (of 1 to 20 ms), in a hundred.
    timeout_pct: u64,
    /// Each node's counters once set up (logged in, its key stored).
    before: Vec<Stats>,
    /// Turns left without reading events.
    deaf: u64,
    /// Each node's event queue policy.
    policies: Vec<QueuePolicy>,
}

impl Soak {
    fn mode(&self, node: usize) -> Mode {
        entries(&self.ledger).modes[node]
    }

    /// Submits one random action to `node`, with a callback or for a
    /// handle, with a timeout or none.
    fn submit_one(&mut self, node: usize) {
        let token = self.next_token;
        self.next_token += 1;
        let mode = self.mode(node);
        // UserEvents weigh more: their events fill the queues.
        let kind = match self.rng.chance(30) {
            true => Kind::UserEvent,
            false => KINDS[self.rng.pick(KINDS.len())],
        };
        let id = (kind != Kind::GeneratedPing).then(|| format!("soak-n{node}-{token}"));
        let mut action = match mode {
            // Big enough to fill the socket buffers soon.
            Mode::Stuck if self.rng.chance(70) => big_user_event("Stuck"),
            _ => kind.action(id.as_deref(), node),
        };
        if let (Mode::Stuck, Some(id)) = (mode, &id) {
            action = action.with_action_id(id.as_str());
        }
        let timeout = mode == Mode::Stuck || self.rng.chance(self.timeout_pct);
        if timeout {
            let ms = self.rng.range(1, 20);
            action = action.with_timeout(Duration::from_millis(ms));
        }
        let entry = Entry {
            node,
            kind,
            id: id.clone(),
            timeout,
            cancelled: false,
        };
        entries(&self.ledger).pending.insert(token, entry);
        let n = self.nodes[node];
        let submitted = match self.rng.chance(40) {
            true => self.mux.submit_handle(n, action).map(|h| {
                self.handles.push((token, h));
                None
            }),
            false => {
                let ledger = self.ledger.clone();
                let callback = move |r| entries(&ledger).end(token, r);
                self.mux.submit(n, action, callback).map(Some)
            }
        };
        let mut l = entries(&self.ledger);
        match submitted {
            Ok(named) => {
                let tally = &mut l.nodes[node];
                tally.submitted += 1;
                if let (Kind::UserEvent, Some(id), false) = (kind, &id, mode == Mode::Stuck) {
                    tally.events_sent.insert(id.clone());
                }
                let Some(aid) = named else { return };
                match &id {
                    Some(id) if aid.as_str() != id => {
                        l.failures.push(format!("{id} submitted as {aid}"));
                    }
                    Some(_) => {}
                    None => {
                        if let Some(entry) = l.pending.get_mut(&token) {
                            entry.id = Some(aid.as_str().to_owned());
                        }
                    }
                }
                self.named.push((token, n, aid));
            }
            // Between sessions.
            Err(SubmitError::NotReady(_)) if mode == Mode::Flapping => {
                l.pending.remove(&token);
                l.nodes[node].refused += 1;
            }
            // The kernel's buffers full, then the core's.
            Err(SubmitError::Refused(SendError::WriteBufferFull { .. })) if mode == Mode::Stuck => {
                l.pending.remove(&token);
                l.nodes[node].refused += 1;
            }
            Err(e) => {
                l.pending.remove(&token);
                l.failures
                    .push(format!("{id:?} ({kind:?}) to node {node} refused: {e}"));
            }
        }
    }

    /// Cancels an action submitted with a callback, the newest or a random
    /// one; an action that ended already is not pending for the
    /// multiplexer either.
    fn cancel_one(&mut self, newest: bool) {
        if self.named.is_empty() {
            return;
        }
        let at = match newest {
            true => self.named.len() - 1,
            false => self.rng.pick(self.named.len()),
        };
        let (token, node, aid) = self.named.swap_remove(at);
        // Another node has no action of this id (the test's name their
        // node; generated ones are its own): nothing to cancel there.
        let other = self.nodes[(node.index() + 1) % self.nodes.len()];
        let elsewhere = self.mux.cancel(other, &aid);
        let cancelled = self.mux.cancel(node, &aid);
        let mut l = entries(&self.ledger);
        if elsewhere {
            l.failures
                .push(format!("{aid} of {node:?} cancelled on {other:?}"));
        }
        let steady = l.modes[node.index()] == Mode::Steady;
        match (l.pending.get_mut(&token), cancelled) {
            (Some(entry), true) => entry.cancelled = true,
            (None, true) => l.failures.push(format!("{aid}: ended, yet cancelled")),
            // Between ticks, a live steady session holds every action the
            // test has not seen end.
            (Some(_), false) if steady => {
                l.failures
                    .push(format!("{aid}: pending, yet not cancelled"));
            }
            _ => {}
        }
    }

    /// Drops a random handle before its outcome is taken.
    fn drop_one(&mut self) {
        if self.handles.is_empty() {
            return;
        }
        let (token, handle) = self.handles.swap_remove(self.rng.pick(self.handles.len()));
        drop(handle);
        let mut l = entries(&self.ledger);
        if let Some(entry) = l.pending.remove(&token) {
            l.nodes[entry.node].dropped += 1;
        }
    }

    /// Takes the outcomes the handles hold, each once.
    fn poll_handles(&mut self) {
        let mut l = entries(&self.ledger);
        self.handles
            .retain(|(token, handle)| match handle.try_take() {
                Some(result) => {
                    l.end(*token, result);
                    if handle.try_take().is_some() || !handle.is_done() {
                        l.failures
                            .push(format!("action {token}: handle gave twice"));
                    }
                    false
                }
                None => true,
            });
    }

    /// Reads the queued events as the dice say: all, a few, or none (the
    /// queue fills, and events wait in the cores).
    fn read_events(&mut self) {
        if self.deaf > 0 {
            self.deaf -= 1;
            return;
        }
        if self.rng.chance(5) {
            // Nobody reads for a while: the queue fills, then the cores.
            self.deaf = self.rng.range(10, 150);
        }
        let mut l = entries(&self.ledger);
        match self.rng.range(0, 2) {
            0 => self.mux.events().for_each(|(n, e)| l.saw(n.index(), &e)),
            1 => {
                for _ in 0..self.rng.range(1, 4) {
                    let Some((n, e)) = self.mux.next_event() else {
                        break;
                    };
                    l.saw(n.index(), &e);
                }
            }
            _ => {}
        }
    }

    /// Reads every queued event.
    fn drain_events(&mut self) {
        let mut l = entries(&self.ledger);
        self.mux.events().for_each(|(n, e)| l.saw(n.index(), &e));
    }

    /// One turn: a tick of up to a few ms, then events, then handles.
    fn turn(&mut self) {
        let wait = Duration::from_millis(self.rng.range(0, 3));
        self.mux.tick(wait);
        self.read_events();
        self.poll_handles();
    }

    /// `actions` random actions on random nodes (ready ones only, unless
    /// `blind`: then a node between sessions refuses them), with cancels,
    /// dropped handles and turns in between; then turns until every action
    /// ended. Fails past `limit` (or 20,000 turns) listing what is still
    /// pending.
    fn run(&mut self, actions: u64, limit: Duration, blind: bool) {
        let started = Instant::now();
        let mut submitted = 0;
        let mut turns = 0u64;
        loop {
            if submitted < actions {
                for _ in 0..self.rng.range(0, 4) {
                    let node = self.rng.pick(self.nodes.len());
                    if blind || self.mux.is_ready(self.nodes[node]) {
                        self.submit_one(node);
                        submitted += 1;
                    }
                    if self.rng.chance(8) {
                        // Before its answer could come, mostly.
                        self.cancel_one(true);
                    }
                }
            }
            if self.rng.chance(12) {
                self.cancel_one(false);
            }
            if self.rng.chance(6) {
                self.drop_one();
            }
            self.turn();
            turns += 1;
            let l = entries(&self.ledger);
            if submitted >= actions && l.pending.is_empty() {
                assert!(l.failures.is_empty(), "{}: {}", self.what, l.summary());
                return;
            }
            if turns > 20_000 || started.elapsed() > limit {
                panic!(
                    "{}: stalled ({turns} turns, {:?}); {}",
                    self.what,
                    started.elapsed(),
                    l.summary()
                );
            }
        }
    }

    /// Turns until `done`, failing past `limit`.
    fn turns_until(
        &mut self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&mut Soak) -> bool,
    ) {
        let end = Instant::now() + limit;
        while !done(self) {
            assert!(
                Instant::now() < end,
                "{}: {what} not within {limit:?}; {}",
                self.what,
                entries(&self.ledger).summary()
            );
            self.turn();
        }
    }

    /// A Ping with the test's id on each of `nodes`, for a handle: every
    /// one answered `Ok` with its own answer.
    fn ping_round(&mut self, nodes: &[usize], tag: &str) {
        let handles: Vec<_> = nodes
            .iter()
            .map(|&i| {
                let id = format!("{tag}-n{i}");
                let ping = Kind::Ping.action(Some(&id), i);
                let handle = self.mux.submit_handle(self.nodes[i], ping);
                (
                    i,
                    id,
                    handle.unwrap_or_else(|e| panic!("{}: {tag} on node {i}: {e}", self.what)),
                )
            })
            .collect();
        self.turns_until(Duration::from_secs(3), tag, |_| {
            handles.iter().all(|(_, _, h)| h.is_done())
        });
        for (i, id, handle) in handles {
            let done = handle.try_take().expect("done");
            let checked = done.map(|done| Kind::Ping.check(&done, Some(&id), i));
            assert!(
                matches!(checked, Ok(Ok(_))),
                "{}: {tag} on node {i}: {checked:?}",
                self.what
            );
        }
    }

    /// Reads events until none waits anywhere: in the queue or a core.
    fn settle(&mut self) {
        let nodes = self.nodes.clone();
        self.turns_until(Duration::from_secs(3), "the events drained", |s| {
            s.drain_events();
            s.mux.queued_events() == 0
                && nodes
                    .iter()
                    .all(|&n| stats(&s.mux, n).session.queue_depth == 0)
        });
    }
}

/// The faults that are set, for messages.
fn brief(faults: &[Faults]) -> String {
    let one = |f: &Faults| {
        let mut parts = Vec::new();
        if let Some(n) = f.write_chunk {
            parts.push(format!("chunk {n}"));
        }
        if let Some(d) = f.write_delay {
            parts.push(format!("delay {d:?}"));
        }
        if let Some(n) = f.garbage_every {
            parts.push(format!("garbage/{n}"));
        }
        if let Some(d) = f.drop_after {
            parts.push(format!("drop after {d:?}"));
        }
        if f.stop_reading_after_login {
            parts.push("stops reading".to_owned());
        }
        format!("[{}]", parts.join(", "))
    };
    faults.iter().map(one).collect::<Vec<_>>().join(" ")
}

/// Adds a node over TLS, its certificate signed by the CA `ca` (PEM).
#[cfg(feature = "tls")]
fn add_tls(mux: &mut Multiplexer, addr: SocketAddr, cfg: Config, ca: String) -> NodeId {
    let tls = ami_blocking::TlsConfig::new().with_ca_pem(ca);
    mux.add_server_tls(addr, cfg, tls).expect("config")
}

#[cfg(not(feature = "tls"))]
fn add_tls(_: &mut Multiplexer, _: SocketAddr, _: Config, _: String) -> NodeId {
    unreachable!("no TLS node without the `tls` feature")
}

fn stats(mux: &Multiplexer, node: NodeId) -> NodeStats {
    mux.stats(node).expect("a known node")
}

/// A client configuration for the fake server's `admin` user: no heartbeat
/// (its pings would blur the counters), a seed of the run's.
fn config(name: &str, seed: u64) -> Config {
    let mut c = common::config(name);
    c.heartbeat_interval = None;
    c.seed ^= seed;
    c
}

/// A fast reconnect: a flapping server is back within tens of ms.
fn fast_reconnect(seed: u64) -> ReconnectPolicy {
    let backoff = Backoff::new(Duration::from_millis(5), Duration::from_millis(30), seed);
    let breaker = CircuitBreaker::new(1_000, Duration::from_millis(100), 1);
    ReconnectPolicy::new(backoff, breaker)
}

/// Whether the events a session queued were all delivered or counted
/// dropped, none waiting. Drop-oldest queues each event, then counts the
/// one it evicts; back-pressure counts only what the adapter drops (the
/// answer must not wait: invariant 11), those queued too. Drop-newest
/// counts the events it refuses, never queued, and nothing else drops a
/// live session's events.
fn events_add_up(policy: QueuePolicy, delivered: u64, s: &Stats) -> bool {
    s.queue_depth == 0
        && match policy {
            QueuePolicy::DropNewest => delivered == s.events_queued,
            _ => delivered + s.events_dropped_full == s.events_queued,
        }
}

/// Each UserEvent `srv` got raised one event: `seen` of them were
/// delivered (once each, as the ledger checks), the rest dropped and counted
/// in `dropped`. Returns how many were not seen.
fn user_events_add_up(what: &str, srv: &TcpServer, seen: u64, dropped: u64) -> u64 {
    let raised = srv.received_actions();
    let raised = raised.iter().filter(|a| *a == "UserEvent").count() as u64;
    assert!(seen <= raised, "{what}: {seen} events of {raised} raised");
    let missing = raised - seen;
    assert!(
        missing <= dropped,
        "{what}: {missing} UserEvents lost, {dropped} dropped"
    );
    missing
}

const POLICIES: [QueuePolicy; 3] = [
    QueuePolicy::DropOldest,
    QueuePolicy::DropNewest,
    QueuePolicy::Backpressure,
];

/// A multiplexer over `servers`, each node with a small event queue of a
/// random policy, stored its database key; one node's events go to a
/// handler (when the dice say so), the others' to a small queue.
fn soak_over(
    seed: u64,
    what: String,
    servers: &[TcpServer],
    modes: Vec<Mode>,
    tls: &[Option<String>],
) -> Soak {
    let mut rng = Rng::new(seed);
    let mut mc = MuxConfig::default();
    mc.event_queue = rng.range(1, 8) as usize;
    mc.event_budget = rng.range(2, 64) as usize;
    mc.read_budget = rng.range(512, 16 << 10) as usize;
    mc.frame_budget = rng.range(1, 64);
    // Ticks cut short: the nodes left go first in the next one.
    mc.max_tick = Duration::from_millis(rng.range(1, 20));
    let mut mux = Multiplexer::new(mc).expect("poller");
    let ledger = Ledger::new(modes.clone());
    let policies: Vec<_> = servers
        .iter()
        .map(|_| POLICIES[rng.pick(POLICIES.len())])
        .collect();
    let nodes: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // A seed of its own: generated ActionIDs differ between nodes.
            let mut cfg = config(&format!("soak{i}"), seed ^ ((i as u64 + 1) << 32));
            cfg.event_queue = rng.range(2, 8) as usize;
            cfg.queue_policy = policies[i];
            if modes[i] == Mode::Stuck {
                // The least that holds any action: refusals come sooner.
                cfg.max_write_buffer = 128 << 10;
            }
            let node = match tls.get(i).cloned().flatten() {
                Some(ca) => add_tls(&mut mux, s.addr(), cfg, ca),
                None => mux.add_server(s.addr(), cfg).expect("config"),
            };
            if modes[i] == Mode::Flapping {
                let policy = fast_reconnect(seed ^ i as u64);
                mux.set_reconnect_policy(node, policy).expect("policy");
            }
            node
        })
        .collect();
    let i = rng.pick(nodes.len());
    let l = ledger.clone();
    mux.on_event(nodes[i], move |e| entries(&l).saw(i, &e));
    let mut soak = Soak {
        what,
        rng,
        mux,
        nodes,
        ledger,
        handles: Vec::new(),
        named: Vec::new(),
        next_token: 0,
        timeout_pct: 25,
        before: Vec::new(),
        deaf: 0,
        policies,
    };
    let limit = Duration::from_secs(5);
    soak.turns_until(limit, "every node ready", |s| {
        s.nodes.iter().all(|&n| s.mux.is_ready(n))
    });
    // The keys the DBGets read, each in its own node's server only.
    for (i, &mode) in modes.iter().enumerate() {
        if mode == Mode::Stuck {
            continue;
        }
        let n = soak.nodes[i];
        // A flapping server may drop it: again, on the next session.
        for attempt in 1.. {
            soak.turns_until(limit, "the node ready", |s| s.mux.is_ready(n));
            let put = soak.mux.submit_handle(n, db_put(i));
            let put = put.unwrap_or_else(|e| panic!("{}: DBPut on node {i}: {e}", soak.what));
            soak.turns_until(limit, "the DBPut", |_| put.is_done());
            match put.try_take().expect("done") {
                Ok(_) => break,
                Err(ActionError::ConnectionLost) if mode == Mode::Flapping && attempt < 20 => {}
                Err(e) => panic!("{}: DBPut on node {i}: {e:?}", soak.what),
            }
        }
    }
    soak.before = soak
        .nodes
        .iter()
        .map(|&n| stats(&soak.mux, n).session)
        .collect();
    soak
}

/// The multiplexer soak, one seed: 3 to 5 nodes, one slow, each with its
/// own faults; a random mix of actions with callbacks and handles,
/// timeouts, cancels and dropped handles; events read on some turns only.
fn mux_soak_one(seed: u64) {
    let mut rng = Rng::new(seed ^ 0x6d75);
    let count = rng.range(3, 5) as usize;
    let slow = rng.pick(count);
    let faults: Vec<_> = (0..count)
        .map(|i| Faults {
            write_chunk: (i == slow || rng.chance(40)).then(|| rng.range(2, 12) as usize),
            write_delay: (i == slow).then(|| rng.micros(5, 30)),
            garbage_every: rng.chance(50).then(|| rng.range(2, 9) as u32),
            ..Faults::default()
        })
        .collect();
    // One node over TLS (with the `tls` feature): its reads lend what the
    // TLS session decrypted, which no socket readiness announces.
    let pki = TestPki::new();
    let tls_node = cfg!(feature = "tls").then(|| rng.pick(count));
    let servers: Vec<_> = faults
        .iter()
        .enumerate()
        .map(|(i, f)| match Some(i) == tls_node {
            true => tls_server(&pki.localhost(), f.clone()),
            false => server(f.clone()),
        })
        .collect();
    let tls: Vec<_> = (0..count)
        .map(|i| (Some(i) == tls_node).then(|| pki.ca_pem()))
        .collect();
    let actions = rng.range(150, 300);
    let faults_text = brief(&faults);
    let what = format!(
        "mux soak, seed {seed:#x} ({count} nodes, TLS {tls_node:?}, {actions} actions, {faults_text})"
    );
    let mut soak = soak_over(seed, what, &servers, vec![Mode::Steady; count], &tls);
    soak.run(actions, Duration::from_secs(4), false);
    // A submit afterwards works on every node; its answer comes after
    // every event of the node's actions, so the counters count them all.
    let all: Vec<_> = (0..count).collect();
    soak.ping_round(&all, "after");
    soak.settle();
    check_counters(&soak, &servers, &all);
    shutdown_in_flight(&mut soak);
}

/// Shuts the multiplexer down with actions in flight: each ends once, as
/// it would have (the servers answer what they read before the Logoff's
/// `Goodbye`); every node logs off and stays down.
fn shutdown_in_flight(soak: &mut Soak) {
    for _ in 0..soak.rng.range(5, 30) {
        let node = soak.rng.pick(soak.nodes.len());
        soak.submit_one(node);
    }
    let report = soak.mux.shutdown(Instant::now() + Duration::from_secs(3));
    soak.poll_handles();
    let what = &soak.what;
    let l = entries(&soak.ledger);
    assert!(
        l.failures.is_empty() && l.pending.is_empty(),
        "{what}, shutdown: {}",
        l.summary()
    );
    assert_eq!(report.logged_off, soak.nodes.len(), "{what}: {report:?}");
    for &n in &soak.nodes {
        assert_eq!(stats(&soak.mux, n).pending, 0, "{what}");
        let refused = soak.mux.submit_handle(n, Action::ping()).err();
        assert_eq!(refused, Some(SubmitError::NotReady(n)), "{what}");
    }
}

/// The nodes' counters against what the test saw: every action sent
/// completed once, the cancels and timeouts counted, every event delivered
/// or counted dropped.
fn check_counters(soak: &Soak, servers: &[TcpServer], nodes: &[usize]) {
    let what = &soak.what;
    let l = entries(&soak.ledger);
    assert!(l.failures.is_empty(), "{what}: {}", l.summary());
    for &i in nodes {
        let (tally, server) = (&l.nodes[i], &servers[i]);
        let what = format!("{what}, node {i}");
        let stats = stats(&soak.mux, soak.nodes[i]);
        let s = stats.session;
        assert_eq!(stats.sessions, 1, "{what}: {stats:?}");
        assert_eq!((stats.pending, s.pending), (0, 0), "{what}: {stats:?}");
        // Since the login and the DBPut; the last Ping is the test's own.
        let d = |f: fn(&Stats) -> u64| f(&s) - f(&soak.before[i]);
        let (sent, ok, failed) = (
            d(|s| s.actions_sent),
            d(|s| s.actions_ok),
            d(|s| s.actions_failed),
        );
        assert_eq!(sent, tally.submitted + 1, "{what}: {tally:?} {s:?}");
        assert_eq!(sent, ok + failed, "{what}: each sent completed once: {s:?}");
        let (own_ok, extra) = (tally.ok + 1, tally.dropped);
        assert!(
            own_ok <= ok && ok <= own_ok + extra,
            "{what}: ok {ok}, seen {own_ok}, dropped {extra}"
        );
        assert_eq!(d(|s| s.cancelled), tally.cancelled, "{what}: cancels");
        let seen = tally.timed_out + tally.cancelled;
        assert!(
            seen <= failed && failed <= seen + extra,
            "{what}: failed {failed}, seen {seen}, dropped {extra}"
        );
        let timeouts = d(|s| s.timeouts);
        assert!(
            tally.timed_out <= timeouts && timeouts <= tally.timed_out + extra,
            "{what}: {timeouts} timeouts, {} seen",
            tally.timed_out
        );
        assert_eq!(s.queue_depth, 0, "{what}: events wait");
        let policy = soak.policies[i];
        assert!(
            events_add_up(policy, tally.delivered, &s),
            "{what}: {} events delivered under {policy:?}: {s:?}",
            tally.delivered
        );
        let seen = tally.events_seen.len() as u64;
        let missing = user_events_add_up(&what, server, seen, s.events_dropped_full);
        let unseen = tally.events_ok.difference(&tally.events_seen).count() as u64;
        assert!(unseen <= missing, "{what}: {unseen} answered, unseen");
        println!(
            "node {i}: {} actions: {} ok, {} cancelled, {} timed out, {} dropped; \
             {} events delivered, {} dropped; {} garbage runs",
            tally.submitted,
            tally.ok,
            tally.cancelled,
            tally.timed_out,
            tally.dropped,
            tally.delivered,
            s.events_dropped_full,
            s.garbage
        );
    }
}

#[test]
fn mux_soak() {
    let _w = Watchdog::new("mux soak", Duration::from_secs(60));
    for seed in SEEDS {
        mux_soak_one(seed);
    }
}

/// Flapping servers: each connection is dropped 100 to 150 ms after it
/// is accepted, and the nodes reconnect at once, while actions go on. An
/// action in flight ends `Ok` with its own answer, lost with its session,
/// or is refused between sessions; never a hang. Once the servers are
/// steady, a round of submits all succeed.
#[test]
fn mux_soak_with_flapping_servers() {
    let _w = Watchdog::new("mux flapping soak", Duration::from_secs(60));
    const SEED: u64 = 0xf1a9_f1a9;
    const COUNT: usize = 3;
    let mut rng = Rng::new(SEED);
    let faults: Vec<_> = (0..COUNT)
        .map(|_| Faults {
            drop_after: Some(Duration::from_millis(rng.range(100, 150))),
            write_chunk: rng.chance(50).then(|| rng.range(4, 16) as usize),
            ..Faults::default()
        })
        .collect();
    let servers: Vec<_> = faults.iter().map(|f| server(f.clone())).collect();
    let what = format!("mux flapping soak ({})", brief(&faults));
    let modes = vec![Mode::Flapping; COUNT];
    let mut soak = soak_over(SEED, what, &servers, modes, &[]);
    soak.timeout_pct = 10;
    // About half a second: three connections or more on each server.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(500) {
        soak.run(40, Duration::from_secs(3), true);
    }
    for (i, s) in servers.iter().enumerate() {
        assert!(s.connections() >= 3, "{}: node {i}: {s:?}", soak.what);
    }
    {
        let l = entries(&soak.ledger);
        let tally = |f: fn(&Tally) -> u64| l.nodes.iter().map(f).sum::<u64>();
        let ok = tally(|t| t.ok);
        let lost = tally(|t| t.lost) + tally(|t| t.refused);
        println!("{}: {ok} ok, {lost} lost or refused", soak.what);
        assert!(ok > 0, "{}: nothing answered", soak.what);
    }

    // The servers steady: once each node is on a connection its server
    // accepted since, every action succeeds. Each session of a node is
    // one connection its server accepted, in order: a session numbered
    // past the connections accepted so far is a steady one.
    for s in &servers {
        s.set_faults(Faults::default());
    }
    let flapped: Vec<_> = servers.iter().map(|s| s.connections()).collect();
    soak.turns_until(Duration::from_secs(3), "steady sessions", |s| {
        let nodes = s.nodes.clone();
        nodes
            .iter()
            .zip(&flapped)
            .all(|(&n, &flapped)| s.mux.is_ready(n) && stats(&s.mux, n).sessions > flapped)
    });
    entries(&soak.ledger).modes = vec![Mode::Steady; COUNT];
    let all: Vec<_> = (0..COUNT).collect();
    soak.ping_round(&all, "steady");
    soak.timeout_pct = 0;
    soak.run(60, Duration::from_secs(3), false);
    // The dropped handles' actions end too: nothing left anywhere.
    soak.turns_until(Duration::from_secs(3), "nothing pending", |s| {
        let nodes = s.nodes.clone();
        nodes.iter().all(|&n| stats(&s.mux, n).pending == 0)
    });
    let l = entries(&soak.ledger);
    assert!(l.failures.is_empty(), "{}: {}", soak.what, l.summary());
}

/// A server that stops reading after its login stalls none of the other
/// nodes: its actions time out (or are refused once the buffers are
/// full), never `Ok`, while the others' all end as they should, within
/// bounded time.
#[test]
fn mux_soak_beside_a_server_that_stops_reading() {
    let _w = Watchdog::new("mux stuck soak", Duration::from_secs(60));
    for seed in &SEEDS[..2] {
        let mut rng = Rng::new(seed ^ 0x57_0c);
        let count = rng.range(3, 4) as usize;
        let stuck = rng.pick(count);
        let faults: Vec<_> = (0..count)
            .map(|i| Faults {
                stop_reading_after_login: i == stuck,
                write_chunk: rng.chance(50).then(|| rng.range(2, 12) as usize),
                garbage_every: rng.chance(50).then(|| rng.range(2, 9) as u32),
                ..Faults::default()
            })
            .collect();
        let servers: Vec<_> = faults.iter().map(|f| server(f.clone())).collect();
        let what = format!("mux stuck soak, seed {seed:#x} ({})", brief(&faults));
        let mut modes = vec![Mode::Steady; count];
        modes[stuck] = Mode::Stuck;
        let mut soak = soak_over(*seed, what, &servers, modes, &[]);
        soak.run(rng.range(200, 300), Duration::from_secs(4), false);
        let others: Vec<_> = (0..count).filter(|&i| i != stuck).collect();
        soak.ping_round(&others, "after");
        soak.settle();
        check_counters(&soak, &servers, &others);
        // The stuck node's dropped handles time out too.
        let n = soak.nodes[stuck];
        soak.turns_until(Duration::from_secs(1), "the stuck node's timeouts", |s| {
            stats(&s.mux, n).pending == 0
        });
        let l = entries(&soak.ledger);
        let t = &l.nodes[stuck];
        let s = stats(&soak.mux, n).session;
        println!(
            "{}: stuck node: {} submitted, {} timed out, {} dropped, {} refused; {} bytes wait",
            soak.what, t.submitted, t.timed_out, t.dropped, t.refused, s.write_buffered
        );
        assert!(
            t.submitted > 0,
            "{}: nothing sent to the stuck node",
            soak.what
        );
        // Everything it took timed out (the dropped handles' too) or was
        // cancelled.
        let d = |f: fn(&Stats) -> u64| f(&s) - f(&soak.before[stuck]);
        let ended = (d(|s| s.actions_ok), d(|s| s.timeouts) + d(|s| s.cancelled));
        assert_eq!(d(|s| s.actions_sent), t.submitted, "{}: {s:?}", soak.what);
        assert_eq!(ended, (0, t.submitted), "{}: {s:?}", soak.what);
        assert_eq!(d(|s| s.cancelled), t.cancelled, "{}: {s:?}", soak.what);
    }
}

/// The same mix on the blocking `Client`, one action at a time: answers
/// cut small, slowed and mixed with garbage; timeouts of 1 to 20 ms whose
/// late answers must reach no later send; events read between some sends
/// and not others. Then its counters.
#[test]
fn client_soak() {
    let _w = Watchdog::new("client soak", Duration::from_secs(60));
    for seed in SEEDS {
        client_soak_one(seed);
    }
}

fn client_soak_one(seed: u64) {
    let mut rng = Rng::new(seed ^ 0xc11e);
    let faults = Faults {
        write_chunk: rng.chance(70).then(|| rng.range(2, 12) as usize),
        write_delay: rng.chance(50).then(|| rng.micros(5, 30)),
        garbage_every: rng.chance(60).then(|| rng.range(2, 9) as u32),
        ..Faults::default()
    };
    let actions = rng.range(60, 120);
    let what = format!(
        "client soak, seed {seed:#x} ({actions} actions, {})",
        brief(std::slice::from_ref(&faults))
    );
    let srv = server(faults);
    let (mut client, policy) = client_for(&srv, seed, &mut rng);
    client.send(db_put(0)).expect("DBPut");
    let before = client.stats();
    let ledger = Ledger::new(vec![Mode::Steady]);
    let mut l = entries(&ledger);
    let ended = client_run(&mut client, &mut l, &mut rng, 0..actions, &what);
    assert!(ended, "{what}: the session closed");
    let last = client.send(Kind::Ping.action(Some("client-last"), 0));
    let last = last.map(|done| Kind::Ping.check(&done, Some("client-last"), 0));
    assert!(matches!(last, Ok(Ok(_))), "{what}: the last send: {last:?}");
    // Every event is decoded by now (the last answer came after them).
    while client.stats().queue_depth > 0 {
        client_read(&mut client, &mut l, u64::MAX);
    }
    assert!(l.failures.is_empty(), "{what}: {}", l.summary());

    let s = client.stats();
    let t = &l.nodes[0];
    assert_eq!(s.pending, 0, "{what}: {s:?}");
    // Since the login and the DBPut, the last Ping included. One action
    // at a time, none dropped: the counts are exact.
    let d = |f: fn(&Stats) -> u64| f(&s) - f(&before);
    assert_eq!(d(|s| s.actions_sent), t.submitted + 1, "{what}: {s:?}");
    assert_eq!(d(|s| s.actions_ok), t.ok + 1, "{what}: {s:?}");
    assert_eq!(d(|s| s.actions_failed), t.timed_out, "{what}: {s:?}");
    assert_eq!(d(|s| s.timeouts), t.timed_out, "{what}: {s:?}");
    assert!(
        events_add_up(policy, t.delivered, &s),
        "{what}: {} events delivered under {policy:?}: {s:?}",
        t.delivered
    );
    user_events_add_up(
        &what,
        &srv,
        t.events_seen.len() as u64,
        s.events_dropped_full,
    );
    drop(l);
    client.close().expect("logs off");
}

/// A client logged in on `srv`, with a small event queue of a random
/// policy (returned).
fn client_for(srv: &TcpServer, seed: u64, rng: &mut Rng) -> (Client, QueuePolicy) {
    let mut cfg = config("client-soak", seed);
    cfg.event_queue = rng.range(2, 16) as usize;
    let policy = POLICIES[rng.pick(POLICIES.len())];
    cfg.queue_policy = policy;
    let client = Client::connect(srv.addr(), Duration::from_secs(2), cfg).expect("login");
    (client, policy)
}

/// Reads up to `most` events, without waiting for more than a
/// millisecond; false once the session is over.
fn client_read(client: &mut Client, l: &mut Ledger, most: u64) -> bool {
    for _ in 0..most {
        match client.next_event(Duration::ZERO) {
            Ok(Some(event)) => l.saw(0, &event),
            Ok(None) => break,
            Err(ClientError::Closed(_)) if l.modes[0] == Mode::Flapping => return false,
            Err(e) => panic!("reading events: {e:?}"),
        }
    }
    true
}

/// Sends the actions numbered `tokens`, one at a time, each of a random
/// kind, with a timeout of 1 to 20 ms or none, reading events between
/// some of them; each outcome goes to `l`. Returns false once the session
/// is over (allowed only when it flaps), true after the last action.
fn client_run(
    client: &mut Client,
    l: &mut Ledger,
    rng: &mut Rng,
    tokens: std::ops::Range<u64>,
    what: &str,
) -> bool {
    let started = Instant::now();
    for token in tokens {
        let limit = Duration::from_secs(4);
        assert!(started.elapsed() < limit, "{what}: not done in {limit:?}");
        let kind = KINDS[rng.pick(KINDS.len())];
        let id = (kind != Kind::GeneratedPing).then(|| format!("client-{token}"));
        let mut action = kind.action(id.as_deref(), 0);
        let timeout = rng.chance(30);
        if timeout {
            action = action.with_timeout(Duration::from_millis(rng.range(1, 20)));
        }
        let entry = Entry {
            node: 0,
            kind,
            id: id.clone(),
            timeout,
            cancelled: false,
        };
        l.pending.insert(token, entry);
        match client.send(action) {
            Ok(done) => l.end(token, Ok(done)),
            Err(ClientError::Action(e)) => l.end(token, Err(e)),
            // Over before it was sent: nothing queued.
            Err(ClientError::Closed(_)) if l.modes[0] == Mode::Flapping => {
                l.pending.remove(&token);
                l.nodes[0].refused += 1;
                return false;
            }
            Err(e) => panic!("{what}: action {token}: {e:?}"),
        }
        l.nodes[0].submitted += 1;
        if let (Kind::UserEvent, Some(id)) = (kind, id) {
            l.nodes[0].events_sent.insert(id);
        }
        if rng.chance(40) && !client_read(client, l, rng.range(1, 8)) {
            return false;
        }
    }
    assert!(l.failures.is_empty(), "{what}: {}", l.summary());
    true
}

/// The client's soak through a session its server drops (150 ms after
/// accepting it): the one action in flight then ends lost, never `Ok`
/// with another's answer, and every send after fails at once; the counters
/// add up. After a reconnect, on a steady server, the soak goes on.
#[test]
fn client_soak_through_a_dropped_session() {
    let _w = Watchdog::new("client flapping soak", Duration::from_secs(60));
    const SEED: u64 = 0xd0_c1;
    let mut rng = Rng::new(SEED);
    let faults = Faults {
        drop_after: Some(Duration::from_millis(150)),
        write_chunk: Some(rng.range(4, 12) as usize),
        garbage_every: Some(rng.range(2, 9) as u32),
        ..Faults::default()
    };
    let what = format!(
        "client soak, dropped ({})",
        brief(std::slice::from_ref(&faults))
    );
    let srv = server(faults);
    let (mut client, _) = client_for(&srv, SEED, &mut rng);
    client.send(db_put(0)).expect("DBPut");
    let before = client.stats();
    let ledger = Ledger::new(vec![Mode::Flapping]);
    let mut l = entries(&ledger);
    let ended = client_run(&mut client, &mut l, &mut rng, 0..100_000, &what);
    assert!(!ended, "{what}: the session outlived its drop");
    assert!(l.failures.is_empty(), "{what}: {}", l.summary());
    let s = client.stats();
    let t = &l.nodes[0];
    println!(
        "{what}: {} sent: {} ok, {} timed out, {} lost",
        t.submitted, t.ok, t.timed_out, t.lost
    );
    // One action at a time: at most one was in flight when it dropped.
    assert!(t.lost <= 1, "{what}: {t:?}");
    let d = |f: fn(&Stats) -> u64| f(&s) - f(&before);
    assert_eq!(s.pending, 0, "{what}: {s:?}");
    assert_eq!(d(|s| s.actions_sent), t.submitted, "{what}: {s:?}");
    assert_eq!(d(|s| s.actions_ok), t.ok, "{what}: {s:?}");
    assert_eq!(
        d(|s| s.actions_failed),
        t.timed_out + t.lost,
        "{what}: {s:?}"
    );
    let after = client.send(Action::ping());
    assert!(
        matches!(after, Err(ClientError::Closed(_))),
        "{what}: {after:?}"
    );

    // A new session on a steady server: the soak goes on, exact again.
    srv.set_faults(Faults::default());
    client.reconnect().expect("reconnects");
    assert_eq!(client.sessions(), 2);
    l.modes[0] = Mode::Steady;
    let before = client.stats();
    let (ok, timed_out) = (l.nodes[0].ok, l.nodes[0].timed_out);
    let ended = client_run(&mut client, &mut l, &mut rng, 100_000..100_040, &what);
    assert!(ended, "{what}: the steady session closed");
    let s = client.stats();
    let d = |f: fn(&Stats) -> u64| f(&s) - f(&before);
    let t = &l.nodes[0];
    assert_eq!(d(|s| s.actions_sent), 40, "{what}: {s:?}");
    assert_eq!(d(|s| s.actions_ok), t.ok - ok, "{what}: {s:?}");
    assert_eq!(
        d(|s| s.actions_failed),
        t.timed_out - timed_out,
        "{what}: {s:?}"
    );
    drop(l);
    client.close().expect("logs off");
}
