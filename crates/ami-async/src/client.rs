//! The public client: connect, send (and cancel), events, state, close.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_proto::{instant_after, Action, CloseReason, Completion, ConfigError, ConnState};
use async_channel::Sender;
use futures_lite::{future, StreamExt};
use tracing::Instrument;

use crate::cancel::Cancel;
use crate::command::{Caller, Command, First, Ticket};
use crate::config::ClientConfig;
use crate::error::{ClientError, ConnectError};
use crate::events::EventStream;
use crate::link::{Answer, Direct, Link};
use crate::model::LiveModel;
use crate::reply;
use crate::runtime::{self, BackgroundTask, Runtime, Socket, SpawnError};
use crate::shared::{Shared, StateChanges};
use crate::stats::ClientStats;
use crate::supervisor;
use crate::task::Ctx;

/// Prepares a [`Client`]: subscribe to events first, then connect or start.
///
/// Subscribing here, before login, keeps the burst of events a server sends
/// right after the login response.
pub struct ClientBuilder<R: Runtime> {
    config: ClientConfig,
    shared: Arc<Shared>,
    spawner: Option<Spawner>,
    model: Option<LiveModel>,
    rt: R,
}

type Spawner = Box<dyn FnOnce(BackgroundTask) + Send>;

impl<R: Runtime> std::fmt::Debug for ClientBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> ClientBuilder<R> {
    /// A new event subscription that will receive every event of the
    /// client's sessions, from the first one on.
    pub fn events(&mut self) -> EventStream {
        self.shared.subscribe()
    }

    /// Keeps a live model of the server, bounded by `limits`: every event
    /// the client receives is applied to it, subscribers or not; after each
    /// login (the first and every reconnect) the client sends the five
    /// lists a resynchronisation needs ([`ami_state::Model::resync_lists`])
    /// and applies them; the Originates sent are followed as call records.
    /// [`Client::model`] gives the handle.
    ///
    /// The model's work is done by the client's task between reads, a
    /// bounded batch per turn, and never waits for a caller holding the
    /// model: see [`LiveModel`]. It costs a few hundred nanoseconds per
    /// event, several times the decoding (the `model` benchmark of
    /// `ami-state`).
    ///
    /// ```no_run
    /// # smol::block_on(async {
    /// # let config: ami_smol::ClientConfig = todo!();
    /// let client = ami_smol::Client::builder(config)
    ///     .with_model(ami_smol::state::Limits::default())
    ///     .connect()
    ///     .await?;
    /// let model = client.model().expect("built with a model");
    /// model.synced().await;
    /// let up = model.read(|m| m.channels().count());
    /// println!("{up} channels");
    /// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub fn with_model(mut self, limits: ami_state::Limits) -> Self {
        self.model = Some(LiveModel::new(limits, self.shared.kicker()));
        self
    }

    /// Runs the client's background task through `spawn` rather than on
    /// the runtime's default spawner (smol: its global executor, which runs
    /// it on a thread of its own; tokio: the runtime the builder was made
    /// in). For instance, spawned on the `smol::Executor` that also runs
    /// the code reading the events, the task and its consumer share a
    /// thread: no cross-thread wake-up per batch of events, and one thread
    /// less competing for cores. On tokio, `spawn_with` can name a runtime
    /// by its `Handle` when the builder is made outside of it.
    ///
    /// `spawn` must poll the task to completion (detach it, do not drop it):
    /// dropping it stops the client at once, without a Logoff, closed with
    /// [`CloseReason::Internal`].
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use ami_smol::{Client, ClientConfig};
    /// # let config: ClientConfig = todo!();
    /// let ex = Arc::new(smol::Executor::new());
    /// smol::block_on(ex.run(async {
    ///     let spawner = ex.clone();
    ///     let mut builder = Client::builder(config).spawn_with(move |task| {
    ///         spawner.spawn(task).detach();
    ///     });
    ///     let mut events = builder.events();
    ///     let client = builder.connect().await.expect("login");
    ///     // ... read `events`, use `client`, on this one thread.
    /// #   drop((events, client));
    /// }));
    /// ```
    pub fn spawn_with(mut self, spawn: impl FnOnce(BackgroundTask) + Send + 'static) -> Self {
        self.spawner = Some(Box::new(spawn));
        self
    }

    /// Connects, logs in and returns the client once it is ready. The
    /// first attempt's failure is returned (no retry); after that, lost
    /// sessions are replaced if [`ClientConfig::reconnect`].
    pub async fn connect(self) -> Result<Client<R>, ConnectError> {
        let (tx, rx) = async_channel::bounded(1);
        let (client, spawned) = self.spawn(Some(tx)).map_err(ConnectError::Config)?;
        spawned.map_err(ConnectError::Spawn)?;
        match rx.recv().await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(ConnectError::Closed),
        }
    }

    /// Starts the client in the background and returns at once. Every
    /// attempt, the first included, is retried per the reconnect policy
    /// (if [`ClientConfig::reconnect`]); [`Client::ready`] waits until it
    /// is ready.
    ///
    /// If the task cannot be started (tokio: the builder was made outside a
    /// runtime and no [`spawn_with`](Self::spawn_with) was given), the
    /// error is logged and the client returned is closed:
    /// `Closed(Internal(why))`, every send refused as
    /// [`ClientError::Closed`]. [`connect`](Self::connect) returns
    /// [`ConnectError::Spawn`] instead.
    pub fn start(self) -> Result<Client<R>, ConfigError> {
        Ok(self.spawn(None)?.0)
    }

    /// Starts the task; says whether it could be spawned (if not, the
    /// client is closed already: the task, dropped, closed it).
    fn spawn(
        self,
        first: Option<First>,
    ) -> Result<(Client<R>, Result<(), SpawnError>), ConfigError> {
        self.config.validate()?;
        let (cmds_tx, cmds_rx) = async_channel::bounded(1024);
        let span = tracing::info_span!("ami", server = %self.config.proto.server);
        let link = Link::new(self.shared.clone());
        // Made before the task: if the task is never run, dropping it still
        // ends the client (see `supervise`).
        let mut ctx = Ctx::new(
            self.rt.clone(),
            self.config,
            self.shared.clone(),
            link.clone(),
            cmds_rx,
            first,
        );
        ctx.model = self
            .model
            .as_ref()
            .map(|m| m.feed(self.shared.name.clone()));
        let task: BackgroundTask = Box::pin(supervisor::supervise(ctx).instrument(span));
        let spawned = match self.spawner {
            Some(spawn) => {
                spawn(task);
                Ok(())
            }
            None => self.rt.spawn(task),
        };
        let client = Client {
            cmds: cmds_tx,
            shared: self.shared,
            model: self.model,
            link,
            rt: self.rt,
        };
        if let Err(e) = &spawned {
            log!(error, client.shared, error = %e, "could not start the client's task");
        }
        Ok((client, spawned))
    }
}

/// A handle to one AMI server's session, kept alive (and reconnected) by a
/// background task on the runtime `R`. Cheap to clone; use it from any
/// number of tasks.
///
/// When every handle is dropped, the task logs off (within a second) and
/// every [`EventStream`] of the client ends.
pub struct Client<R: Runtime> {
    cmds: Sender<Command>,
    shared: Arc<Shared>,
    model: Option<LiveModel>,
    /// The session, shared with the task: a send that finds it idle goes
    /// out from the caller's task (see [`send`](Self::send)).
    link: Arc<Link<R::Socket>>,
    rt: R,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            cmds: self.cmds.clone(),
            shared: self.shared.clone(),
            model: self.model.clone(),
            link: self.link.clone(),
            rt: self.rt.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.shared.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Client<R> {
    /// A builder, to subscribe to events before connecting. The runtime is
    /// the caller's ([`Runtime::current`]).
    pub fn builder(config: ClientConfig) -> ClientBuilder<R> {
        Client::builder_on(R::current(), config)
    }

    /// A builder for a client on `rt`, wherever it is called from (tokio:
    /// `Tokio::new(handle)` outside the runtime of `handle`).
    pub fn builder_on(rt: R, config: ClientConfig) -> ClientBuilder<R> {
        let shared = Shared::new(&config, runtime::sleeper(&rt));
        ClientBuilder {
            config,
            shared,
            spawner: None,
            model: None,
            rt,
        }
    }

    /// Connects and logs in; see [`ClientBuilder::connect`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # smol::block_on(async {
    /// let config = ami_smol::ClientConfig::new(
    ///     "127.0.0.1:5038",
    ///     ami_smol::Config::new("pbx1", "admin", "secret"),
    /// );
    /// let client = ami_smol::Client::connect(config).await?;
    /// client.send(ami_smol::Action::ping()).await?;
    /// client.close().await;
    /// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn connect(config: ClientConfig) -> Result<Client<R>, ConnectError> {
        Client::builder(config).connect().await
    }

    /// Connects, logs in and returns the client with an event stream that
    /// has seen every event since login.
    pub async fn connect_with_events(
        config: ClientConfig,
    ) -> Result<(Client<R>, EventStream), ConnectError> {
        let mut builder = Client::builder(config);
        let events = builder.events();
        Ok((builder.connect().await?, events))
    }

    /// Sends `action` and waits for its completion: one response, an event
    /// list, Command output or an async Originate outcome, per the action's
    /// [`Strategy`](ami_proto::Strategy). It times out after the action's
    /// own timeout ([`Action::with_timeout`]) or `proto.action_timeout`.
    ///
    /// Every action completes exactly once. Dropping the future does not
    /// cancel the action (see [`send_cancellable`](Self::send_cancellable));
    /// its completion is then discarded. Sending `Logoff` yourself ends the
    /// client as [`close`](Self::close) does: a logged-off session is not
    /// replaced.
    ///
    /// When no other action is in flight, the action is written from the
    /// calling task, and this future reads the socket for its answer
    /// (handing out the events it meets, as the client's task would):
    /// no task hop either way. Otherwise the client's task sends it, with
    /// the others, and reads.
    pub async fn send(&self, action: Action) -> Result<Completion, ClientError> {
        submit(&self.cmds, &self.link, action, None).await
    }

    /// Sends `action` as [`send`](Self::send) does, with a handle that
    /// cancels it: the returned future then completes with
    /// [`ActionError::Cancelled`](ami_proto::ActionError::Cancelled) at
    /// once, through the core's `Connection::cancel` (whatever the server
    /// still sends for it is absorbed). A cancel cannot recall what the
    /// server already received: the action may still be carried out.
    ///
    /// The future runs whether or not it is polled yet: the action is
    /// queued when it is first polled.
    ///
    /// ```no_run
    /// # smol::block_on(async {
    /// # let client: ami_smol::Client = todo!();
    /// # let originate = ami_smol::Action::ping();
    /// let (cancel, outcome) = client.send_cancellable(originate);
    /// // ... the caller hung up before the call was answered:
    /// cancel.cancel();
    /// assert!(outcome.await.is_err());
    /// # });
    /// ```
    pub fn send_cancellable(
        &self,
        action: Action,
    ) -> (
        Cancel,
        impl Future<Output = Result<Completion, ClientError>> + Send + 'static,
    ) {
        let ticket = Arc::new(Ticket::default());
        let cancel = Cancel::new(ticket.clone(), self.shared.clone());
        let (cmds, link) = (self.cmds.clone(), self.link.clone());
        let outcome = async move { submit(&cmds, &link, action, Some(ticket)).await };
        (cancel, outcome)
    }

    /// The live model of the server, if the client was built
    /// [`with_model`](ClientBuilder::with_model).
    pub fn model(&self) -> Option<&LiveModel> {
        self.model.as_ref()
    }

    /// A new event subscription, receiving events from now on.
    pub fn events(&self) -> EventStream {
        self.shared.subscribe()
    }

    /// The session's state now: `LoggingIn` while connecting and logging in;
    /// between sessions the last session's `Closed(reason)` (`Closed(Lost)`
    /// after a failed connect); after [`close`](Self::close),
    /// `Closed(LoggedOff)` (or how the last session ended); after the
    /// client's task panicked or was dropped, `Closed(Internal(why))`.
    pub fn state(&self) -> ConnState {
        self.shared.state()
    }

    /// Whether actions can be sent now (`Ready` or `Degraded`).
    pub fn is_ready(&self) -> bool {
        is_ready(&self.state())
    }

    /// Waits until actions can be sent (`Ready` or `Degraded`), e.g. after
    /// [`ClientBuilder::start`] or while reconnecting. Fails with
    /// [`ClientError::Closed`] once the client has closed for good.
    pub async fn ready(&self) -> Result<(), ClientError> {
        let mut changes = self.state_changes();
        while let Some(state) = changes.next().await {
            // The state now, too: a watcher far behind may have missed some.
            if is_ready(&state) || self.is_ready() {
                return Ok(());
            }
        }
        Err(ClientError::Closed)
    }

    /// [`ready`](Self::ready), waiting at most `timeout`: fails with
    /// [`ClientError::Disconnected`] when the client is still not ready
    /// then.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ClientError> {
        let deadline = instant_after(Instant::now(), timeout);
        future::or(self.ready(), async {
            runtime::sleep_until(&self.rt, Some(deadline)).await;
            Err(ClientError::Disconnected)
        })
        .await
    }

    /// A stream of state changes: the current state first, then each change.
    /// It ends when the client closes for good.
    pub fn state_changes(&self) -> StateChanges {
        self.shared.watch()
    }

    /// A snapshot of the counters (updated once per driver turn).
    pub fn stats(&self) -> ClientStats {
        self.shared.stats()
    }

    /// The server's name (`proto.server`).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Logs off and closes, allowing pending actions 5 s to complete; see
    /// [`close_within`](Self::close_within).
    pub async fn close(&self) -> CloseReason {
        self.close_within(Duration::from_secs(5)).await
    }

    /// Logs off, lets pending actions complete until `deadline` passes, then
    /// closes the socket; actions still pending fail with `ConnectionLost`.
    /// No reconnect follows. Returns how the client ended (`LoggedOff`, or
    /// how the last session ended if there was none to log off), once its
    /// task has finished (every handle then gets [`ClientError::Closed`]).
    /// Calling it again is harmless and answers the same.
    pub async fn close_within(&self, deadline: Duration) -> CloseReason {
        let (done, rx) = async_channel::bounded(1);
        let deadline = instant_after(Instant::now(), deadline);
        if self
            .cmds
            .send(Command::Close { deadline, done })
            .await
            .is_ok()
        {
            let _ = rx.recv().await;
        }
        // Already closed, or closing: the watch ends with the last state.
        let mut changes = self.state_changes();
        while changes.next().await.is_some() {}
        match self.state() {
            ConnState::Closed(reason) => reason,
            other => unreachable!("a client that has ended is closed, not {other:?}"),
        }
    }
}

fn is_ready(state: &ConnState) -> bool {
    matches!(state, ConnState::Ready | ConnState::Degraded { .. })
}

/// Sends `action` itself if the session is idle, else queues it for the
/// task; waits for its outcome.
async fn submit<S: Socket>(
    cmds: &Sender<Command>,
    link: &Link<S>,
    action: Action,
    ticket: Option<Arc<Ticket>>,
) -> Result<Completion, ClientError> {
    let (token, hot, waiting) = match link.try_send(action, ticket) {
        Direct::Reading(token, hot, waiting) => (token, hot, waiting),
        Direct::Answered(outcome) => return outcome,
        Direct::Waiting(waiting) => (0, false, waiting),
        Direct::Declined(action, ticket) => {
            let (reply, waiting) = reply::reply_in(None);
            let caller = Caller { reply, ticket };
            cmds.send(Command::Send { action, caller })
                .await
                .map_err(|_| ClientError::Closed)?;
            (0, false, waiting)
        }
    };
    Answer::new(link, token, hot, waiting)
        .await
        .ok_or(ClientError::Closed)?
}
