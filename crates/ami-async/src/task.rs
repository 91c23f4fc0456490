//! What the client's task keeps across sessions, and what it does with no
//! session: serve commands, park or refuse sends, honour cancels and the
//! close, and end the client exactly once, whatever ends it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_proto::{
    instant_after, Action, ActionError, CloseReason, ConnState, Connection, Failure,
    ReconnectPolicy, SendError,
};
use async_channel::{Receiver, Sender};
use futures_lite::{future, Stream};

use crate::command::{Caller, Command, First, Parked, Ticket};
use crate::config::ClientConfig;
use crate::error::{ClientError, ConnectError};
use crate::link::Link;
use crate::model::ModelFeed;
use crate::runtime::{sleep_until, Runtime};
use crate::shared::Shared;

/// Everything the task keeps across sessions.
pub(crate) struct Ctx<R: Runtime> {
    pub(crate) rt: R,
    pub(crate) config: ClientConfig,
    pub(crate) shared: Arc<Shared>,
    /// Pinned so the driver can poll it as a stream, whose listener then
    /// stays registered across waits that something else ended.
    pub(crate) cmds: Pin<Box<Receiver<Command>>>,
    /// False once every [`Client`](crate::Client) handle is gone.
    pub(crate) cmds_open: bool,
    /// Pinned as `cmds` is.
    pub(crate) kick: Pin<Box<Receiver<()>>>,
    /// The session shared with the handles (and the actions it awaits).
    pub(crate) link: Arc<Link<R::Socket>>,
    pub(crate) parked: VecDeque<Parked>,
    /// Set by a close: the instant by which the socket is closed.
    pub(crate) closing: Option<Instant>,
    pub(crate) close_waiters: Vec<Sender<()>>,
    /// [`ClientBuilder::connect`](crate::ClientBuilder::connect) waits here for the first login.
    pub(crate) first: Option<First>,
    pub(crate) policy: ReconnectPolicy,
    /// The plaintext-secret warning was logged for this server.
    pub(crate) warned_plaintext: bool,
    /// The live model kept current, if the client was built with one.
    pub(crate) model: Option<ModelFeed>,
    /// Cancelled sends taken from [`Shared`], kept for its capacity.
    cancels: Vec<Arc<Ticket>>,
    /// The task has been polled: a drop before it means it never ran.
    pub(crate) started: bool,
    /// [`finish`](Self::finish) has run.
    finished: bool,
}

impl<R: Runtime> Ctx<R> {
    pub(crate) fn new(
        rt: R,
        config: ClientConfig,
        shared: Arc<Shared>,
        link: Arc<Link<R::Socket>>,
        cmds: Receiver<Command>,
        first: Option<First>,
    ) -> Self {
        Ctx {
            rt,
            kick: Box::pin(shared.kick_rx.clone()),
            policy: config
                .reconnect_policy
                .clone()
                .unwrap_or_else(|| ReconnectPolicy::with_seed(config.proto.session_seed(u64::MAX))),
            config,
            shared,
            cmds: Box::pin(cmds),
            cmds_open: true,
            link,
            parked: VecDeque::new(),
            closing: None,
            close_waiters: Vec::new(),
            first,
            warned_plaintext: false,
            model: None,
            cancels: Vec::new(),
            started: false,
            finished: false,
        }
    }

    /// Serves commands with no session until `until` (or forever); returns
    /// false when the client is closing.
    pub(crate) async fn idle(&mut self, until: Option<Instant>) -> bool {
        loop {
            let now = Instant::now();
            self.take_cancels(None, now);
            self.expire_parked(now);
            if self.closing.is_some() {
                return false;
            }
            if until.is_some_and(|t| t <= now) {
                return true;
            }
            let wake = self.parked.iter().map(|p| p.deadline).min();
            let wake = wake.into_iter().chain(until).min();
            let (cmds, kick, rt) = (&mut self.cmds, &mut self.kick, &self.rt);
            let timer = async {
                sleep_until(rt, wake).await;
                None
            };
            // A kick (a cancel) ends the wait; the loop then takes it.
            let kick = async {
                let _ = future::poll_fn(|cx| kick.as_mut().poll_next(cx)).await;
                None
            };
            let cmd = if self.cmds_open {
                let cmd = async { Some(future::poll_fn(|cx| cmds.as_mut().poll_next(cx)).await) };
                future::or(cmd, future::or(kick, timer)).await
            } else {
                future::or(kick, timer).await
            };
            match cmd {
                Some(Some(cmd)) => self.command_disconnected(cmd),
                Some(None) => self.all_handles_dropped(now),
                None => {}
            }
        }
    }

    fn command_disconnected(&mut self, cmd: Command) {
        match cmd {
            Command::Send { action, caller } => self.park(action, caller, None),
            Command::Close { deadline, done } => {
                self.closing = Some(deadline);
                self.close_waiters.push(done);
            }
        }
    }

    /// Records how an attempt or a session ended: counts a failed attempt
    /// (a session lost after its login is not one) and, when the client
    /// reconnects, asks the policy when to try next. Called before the
    /// state that reports the end is published, so whoever sees that state
    /// reads these counters.
    pub(crate) fn count_failure(&mut self, failure: Failure) {
        let now = Instant::now();
        let attempt = !matches!(failure, Failure::Lost | Failure::Heartbeat);
        let retry = self.config.reconnect.then(|| {
            let at = self.policy.on_failure(now, failure);
            (at, self.policy.breaker_state(now))
        });
        self.shared.update_stats(|s| {
            s.failed_attempts += u64::from(attempt);
            if let Some((at, breaker)) = retry {
                s.breaker = breaker;
                s.next_attempt = Some(at);
            }
        });
        if let Some((at, _)) = retry {
            log!(
                info,
                self.shared,
                ?failure,
                retry_in_ms = at.saturating_duration_since(now).as_millis() as u64,
                "session ended; reconnecting"
            );
        }
    }

    /// Every handle is gone: log off promptly and end.
    pub(crate) fn all_handles_dropped(&mut self, now: Instant) {
        self.cmds_open = false;
        self.closing.get_or_insert(now + Duration::from_secs(1));
    }

    /// Keeps an action for the next session, or fails it as disconnected.
    pub(crate) fn park(&mut self, action: Action, caller: Caller, deadline: Option<Instant>) {
        let max = self.config.proto.max_pending;
        if caller.cancelled() {
            caller.cancel();
        } else if !self.config.resend_on_reconnect || self.closing.is_some() {
            caller.send(Err(ClientError::Disconnected));
        } else if self.parked.len() >= max {
            caller.send(Err(ClientError::Send(SendError::TooManyPending { max })));
        } else {
            caller.unsent();
            let timeout = action.timeout().unwrap_or(self.config.proto.action_timeout);
            let deadline = deadline.unwrap_or_else(|| instant_after(Instant::now(), timeout));
            self.parked.push_back(Parked {
                action,
                caller,
                deadline,
                timeout,
            });
        }
    }

    /// Carries out the cancels asked for since the last call: an action
    /// sent on this session (`conn`) is cancelled in the core, which
    /// completes it; a parked one fails at once. One still in the command
    /// queue fails when it is taken (its ticket says so).
    pub(crate) fn take_cancels(&mut self, mut conn: Option<&mut Connection>, now: Instant) {
        self.shared.take_cancels(&mut self.cancels);
        for ticket in std::mem::take(&mut self.cancels) {
            if let Some(i) = self.parked.iter().position(|p| p.caller.holds(&ticket)) {
                if let Some(p) = self.parked.remove(i) {
                    p.caller.cancel();
                }
                continue;
            }
            let id = ticket.lock().id.clone();
            if let (Some(id), Some(conn)) = (id, conn.as_deref_mut()) {
                conn.cancel(&id, now);
            }
        }
    }

    pub(crate) fn expire_parked(&mut self, now: Instant) {
        let closing = self.closing.is_some();
        let done = |p: &Parked| p.deadline <= now || closing;
        if !self.parked.iter().any(done) {
            return;
        }
        let (done, kept) = std::mem::take(&mut self.parked).into_iter().partition(done);
        self.parked = kept;
        for p in done {
            let err = match p.deadline <= now {
                true => ClientError::Action(ActionError::Timeout(p.timeout)),
                false => ClientError::Closed,
            };
            p.caller.send(Err(err));
        }
    }

    /// The end: fail what is left, end every stream, release `close`
    /// callers. Runs once; `Drop` runs it if nothing else did.
    pub(crate) fn finish(&mut self, last: ConnState) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.cmds.close();
        while let Ok(cmd) = self.cmds.try_recv() {
            match cmd {
                Command::Send { caller, .. } => caller.send(Err(ClientError::Closed)),
                Command::Close { done, .. } => self.close_waiters.push(done),
            }
        }
        // Sent and not completed: only after a panic or a dropped task
        // (a session that ends completes its actions itself). Taken out of
        // the link first: the callers are answered with no lock held.
        let session = {
            let mut guard = self.link.lock();
            self.link.settled(None);
            guard.take()
        };
        for (_, p) in session.into_iter().flat_map(|s| s.pending) {
            p.caller
                .send(Err(ClientError::Action(ActionError::ConnectionLost)));
        }
        self.closing.get_or_insert_with(Instant::now);
        self.expire_parked(Instant::now());
        if let Some(first) = self.first.take() {
            let _ = first.try_send(Err(ConnectError::Closed));
        }
        self.shared.update_stats(|s| s.next_attempt = None);
        self.shared.close(last);
        for done in self.close_waiters.drain(..) {
            let _ = done.try_send(());
        }
        log!(info, self.shared, state = ?self.shared.state(), "client closed");
    }
}

impl<R: Runtime> Drop for Ctx<R> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let why = match self.started {
            true => "the client's task was dropped before it ended",
            false => "the client's task never ran (not spawned, or dropped unpolled)",
        };
        log!(error, self.shared, "{why}: client closed");
        self.finish(ConnState::Closed(CloseReason::Internal(why.to_owned())));
    }
}
