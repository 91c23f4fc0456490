//! A seeded, randomized, bounded soak of the async client's shared
//! connection: the direct-read path (a lone caller sends its own action
//! and reads its own answer), the hand-backs to the client's task, bursts
//! that go through it, cancellations and dropped sends while answers come
//! slowly, events read on the way, garbage, and a flapping server.
//!
//! Not a test of its own: `ami-smol` and `ami-tokio` include this file
//! (`#[path]`) in their `tests/soak.rs`, each with an [`Exec`] saying how
//! to make its executor, spawn a task on it, wait for a future and freeze
//! the client's task, and run [`soak`], [`flapping`] and [`frozen`] on it.
//! Every action is sent with an ActionID
//! of the test's choosing (or a generated one, checked unique), so that an
//! answer handed to the wrong action is caught, whatever the timing.
//!
//! The actions, and the check that an answer is its own, are
//! `ami_testkit::soak`'s. Randomness comes from the fixed seeds
//! (`ami_testkit`'s SplitMix64): what is sent, when, and what is
//! cancelled or dropped. Timing varies from run to run;
//! the checks hold under any timing.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ami_async::{Client, ClientBuilder, ClientConfig, ClientError, ClientStats, EventStream};
use ami_async::{Runtime, Timer};
use ami_proto::{Action, ActionError, Backoff, CircuitBreaker, Config, QueuePolicy};
use ami_proto::{ReconnectPolicy, Stats};
use ami_testkit::soak::{db_put, Kind, KINDS};
use ami_testkit::{Faults, ServerConfig, SplitMix64 as Rng, TcpServer};
use async_channel::{Receiver, Sender};
use futures_lite::{future, StreamExt};

/// The seeds every executor runs [`soak`] with.
pub(crate) const SEEDS: [u64; 4] = [0x5eed_0001, 0xa11c_e5ee, 0xdead_10cc, 0x0bad_cafe];

/// A spawned task, or the wait for its end.
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An executor for the client and the soak's tasks.
pub(crate) trait Exec: Clone + Send + Sync + 'static {
    /// The client's runtime.
    type Runtime: Runtime;
    /// A fresh executor (one per run).
    fn new() -> Self;
    /// The runtime the client is built on.
    fn runtime(&self) -> Self::Runtime;
    /// A builder whose client task runs on this executor (by default the
    /// runtime's own spawn).
    fn builder(&self, config: ClientConfig) -> ClientBuilder<Self::Runtime> {
        Client::builder_on(self.runtime(), config)
    }
    /// A client logged in on `config`, whose task is then frozen (its
    /// work never done again, whatever wakes it): only callers that send
    /// and read for themselves make progress. The second value keeps the
    /// frozen task (drop it after the client, off the executor).
    fn frozen(&self, config: ClientConfig) -> (Client<Self::Runtime>, Box<dyn std::any::Any>);
    /// Starts `task`; the future returned waits for its end (and fails if
    /// it panicked).
    fn spawn(&self, task: Task) -> Task;
    /// Runs `f` to its end on this thread.
    fn block_on<F: Future>(&self, f: F) -> F::Output;
}

/// Sleeps `d` on the runtime's own timer.
async fn sleep<R: Runtime>(rt: &R, d: Duration) {
    let mut timer = rt.timer(Instant::now() + d);
    future::poll_fn(|cx| timer.poll_fired(cx)).await;
}

/// How the caller waits for its action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// To the end.
    Whole,
    /// Cancels it (`send_cancellable`) after a short random delay.
    Cancel,
    /// Drops the send's future after a short random delay.
    Drop,
    /// With an action timeout of a few milliseconds.
    ShortTimeout,
}

/// The name of the UserEvent that ends the event consumer's reading.
const DONE_EVENT: &str = "SoakDone";

/// What every action of a run became; checked at the end.
#[derive(Default)]
struct Ledger {
    /// Actions started and not ended yet: their id and what they are.
    pending: BTreeMap<String, String>,
    /// The ActionIDs of the answers given (each at most once).
    answered: HashSet<Vec<u8>>,
    /// UserEvents answered `Ok`, and every one sent.
    events_ok: HashSet<String>,
    events_sent: HashSet<String>,
    /// Actions started.
    started: u64,
    ok: u64,
    cancelled: u64,
    timed_out: u64,
    dropped: u64,
    /// Lost with their session.
    lost: u64,
    /// Refused between sessions, the next one's login included
    /// (`Disconnected`): nothing sent.
    disconnected: u64,
    /// What must not happen: a foreign answer, an outcome not allowed.
    failures: Vec<String>,
}

type Shared = Arc<Mutex<Ledger>>;

fn entries(l: &Shared) -> MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

/// One run's client, its executor and what it records.
struct Run<E: Exec> {
    exec: E,
    client: Client<E::Runtime>,
    ledger: Shared,
    /// The server drops connections: losses are allowed.
    flapping: bool,
    /// The turns of lone phases.
    baton: Arc<Baton>,
}

impl<E: Exec> Clone for Run<E> {
    fn clone(&self) -> Self {
        Run {
            exec: self.exec.clone(),
            client: self.client.clone(),
            ledger: self.ledger.clone(),
            flapping: self.flapping,
            baton: self.baton.clone(),
        }
    }
}

impl<E: Exec> Run<E> {
    /// Sends one action of `kind` with id `id`, waits as `wait` says, and
    /// records what it became.
    async fn one(&self, kind: Kind, wait: Wait, id: String, task: usize, rng: &mut Rng) {
        let rt = self.exec.runtime();
        // A generated ActionID is not the test's to check.
        let own = (kind != Kind::GeneratedPing).then_some(id.as_str());
        let mut action = kind.action(own, task);
        if wait == Wait::ShortTimeout {
            action = action.with_timeout(Duration::from_millis(rng.range(1, 20)));
        }
        {
            let mut l = entries(&self.ledger);
            l.started += 1;
            self.baton.started.fetch_add(1, Ordering::Relaxed);
            l.pending.insert(id.clone(), format!("{kind:?} {wait:?}"));
            if kind == Kind::UserEvent {
                l.events_sent.insert(id.clone());
            }
        }
        let delay = rng.micros(0, 2_000);
        let outcome = match wait {
            Wait::Whole | Wait::ShortTimeout => Some(self.client.send(action).await),
            Wait::Cancel => {
                let (cancel, outcome) = self.client.send_cancellable(action);
                let mut outcome = Box::pin(outcome);
                let early = future::or(async { Some((&mut outcome).await) }, async {
                    sleep(&rt, delay).await;
                    None
                });
                match early.await {
                    Some(done) => Some(done),
                    None => {
                        cancel.cancel();
                        Some(outcome.await)
                    }
                }
            }
            Wait::Drop => {
                let send = async { Some(self.client.send(action).await) };
                future::or(send, async {
                    sleep(&rt, delay).await;
                    None
                })
                .await
            }
        };
        let mut l = entries(&self.ledger);
        l.pending.remove(&id);
        let flapping = self.flapping;
        match outcome {
            None => l.dropped += 1,
            Some(Ok(done)) => match kind.check(&done, own, task) {
                Ok(got) => {
                    l.ok += 1;
                    if !l.answered.insert(got.clone()) {
                        let got = String::from_utf8_lossy(&got).into_owned();
                        l.failures.push(format!("{id}: answer {got} given twice"));
                    }
                    if kind == Kind::UserEvent {
                        l.events_ok.insert(id);
                    }
                }
                Err(foreign) => l.failures.push(foreign),
            },
            Some(Err(ClientError::Action(ActionError::Cancelled))) if wait == Wait::Cancel => {
                l.cancelled += 1;
            }
            Some(Err(ClientError::Action(ActionError::Timeout(_))))
                if wait == Wait::ShortTimeout =>
            {
                l.timed_out += 1;
            }
            Some(Err(ClientError::Action(ActionError::ConnectionLost))) if flapping => {
                l.lost += 1;
            }
            // Between sessions: refused, nothing sent.
            Some(Err(ClientError::Disconnected)) if flapping => l.disconnected += 1,
            Some(Err(e)) => l
                .failures
                .push(format!("{id} ({kind:?} {wait:?}) failed: {e:?}")),
        }
    }

    /// One caller: `mix.actions` actions, one at a time, with pauses and,
    /// now and then, a burst of concurrent ones from tasks of its own; in
    /// lone phases, in turn with the other callers (see [`Mix::phase`]).
    async fn caller(self, seed: u64, task: usize, mix: Mix) {
        let mut rng = Rng::new(seed ^ (task as u64 + 1).wrapping_mul(0x1000_0001));
        let (rt, actions) = (self.exec.runtime(), mix.actions);
        let mut i = 0;
        while i < actions {
            if rng.chance(mix.pause_pct) {
                sleep(&rt, rng.micros(mix.pause.0, mix.pause.1)).await;
            }
            let started = self.baton.started.load(Ordering::Relaxed);
            if mix.phase > 0 && (started / mix.phase).is_multiple_of(2) {
                let turn = self.baton.take().await;
                let kind = KINDS[rng.range(0, KINDS.len() as u64 - 1) as usize];
                let wait = match rng.chance(mix.lone_drop_pct) {
                    true => Wait::Drop,
                    false => mix.lone_waits[rng.range(0, mix.lone_waits.len() as u64 - 1) as usize],
                };
                let id = format!("soak-{seed:x}-{task}-{i}");
                self.one(kind, wait, id, task, &mut Rng::new(rng.next_u64()))
                    .await;
                drop(turn);
                i += 1;
                continue;
            }
            let burst = match rng.chance(12) {
                true => rng.range(2, 6) as usize,
                false => 1,
            };
            let mut joins = Vec::new();
            for _ in 0..burst.min(actions - i) {
                let kind = KINDS[rng.range(0, KINDS.len() as u64 - 1) as usize];
                let wait = mix.waits[rng.range(0, mix.waits.len() as u64 - 1) as usize];
                let id = format!("soak-{seed:x}-{task}-{i}");
                let mut sub = Rng::new(rng.next_u64());
                i += 1;
                if burst == 1 {
                    self.one(kind, wait, id, task, &mut sub).await;
                    continue;
                }
                let run = self.clone();
                joins.push(self.exec.spawn(Box::pin(async move {
                    run.one(kind, wait, id, task, &mut sub).await;
                })));
            }
            for join in joins {
                join.await;
            }
        }
    }
}

/// One turn at a time for the callers of a lone phase, so that their
/// sends find the session idle and go out from their own tasks (the
/// direct path; any overlap sends the next `CROWD` through the client's
/// task). An async lock: a channel holding its one token.
struct Baton {
    token: (Sender<()>, Receiver<()>),
    /// Actions started by all callers: the phase they are in.
    started: AtomicUsize,
}

/// A turn, given back when dropped.
struct Turn<'a>(&'a Baton);

impl Default for Baton {
    fn default() -> Self {
        let (give, take) = async_channel::bounded(1);
        give.try_send(()).expect("room for the token");
        Baton {
            token: (give, take),
            started: AtomicUsize::new(0),
        }
    }
}

impl Baton {
    async fn take(&self) -> Turn<'_> {
        self.token
            .1
            .recv()
            .await
            .expect("the baton holds both ends");
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.token.0.try_send(()).expect("one token: room for it");
    }
}

/// What a caller sends and how.
#[derive(Clone, Copy)]
struct Mix {
    actions: usize,
    /// The ways to wait, drawn evenly (repeat one to weigh it).
    waits: &'static [Wait],
    /// How often a caller pauses before its next action, and how long (µs).
    pause_pct: u64,
    pause: (u64, u64),
    /// Phases of this many actions (of all callers), lone first, then
    /// free, and so on (0: no lone phase): in a lone phase the callers
    /// take turns (one action in flight), waiting as `lone_waits` says,
    /// or dropping the send `lone_drop_pct` times in a hundred.
    phase: usize,
    lone_waits: &'static [Wait],
    lone_drop_pct: u64,
}

/// Runs `f` on `exec`, failing past `limit` with the actions still pending.
fn bounded<E: Exec>(exec: &E, ledger: &Shared, what: &str, limit: Duration, f: impl Future) {
    let rt = exec.runtime();
    let done = exec.block_on(future::or(async { Some(f.await) }, async move {
        sleep(&rt, limit).await;
        None
    }));
    if done.is_none() {
        let l = entries(ledger);
        let pending: Vec<_> = l.pending.iter().take(20).collect();
        panic!(
            "{what}: stalled past {limit:?}; {} actions still pending, among them {pending:?}",
            l.pending.len()
        );
    }
}

/// A client configuration for `server` with the testkit's credentials, no
/// heartbeat (its pings would blur the counters) and a fast reconnect.
fn config(server: &TcpServer) -> ClientConfig {
    let mut proto = Config::new("pbx", "admin", "amp111");
    proto.heartbeat_interval = None;
    let mut config = ClientConfig::new(server.addr().to_string(), proto);
    config.connect_timeout = Duration::from_secs(2);
    let backoff = Backoff::new(Duration::from_millis(5), Duration::from_millis(30), 3);
    let breaker = CircuitBreaker::new(50, Duration::from_millis(100), 1);
    config.reconnect_policy = Some(ReconnectPolicy::new(backoff, breaker));
    config
}

/// A fake server on 127.0.0.1 with `faults`.
fn server(faults: Faults) -> TcpServer {
    let config = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::default()
    };
    TcpServer::start(config, faults).expect("fake server starts")
}

/// Sets each task's database key (for its DBGets).
async fn put_keys<R: Runtime>(client: &Client<R>, tasks: usize) {
    put_all(client, tasks).await.expect("DBPut");
}

async fn put_all<R: Runtime>(client: &Client<R>, tasks: usize) -> Result<(), ClientError> {
    for task in 0..tasks {
        client.send(db_put(task)).await?;
    }
    Ok(())
}

/// The soak on `E` with every seed of [`SEEDS`].
pub(crate) fn soak<E: Exec>(name: &str) {
    for seed in SEEDS {
        soak_one::<E>(name, seed);
    }
}

/// One seed's run: concurrent callers (single-flight, bursts, cancelled,
/// dropped and timed-out sends) over one session, with answers slowed or
/// cut small and garbage between frames as the seed says, an event stream
/// read all along and one never read; then every check.
fn soak_one<E: Exec>(name: &str, seed: u64) {
    const WAITS: &[Wait] = &[
        Wait::Whole,
        Wait::Whole,
        Wait::Whole,
        Wait::Cancel,
        Wait::Drop,
        Wait::ShortTimeout,
    ];
    const LONE_WAITS: &[Wait] = &[
        Wait::Whole,
        Wait::Whole,
        Wait::Whole,
        Wait::Whole,
        Wait::Cancel,
        Wait::ShortTimeout,
    ];
    let mut rng = Rng::new(seed);
    let slow = rng.chance(50);
    let tasks = rng.range(8, 12) as usize;
    let actions = match slow {
        true => rng.range(25, 50),
        false => rng.range(50, 120),
    } as usize;
    let faults = Faults {
        write_chunk: slow.then(|| rng.range(3, 12) as usize),
        write_delay: slow.then(|| rng.micros(5, 30)),
        garbage_every: rng.chance(60).then(|| rng.range(2, 9) as u32),
        ..Faults::default()
    };
    let mix = Mix {
        actions,
        waits: WAITS,
        pause_pct: 30,
        pause: (0, 500),
        phase: rng.range(100, 200) as usize,
        lone_waits: LONE_WAITS,
        // A dropped send leaves its action in flight until its answer
        // comes, so that the next `CROWD` (64) sends go through the
        // client's task: lone phases drop rarely.
        lone_drop_pct: 2,
    };
    let what = format!("{name} soak, seed {seed:#x} ({tasks} tasks x {actions}, {faults:?})");
    let server = server(faults.clone());
    let mut cfg = config(&server);
    cfg.reconnect = false;
    // Small queues, dropping the oldest: the stream left unread fills at once.
    cfg.proto.event_queue = 64;
    cfg.proto.queue_policy = QueuePolicy::DropOldest;

    let exec = E::new();
    let ledger = Shared::default();
    let mut builder = exec.builder(cfg);
    let unread = builder.events();
    let mut events = builder.events().filter_names(&["UserEvent"]);
    let client = exec.block_on(async {
        let client = builder.connect().await.expect("login");
        put_keys(&client, tasks).await;
        client
    });
    let run = Run {
        exec: exec.clone(),
        client: client.clone(),
        ledger: ledger.clone(),
        flapping: false,
        baton: Arc::default(),
    };
    let before = client.stats();
    // The login's events, queued before `before`.
    let streams_before = queued(&[&events, &unread]);
    let mut received = Vec::new();
    let mut after = None;
    let body = async {
        let reading = async {
            while let Some(event) = events.next().await {
                match event.get_str("UserEvent").as_deref() {
                    Some(DONE_EVENT) => return true,
                    _ => received.push(event.get_str("ActionID").unwrap_or_default().into_owned()),
                }
            }
            false
        };
        let callers = async {
            let joins: Vec<_> = (0..tasks)
                .map(|task| {
                    let caller = run.clone().caller(seed, task, mix);
                    exec.spawn(Box::pin(caller))
                })
                .collect();
            for join in joins {
                join.await;
            }
            // Every action ended: the end of the events.
            let end = Action::new("UserEvent").header("UserEvent", DONE_EVENT);
            client.send(end).await.expect("the end's event sent");
        };
        let (ended, ()) = future::zip(reading, callers).await;
        assert!(ended, "{what}: the event stream ended");
        // A send after all of it still works; its answer comes after every
        // event, so the counters handed out with it count them all.
        let last = client.send(Kind::Ping.action(Some("soak-last"), 0)).await;
        let last = last.map(|done| Kind::Ping.check(&done, Some("soak-last"), 0));
        assert!(matches!(last, Ok(Ok(_))), "{what}: the last send: {last:?}");
        after = Some(client.stats());
    };
    bounded(&exec, &ledger, &what, Duration::from_secs(10), body);
    let after = after.expect("ran");
    let streams = (&events, &unread, streams_before);
    check(&what, &ledger, &before, &after, &received, streams);
    exec.block_on(client.close());
}

fn check(
    what: &str,
    ledger: &Shared,
    before: &ClientStats,
    after: &ClientStats,
    received: &[String],
    (events, unread, streams_before): (&EventStream, &EventStream, (u64, u64)),
) {
    let l = entries(ledger);
    assert!(l.failures.is_empty(), "{what}: {:#?}", l.failures);
    assert!(l.pending.is_empty(), "{what}: not ended: {:?}", l.pending);
    let ended = l.ok + l.cancelled + l.timed_out + l.dropped + l.lost + l.disconnected;
    assert_eq!(ended, l.started, "{what}: every action ended once");

    // Every UserEvent's event came once (or was counted dropped), and no
    // other: the events a caller read on its way reached the stream.
    let mut seen = HashSet::new();
    for id in received {
        assert!(seen.insert(id), "{what}: event {id} twice");
        assert!(
            l.events_sent.contains(id),
            "{what}: event {id} never raised"
        );
    }
    let missing = l.events_ok.iter().filter(|id| !seen.contains(id)).count();
    assert!(
        missing as u64 <= events.dropped(),
        "{what}: {missing} events of answered UserEvents lost, {} dropped",
        events.dropped()
    );

    let (s0, s1): (&Stats, &Stats) = (&before.session, &after.session);
    let d = |f: fn(&Stats) -> u64| f(s1) - f(s0);
    let sent = d(|s| s.actions_sent);
    let (ok, failed) = (d(|s| s.actions_ok), d(|s| s.actions_failed));
    // The last Ping and the end's UserEvent are the test's own two.
    let (own_ok, extra) = (l.ok + 2, l.dropped);
    assert_eq!(s1.pending, 0, "{what}: {s1:?}");
    assert_eq!(
        sent,
        ok + failed,
        "{what}: every action sent completed once: {s1:?}"
    );
    assert!(
        own_ok <= ok && ok <= own_ok + extra,
        "{what}: ok {ok}, seen {own_ok}, dropped {extra}"
    );
    let failed_seen = l.timed_out + l.cancelled;
    assert!(
        l.timed_out <= failed && failed <= failed_seen + extra,
        "{what}: failed {failed}, timed out {}, cancelled {}, dropped {extra}",
        l.timed_out,
        l.cancelled
    );
    let timeouts = d(|s| s.timeouts);
    assert!(
        l.timed_out <= timeouts && timeouts <= l.timed_out + extra,
        "{what}: {timeouts} timeouts, {} seen",
        l.timed_out
    );
    assert!(
        l.started + 2 - l.cancelled - l.dropped <= sent && sent <= l.started + 2,
        "{what}: {sent} sent of {} (cancelled {}, dropped {})",
        l.started + 2,
        l.cancelled,
        l.dropped
    );
    // Every event offered to a stream since `before` is counted once as
    // delivered, and again as dropped if its queue let it go. The reader
    // took `received` and the end's event out of its queue.
    let (held, dropped) = queued(&[events, unread]);
    let offered = held + received.len() as u64 + 1 - streams_before.0;
    let dropped = dropped - streams_before.1;
    let delivered = after.events_delivered - before.events_delivered;
    let counted_dropped = after.events_dropped - before.events_dropped;
    assert_eq!(
        (delivered, counted_dropped),
        (offered, dropped),
        "{what}: the streams' events against the client's counters"
    );
}

/// The events the streams hold or have dropped, and those dropped.
fn queued(streams: &[&EventStream]) -> (u64, u64) {
    let dropped: u64 = streams.iter().map(|s| s.dropped()).sum();
    let held: usize = streams.iter().map(|s| s.len()).sum();
    (held as u64 + dropped, dropped)
}

/// The soak with a flapping server: each connection is dropped shortly
/// after it is accepted and the client reconnects, while callers send.
/// An action in flight when its session goes fails with `ConnectionLost`
/// (or, between sessions, `Disconnected`): never `Ok` with another's
/// answer, never a hang. Once the server is steady, every send succeeds.
pub(crate) fn flapping<E: Exec>(name: &str) {
    const WAITS: &[Wait] = &[
        Wait::Whole,
        Wait::Whole,
        Wait::Whole,
        Wait::Cancel,
        Wait::Drop,
    ];
    const SEED: u64 = 0xf1a9_f1a9;
    const TASKS: usize = 8;
    let drop_after = Duration::from_millis(120);
    let what = format!("{name} flapping soak (each connection dropped after {drop_after:?})");
    let server = server(Faults {
        drop_after: Some(drop_after),
        ..Faults::default()
    });
    let exec = E::new();
    let ledger = Shared::default();
    let mut run = Run {
        client: exec
            .block_on(exec.builder(config(&server)).connect())
            .expect("login"),
        exec: exec.clone(),
        ledger: ledger.clone(),
        flapping: true,
        baton: Arc::default(),
    };
    // At least half a second of traffic: three connections or more.
    let mix = Mix {
        actions: 100,
        waits: WAITS,
        pause_pct: 100,
        pause: (5_000, 8_000),
        phase: 0,
        lone_waits: &[],
        lone_drop_pct: 0,
    };
    let callers = |run: &Run<E>, seed: u64, mix: Mix| {
        let joins: Vec<_> = (0..TASKS)
            .map(|task| exec.spawn(Box::pin(run.clone().caller(seed, task, mix))))
            .collect();
        async move {
            for join in joins {
                join.await;
            }
        }
    };
    bounded(&exec, &ledger, &what, Duration::from_secs(10), async {
        put_keys_again(&run.client, TASKS).await;
        callers(&run, SEED, mix).await;
    });
    assert!(
        server.connections() >= 3,
        "{what}: {} connections",
        server.connections()
    );
    {
        let l = entries(&ledger);
        assert!(l.failures.is_empty(), "{what}: {:#?}", l.failures);
        let ended = l.ok + l.cancelled + l.dropped + l.lost + l.disconnected;
        assert_eq!(ended, l.started, "{what}: every action ended once");
        assert!(l.ok > 0, "{what}: nothing answered");
    }

    // The server steadies: once the client is on a connection accepted
    // since, every action succeeds, with its own answer.
    server.set_faults(Faults::default());
    let steady_from = server.connections();
    run.flapping = false;
    let steady = Mix {
        actions: 20,
        waits: &[Wait::Whole],
        pause_pct: 30,
        pause: (0, 500),
        phase: 40,
        lone_waits: &[Wait::Whole],
        lone_drop_pct: 0,
    };
    bounded(&exec, &ledger, &what, Duration::from_secs(10), async {
        let rt = exec.runtime();
        while server.connections() <= steady_from {
            sleep(&rt, Duration::from_millis(5)).await;
        }
        run.client
            .wait_ready(Duration::from_secs(5))
            .await
            .expect("ready on a steady connection");
        callers(&run, SEED + 1, steady).await;
    });
    let l = entries(&ledger);
    assert!(l.failures.is_empty(), "{what}, steady: {:#?}", l.failures);
    assert!(l.pending.is_empty(), "{what}: not ended: {:?}", l.pending);
    drop(l);
    exec.block_on(run.client.close());
}

/// [`put_keys`], again on each failure (a flapping session).
async fn put_keys_again<R: Runtime>(client: &Client<R>, tasks: usize) {
    for _ in 0..50 {
        match put_all(client, tasks).await {
            Ok(()) => return,
            Err(_) => {
                let _ = client.wait_ready(Duration::from_secs(1)).await;
            }
        }
    }
    panic!("the database keys could not be set");
}

/// The soak with the client's task frozen after login: one action in
/// flight at a time, from callers taking turns, each sent and read for by
/// its caller alone (the direct path), with answers cut small and slowed
/// so that first reads miss and callers wait for readiness. The client's
/// task would take reading back after `HOLD` and catch up with a wake-up
/// lost on the way (a delay, not a stall); frozen, it cannot, and a lost
/// wake-up stalls the soak.
pub(crate) fn frozen<E: Exec>(name: &str) {
    const TASKS: usize = 4;
    for seed in SEEDS {
        let mut rng = Rng::new(seed ^ 0xf0f0);
        let faults = Faults {
            write_chunk: Some(rng.range(3, 16) as usize),
            write_delay: rng.chance(50).then(|| rng.micros(5, 30)),
            garbage_every: rng.chance(50).then(|| rng.range(2, 9) as u32),
            ..Faults::default()
        };
        let what = format!("{name} frozen soak, seed {seed:#x} ({faults:?})");
        let server = server(faults);
        let exec = E::new();
        let ledger = Shared::default();
        let (client, task) = exec.frozen(config(&server));
        let run = Run {
            exec: exec.clone(),
            client,
            ledger: ledger.clone(),
            flapping: false,
            baton: Arc::default(),
        };
        let mix = Mix {
            actions: rng.range(20, 40) as usize,
            waits: &[],
            pause_pct: 30,
            pause: (0, 300),
            // Lone all along.
            phase: usize::MAX,
            lone_waits: &[Wait::Whole],
            lone_drop_pct: 0,
        };
        bounded(&exec, &ledger, &what, Duration::from_secs(10), async {
            put_keys(&run.client, TASKS).await;
            let joins: Vec<_> = (0..TASKS)
                .map(|task| exec.spawn(Box::pin(run.clone().caller(seed, task, mix))))
                .collect();
            for join in joins {
                join.await;
            }
        });
        let l = entries(&ledger);
        assert!(l.failures.is_empty(), "{what}: {:#?}", l.failures);
        assert_eq!(l.ok, l.started, "{what}: every action answered");
        drop(l);
        drop(run);
        drop(task);
    }
}
