//! The live model option: a client that keeps an [`ami_state::Model`] of
//! its server current ([`ClientBuilder::with_model`](crate::ClientBuilder::with_model)).
//!
//! The driver feeds a [`ModelFeed`] as it delivers: every event (whether or
//! not anyone subscribed), the completions of the model's lists and of sent
//! Originates, each Originate sent, and the session's state. After each
//! login it opens a resynchronisation window and sends the five lists
//! ([`Model::resync_lists`]) itself; the window closes once they have all
//! completed.
//!
//! The inputs go to a bounded backlog that the driver applies at the end of
//! each turn, a bounded batch at a time, and only if the model's lock is
//! free (`try_lock`): a caller holding the model (a snapshot of a large
//! PBX) never makes the reader wait, and the model's work per turn stays
//! short. A caller that held the lock while inputs waited kicks the driver
//! when it lets go. When the backlog overflows, events are dropped and
//! counted, and the model is resynchronised from the lists once a window
//! can open: the picture may lag, never stay wrong.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use ami_proto::{Action, ActionError, ActionId, Completion, ConnState, Connection, Event};
use ami_state::{Call, Change, Limits, Model, Snapshot, Timestamp};
use async_channel::{Receiver, Sender};
use futures_lite::Stream;

/// Inputs waiting for the model before events are dropped (and the model
/// resynchronised): about a second of a busy server's events.
const BACKLOG: usize = 16_384;

/// Inputs applied per driver turn: a few hundred microseconds of the
/// model's work, so the reader is never held for long.
const BATCH: usize = 1_024;

/// Changes a [`ModelChanges`] stream holds before it reports a loss.
const CHANGES_DEPTH: usize = 4_096;

/// The live model of one client's server: queries, snapshots and a stream
/// of changes. Cheap to clone; all clones share one model.
///
/// The client keeps it current (see [`ClientBuilder::with_model`]); it is
/// complete once [`is_synced`](Self::is_synced) (the lists of the current
/// session have been applied), and stays as last seen while the client is
/// disconnected.
///
/// [`ClientBuilder::with_model`]: crate::ClientBuilder::with_model
#[derive(Clone)]
pub struct LiveModel {
    shared: Arc<ModelShared>,
}

impl std::fmt::Debug for LiveModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveModel")
            .field("synced", &self.is_synced())
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// What the handles and the driver share.
struct ModelShared {
    model: Mutex<Model>,
    status: Mutex<Status>,
    /// Inputs wait because a caller held the model: kick the driver when
    /// the caller lets go.
    waiting: AtomicBool,
    /// Events dropped because the backlog was full.
    dropped: AtomicU64,
    /// Wakes the client's task.
    kick: Sender<()>,
}

#[derive(Default)]
struct Status {
    synced: bool,
    /// The client has ended: no more changes, no sync to wait for.
    ended: bool,
    watchers: Vec<Watcher>,
    sync_waiters: Vec<Sender<()>>,
}

/// One [`ModelChanges`] stream's sender and what it missed.
struct Watcher {
    tx: Sender<Change>,
    /// Changes dropped since the stream last had room.
    lost: u64,
}

impl Watcher {
    /// Offers `change`; false once the stream is gone.
    fn offer(&mut self, change: Change) -> bool {
        if self.lost > 0 {
            match self.tx.try_send(Change::Lost(self.lost)) {
                Ok(()) => self.lost = 0,
                Err(e) if e.is_closed() => return false,
                Err(_) => {
                    self.lost += 1;
                    return true;
                }
            }
        }
        match self.tx.try_send(change) {
            Ok(()) => true,
            Err(e) if e.is_closed() => false,
            Err(_) => {
                self.lost += 1;
                true
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LiveModel {
    /// An empty model bounded by `limits`, waking the task through `kick`.
    pub(crate) fn new(limits: Limits, kick: Sender<()>) -> Self {
        LiveModel {
            shared: Arc::new(ModelShared {
                model: Mutex::new(Model::new(limits)),
                status: Mutex::new(Status::default()),
                waiting: AtomicBool::new(false),
                dropped: AtomicU64::new(0),
                kick,
            }),
        }
    }

    /// The driver's side of this model, for the client of `server`.
    pub(crate) fn feed(&self, server: Arc<str>) -> ModelFeed {
        ModelFeed {
            server,
            shared: self.shared.clone(),
            backlog: VecDeque::new(),
            lists: Vec::new(),
            followed: HashSet::new(),
            in_session: false,
            resync_wanted: false,
        }
    }

    /// Runs `query` on the model under its lock, which the client's task
    /// never waits for: keep `query` short (look up, count, copy out what
    /// you need).
    ///
    /// ```no_run
    /// # fn demo(client: ami_smol::Client) {
    /// let model = client.model().expect("built with_model");
    /// let free = model.read(|m| {
    ///     m.queue("support").map_or(0, |q| {
    ///         q.members.iter().filter(|a| !a.paused && !a.in_call).count()
    ///     })
    /// });
    /// # }
    /// ```
    pub fn read<T>(&self, query: impl FnOnce(&Model) -> T) -> T {
        let answer = query(&lock(&self.shared.model));
        if self.shared.waiting.swap(false, Ordering::AcqRel) {
            let _ = self.shared.kick.try_send(());
        }
        answer
    }

    /// Everything, copied out (sorted by key): a consistent picture to
    /// render or serialise at leisure.
    pub fn snapshot(&self) -> Snapshot {
        self.read(Model::snapshot)
    }

    /// Removes and returns a finished call record you have dealt with (see
    /// [`Model::remove_call`]); finished records are otherwise evicted
    /// oldest first when the records are full.
    pub fn remove_call(&self, action_id: &str) -> Option<Call> {
        let call = lock(&self.shared.model).remove_call(action_id);
        if self.shared.waiting.swap(false, Ordering::AcqRel) {
            let _ = self.shared.kick.try_send(());
        }
        call
    }

    /// A stream of what changes from now on: each [`Change`] names what
    /// changed; read its new value with [`read`](Self::read). A stream
    /// more than 4,096 changes behind gets [`Change::Lost`] (re-read
    /// everything) in place of what it missed. Ends when the client ends.
    pub fn changes(&self) -> ModelChanges {
        let (tx, rx) = async_channel::bounded(CHANGES_DEPTH);
        let mut status = lock(&self.shared.status);
        if !status.ended {
            status.watchers.push(Watcher { tx, lost: 0 });
        }
        ModelChanges(Box::pin(rx))
    }

    /// Whether the model holds the server's whole picture: the lists of the
    /// current session have been applied (and no event has been dropped
    /// since). False before the first login, while disconnected and while
    /// resynchronising.
    pub fn is_synced(&self) -> bool {
        lock(&self.shared.status).synced
    }

    /// Waits until [`is_synced`](Self::is_synced); false if the client
    /// ended first.
    pub async fn synced(&self) -> bool {
        let rx = {
            let mut status = lock(&self.shared.status);
            if status.synced {
                return true;
            }
            if status.ended {
                return false;
            }
            let (tx, rx) = async_channel::bounded(1);
            status.sync_waiters.push(tx);
            rx
        };
        rx.recv().await.is_ok()
    }

    /// Events the model could not take because it fell too far behind
    /// (each such loss is repaired by a resynchronisation).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// The changes of a [`LiveModel`], as a `Stream` (see
/// [`LiveModel::changes`]).
pub struct ModelChanges(Pin<Box<Receiver<Change>>>);

impl std::fmt::Debug for ModelChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelChanges")
            .field("queued", &self.0.len())
            .finish()
    }
}

impl Stream for ModelChanges {
    type Item = Change;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Change>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// One thing for the model, in the order the driver delivered it.
enum Input {
    Event(Event),
    Sent(ActionId, Action),
    Completion(ActionId, Result<Completion, ActionError>),
    BeginResync,
    EndResync,
    Disconnected,
}

/// The driver's side of a [`LiveModel`]: what it delivers goes in here.
pub(crate) struct ModelFeed {
    /// The server's name, for the log.
    server: Arc<str>,
    shared: Arc<ModelShared>,
    backlog: VecDeque<Input>,
    /// The lists of the open resynchronisation window not yet completed.
    lists: Vec<ActionId>,
    /// Actions the model follows (`Model::follows`: Originates, some
    /// lists) sent and not yet completed.
    followed: HashSet<ActionId>,
    /// The session has been ready (its lists were sent).
    in_session: bool,
    /// Events were dropped: resynchronise once a window can open.
    resync_wanted: bool,
}

impl ModelFeed {
    /// An event the core delivered.
    pub(crate) fn event(&mut self, event: &Event) {
        if self.backlog.len() >= BACKLOG {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            self.resync_wanted = true;
            return;
        }
        self.backlog.push_back(Input::Event(event.clone()));
    }

    /// An action the model follows, just sent as `id`.
    pub(crate) fn sent(&mut self, id: &ActionId, action: Action) {
        self.followed.insert(id.clone());
        self.backlog.push_back(Input::Sent(id.clone(), action));
    }

    /// A completed action: the model's own lists, the actions it follows,
    /// and any other list (a caller's `QueueStatus` is news too).
    pub(crate) fn completion(&mut self, id: &ActionId, result: &Result<Completion, ActionError>) {
        let ours = match self.lists.iter().position(|l| l == id) {
            Some(i) => {
                self.lists.swap_remove(i);
                true
            }
            None => false,
        };
        let wanted = ours || self.followed.remove(id) || matches!(result, Ok(Completion::List(_)));
        if wanted {
            self.backlog
                .push_back(Input::Completion(id.clone(), result.clone()));
        }
        if ours && self.lists.is_empty() {
            self.backlog.push_back(Input::EndResync);
        }
    }

    /// The session's state changed: a new session's first `Ready` starts a
    /// resynchronisation; a closed one leaves the model unsynced.
    pub(crate) fn state(&mut self, conn: &mut Connection, state: &ConnState, now: Instant) {
        match state {
            ConnState::Ready if !self.in_session => {
                self.in_session = true;
                self.resync(conn, now);
            }
            ConnState::Closed(_) => {
                self.in_session = false;
                // Their completions (ConnectionLost) have been delivered.
                self.lists.clear();
                self.backlog.push_back(Input::Disconnected);
            }
            _ => {}
        }
    }

    /// Opens a window and sends the five lists.
    fn resync(&mut self, conn: &mut Connection, now: Instant) {
        self.resync_wanted = false;
        self.backlog.push_back(Input::BeginResync);
        for list in Model::resync_lists() {
            let followed = Model::follows(&list).then(|| list.clone());
            match conn.send(list, now) {
                Ok(id) => {
                    if let Some(list) = followed {
                        self.backlog.push_back(Input::Sent(id.clone(), list));
                    }
                    self.lists.push(id);
                }
                Err(e) => tracing::warn!(
                    server = %self.server,
                    action_id = "-",
                    queue_depth = self.backlog.len(),
                    error = %e,
                    "live model: a list could not be sent; the model may keep stale entries"
                ),
            }
        }
        if self.lists.is_empty() {
            self.backlog.push_back(Input::EndResync);
        }
    }

    /// Whether anything waits to be applied (or a resynchronisation to
    /// start): a caller that fed the model has the driver apply it.
    pub(crate) fn has_work(&self) -> bool {
        !self.backlog.is_empty() || self.resync_wanted
    }

    /// Applies what waits, a batch at most, if the model is free; starts a
    /// resynchronisation the dropped events call for.
    pub(crate) fn flush(&mut self, conn: &mut Connection, now: Instant) {
        if self.resync_wanted && self.in_session && self.lists.is_empty() && conn.is_ready() {
            self.resync(conn, now);
        }
        if self.backlog.is_empty() {
            return;
        }
        let mut model = match self.shared.model.try_lock() {
            Ok(model) => model,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.shared.waiting.store(true, Ordering::Release);
                return;
            }
        };
        let mut synced = None;
        model.handle_time(wall_clock());
        for input in self.backlog.drain(..self.backlog.len().min(BATCH)) {
            match input {
                Input::Event(event) => model.handle_event(&event),
                Input::Sent(id, action) => model.handle_sent(&id, &action),
                Input::Completion(id, result) => model.handle_completion(&id, result.as_ref()),
                Input::BeginResync => {
                    model.begin_resync();
                    synced = Some(false);
                }
                Input::EndResync => {
                    model.end_resync();
                    synced = Some(!self.resync_wanted);
                }
                Input::Disconnected => synced = Some(false),
            }
        }
        let mut status = lock(&self.shared.status);
        while let Some(change) = model.poll_change() {
            status.watchers.retain_mut(|w| w.offer(change.clone()));
        }
        drop(model);
        if let Some(synced) = synced {
            status.synced = synced;
            if synced {
                status.sync_waiters.drain(..).for_each(|w| {
                    let _ = w.try_send(());
                });
            }
        }
        drop(status);
        if !self.backlog.is_empty() {
            // More than a batch: another turn, soon, without new input.
            let _ = self.shared.kick.try_send(());
        }
    }
}

impl Drop for ModelFeed {
    /// The client has ended: streams end, nobody waits for a sync.
    fn drop(&mut self) {
        let mut status = lock(&self.shared.status);
        status.ended = true;
        status.synced = false;
        status.watchers.clear();
        status.sync_waiters.clear();
    }
}

/// The wall clock, for callers' waits and answers when events carry no
/// `Timestamp` (the model reads no clock itself).
fn wall_clock() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    use ami_proto::{AuthMethod, Config};

    /// A logged-in connection and the instant it was made.
    fn ready() -> (Connection, Instant) {
        let mut config = Config::new("t", "admin", "secret");
        config.auth = AuthMethod::Plain;
        config.heartbeat_interval = None;
        let now = Instant::now();
        let mut conn = Connection::new(config, now).expect("valid");
        conn.handle_input(b"Asterisk Call Manager/11.0.0\r\n", now);
        let login = sent(&mut conn);
        let id = login[0].1.clone();
        conn.handle_input(
            format!("Response: Success\r\nActionID: {id}\r\n\r\n").as_bytes(),
            now,
        );
        while conn.poll_output().is_some() {}
        assert!(conn.is_ready());
        (conn, now)
    }

    /// The actions written since the last call: (name, ActionID).
    fn sent(conn: &mut Connection) -> Vec<(String, String)> {
        let Some(bytes) = conn.poll_transmit().map(<[u8]>::to_vec) else {
            return Vec::new();
        };
        conn.advance(bytes.len());
        let text = String::from_utf8(bytes).expect("ASCII");
        text.split("\r\n\r\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let get = |h: &str| {
                    f.lines()
                        .find_map(|l| l.strip_prefix(h))
                        .expect("header")
                        .to_owned()
                };
                (get("Action: "), get("ActionID: "))
            })
            .collect()
    }

    fn event(uid: usize) -> Event {
        Event::from_pairs([
            ("Event", &b"Newchannel"[..]),
            ("Channel", format!("PJSIP/a-{uid}").as_bytes()),
            ("ChannelState", b"4"),
            ("Uniqueid", format!("1.{uid}").as_bytes()),
        ])
    }

    #[test]
    fn a_full_backlog_drops_and_counts_events_and_resynchronises_once_it_can() {
        let (kick, kicks) = async_channel::bounded(1);
        let live = LiveModel::new(Limits::default(), kick);
        let mut feed = live.feed("t".into());
        let (mut conn, now) = ready();

        // The first Ready of the session opens a window: the five lists.
        feed.state(&mut conn, &ConnState::Ready, now);
        let lists = sent(&mut conn);
        let names: Vec<_> = lists.iter().map(|(n, _)| n.as_str()).collect();
        let want = Model::resync_lists().map(|a| a.name().to_owned());
        assert_eq!(names, want);
        feed.state(&mut conn, &ConnState::Ready, now);
        assert!(sent(&mut conn).is_empty(), "one window per session");

        // A caller holds the model: nothing is applied, the driver will be
        // kicked when it lets go; past the backlog, events are dropped.
        let held = lock(&live.shared.model);
        let room = BACKLOG - feed.backlog.len();
        for uid in 0..room + 5 {
            feed.event(&event(uid));
        }
        feed.flush(&mut conn, now);
        assert_eq!(live.dropped(), 5);
        assert!(live.shared.waiting.load(Ordering::Acquire));
        drop(held);
        assert_eq!(live.read(|m| m.channels().count()), 0);
        assert!(kicks.try_recv().is_ok(), "let go: the driver is kicked");

        // The window's lists end (failed here); the drop calls for another.
        for (_, id) in &lists {
            let id = ActionId::from_bytes(id.clone().into_bytes().into());
            feed.completion(&id, &Err(ActionError::ConnectionLost));
        }
        let mut applied = 0;
        while !feed.backlog.is_empty() {
            feed.flush(&mut conn, now);
            applied += 1;
            assert!(applied <= BACKLOG / BATCH + 2, "a batch per turn, bounded");
        }
        assert_eq!(live.read(|m| m.channels().count()), room);
        let again: Vec<_> = sent(&mut conn).into_iter().map(|(n, _)| n).collect();
        assert_eq!(again, want, "resynchronising after the loss");
        assert!(!live.is_synced(), "not before the new window closes");
    }

    #[test]
    fn a_lost_session_unsyncs_and_the_next_one_lists_again() {
        let (kick, _kicks) = async_channel::bounded(1);
        let live = LiveModel::new(Limits::default(), kick);
        let mut feed = live.feed("t".into());
        let (mut conn, now) = ready();
        feed.state(&mut conn, &ConnState::Ready, now);
        for (_, id) in sent(&mut conn) {
            let id = ActionId::from_bytes(id.into_bytes().into());
            feed.completion(&id, &Err(ActionError::Timeout(std::time::Duration::ZERO)));
        }
        feed.flush(&mut conn, now);
        assert!(live.is_synced(), "every list answered: the window closed");

        let lost = ConnState::Closed(ami_proto::CloseReason::Lost);
        feed.state(&mut conn, &lost, now);
        feed.flush(&mut conn, now);
        assert!(!live.is_synced());
        let (mut conn, now) = ready();
        feed.state(&mut conn, &ConnState::Ready, now);
        assert_eq!(sent(&mut conn).len(), 5, "a new session lists again");
    }
}
