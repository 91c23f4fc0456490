//! The conformance suite's `Adapter` for the async client, on any runtime.
//!
//! Not a test of its own: `ami-smol` and `ami-tokio` include this file
//! (`#[path]`) in their `tests/conformance.rs`, each with an [`Executor`]
//! saying how to make its runtime and wait for a future on the test's
//! thread, and expand `ami_testkit::conformance_suite!(Async<TheirExecutor>)`.
//! One wrapper for both, as the client is one: only the runtime differs.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ami_async::{Client, ClientConfig, ClientError, ConnectError, EventStream, Runtime};
use ami_async::{StateChanges, Timer};
use ami_proto::{Action, CloseReason, Completion, Config, ConnState, Event, Stats};
use ami_testkit::conformance::{Adapter, ConnectFailure, Ended, SendFailure};
use futures_lite::{future, StreamExt};

/// A runtime for the client, and a way to wait for a future on the test's
/// thread (the client's task runs elsewhere: a pool, or worker threads).
pub(crate) trait Executor: Sized {
    /// The client's runtime.
    type Runtime: Runtime;
    /// The adapter's name in the suite's messages.
    const NAME: &'static str;
    /// A fresh executor (one per client).
    fn new() -> Self;
    /// The runtime the client is built on.
    fn runtime(&self) -> Self::Runtime;
    /// Runs `f` to its end on this thread.
    fn block_on<F: Future>(&self, f: F) -> F::Output;
}

/// A client of `ami-async` on `E`'s runtime, the event stream it had from
/// before its login, and its state changes from the current session's
/// start (a stream keeps what it has not read, so no end is missed).
pub(crate) struct Async<E: Executor> {
    exec: E,
    client: Client<E::Runtime>,
    events: EventStream,
    changes: StateChanges,
}

impl<E: Executor> Async<E> {
    fn build(addr: SocketAddr, config: Config) -> (E, ami_async::ClientBuilder<E::Runtime>) {
        let exec = E::new();
        let mut c = ClientConfig::new(addr.to_string(), config);
        c.connect_timeout = Duration::from_secs(2);
        let builder = Client::builder_on(exec.runtime(), c);
        (exec, builder)
    }
}

/// Waits at most `limit` for `f` on `exec`, with the runtime's own timer.
fn within<E: Executor, T>(
    exec: &E,
    limit: Duration,
    f: impl Future<Output = Option<T>>,
) -> Option<T> {
    let (rt, at) = (exec.runtime(), Instant::now() + limit);
    exec.block_on(future::or(f, async move {
        // Made on the runtime's thread, as a tokio timer must be.
        let mut timer = rt.timer(at);
        future::poll_fn(|cx| timer.poll_fired(cx)).await;
        None
    }))
}

impl<E: Executor> Adapter for Async<E> {
    const NAME: &'static str = E::NAME;

    fn connect(addr: SocketAddr, config: Config) -> Result<Self, ConnectFailure> {
        let (exec, mut builder) = Self::build(addr, config);
        let events = builder.events();
        match exec.block_on(builder.connect()) {
            Ok(client) => Ok(Async {
                exec,
                changes: client.state_changes(),
                client,
                events,
            }),
            Err(ConnectError::Login(e)) => Err(ConnectFailure::Login(e)),
            Err(ConnectError::Connect(e)) => Err(ConnectFailure::Connect(e.kind())),
            Err(other) => Err(ConnectFailure::Unreported(other.to_string())),
        }
    }

    fn start(addr: SocketAddr, config: Config) -> Self {
        let (exec, mut builder) = Self::build(addr, config);
        let events = builder.events();
        let client = builder.start().expect("a valid config");
        Async {
            exec,
            changes: client.state_changes(),
            client,
            events,
        }
    }

    fn send(&mut self, action: Action) -> Result<Completion, SendFailure> {
        let result = self.exec.block_on(self.client.send(action));
        result.map_err(send_failure)
    }

    fn send_and_cancel(
        &mut self,
        action: Action,
        sent: &dyn Fn() -> bool,
    ) -> Result<Completion, SendFailure> {
        let (cancel, outcome) = self.client.send_cancellable(action);
        let mut outcome = Box::pin(outcome);
        let result = self.exec.block_on(async {
            // The first poll queues the action.
            if let Some(done) = future::poll_once(&mut outcome).await {
                return done;
            }
            for _ in 0..1000 {
                if sent() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(sent(), "the server never got the action");
            cancel.cancel();
            outcome.await
        });
        result.map_err(send_failure)
    }

    fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        let next = self.exec.block_on(self.events.next_timeout(timeout));
        next.ok().flatten()
    }

    fn idle(&mut self, d: Duration) {
        std::thread::sleep(d);
    }

    fn stats(&mut self) -> Stats {
        self.client.stats().session
    }

    fn dropped(&mut self) -> u64 {
        self.events.dropped() + self.client.stats().session.events_dropped_full
    }

    fn queue_high_water(&mut self) -> u64 {
        self.events.high_water() as u64
    }

    fn sessions(&mut self) -> u64 {
        self.client.stats().sessions
    }

    fn wait_ended(&mut self, limit: Duration) -> Option<Ended> {
        let (exec, changes) = (&self.exec, &mut self.changes);
        within(exec, limit, async {
            while let Some(state) = changes.next().await {
                if let ConnState::Closed(reason) = state {
                    return Some(Ended { reason });
                }
            }
            None
        })
    }

    fn recover(&mut self, limit: Duration) -> bool {
        // From the next session on: the changes of this one are past.
        let (exec, changes) = (&self.exec, &mut self.changes);
        let ready = within(exec, limit, async {
            while let Some(state) = changes.next().await {
                if matches!(state, ConnState::Ready | ConnState::Degraded { .. }) {
                    return Some(());
                }
            }
            None
        });
        ready.is_some()
    }

    fn close(self) -> Result<(), String> {
        match self.exec.block_on(self.client.close()) {
            CloseReason::LoggedOff => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }
}

fn send_failure(e: ClientError) -> SendFailure {
    match e {
        ClientError::Send(e) => SendFailure::Refused(e),
        ClientError::Action(e) => SendFailure::Action(e),
        other => SendFailure::NoSession(other.to_string()),
    }
}
