//! One conformance suite for every adapter: the same scenarios, run over
//! real TCP against the fake Asterisk, whatever runtime drives the client.
//!
//! An adapter's test file wraps its client in a type implementing
//! [`Adapter`] (a dozen small methods: connect, send, read an event with a
//! timeout, counters, wait for the session's end or a new session, close)
//! and expands [`conformance_suite!`](crate::conformance_suite) with it:
//! one `#[test]` per [`Scenario`]. A scenario an adapter cannot run (the
//! blocking client has no cancel: its `send` holds the thread until the
//! completion) is skipped by [`Adapter::applies`], which says why; the
//! skip is printed, never silent.
//!
//! ```text
//! struct Smol { client: ami_smol::Client, events: ami_smol::EventStream }
//! impl ami_testkit::conformance::Adapter for Smol { /* connect, send, ... */ }
//! ami_testkit::conformance_suite!(Smol);
//! ```
//!
//! The instances: `crates/ami-smol/tests/conformance.rs` and
//! `crates/ami-tokio/tests/conformance.rs` (one wrapper for the async
//! client, `crates/ami-async/tests/support/conformance.rs`, on either
//! runtime) and `crates/ami-blocking/tests/conformance.rs` (the blocking
//! client and the multiplexer, one module each).
//!
//! Every wait in a scenario is bounded, and a watchdog aborts the test
//! binary should a scenario still run after [`SCENARIO_LIMIT`] (a hung
//! adapter must fail CI, not stall it). Scenarios assert what every adapter
//! must do the same way: completions and typed errors, counters, the
//! order of events, bounds; what differs by design (the blocking client
//! reads only while called, the multiplexer keeps a queue of its own) is
//! asserted as the invariant all of them share (every event decoded is
//! consumed or counted as dropped).

mod scenarios;

use std::fmt;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use ami_proto::{Action, ActionError, CloseReason, Completion, Config, Event, LoginError};
use ami_proto::{SendError, Stats};

/// The longest a scenario may run before the watchdog aborts the test
/// binary. The slowest scenario takes a few seconds.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(60);

/// Why [`Adapter::connect`] produced no logged-in client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The login failed, for this reason.
    Login(LoginError),
    /// The TCP connect failed.
    Connect(std::io::ErrorKind),
    /// It failed otherwise (the adapter's own error, in text): never the
    /// answer to a refused connect or login, which every adapter reports.
    Unreported(String),
}

/// Why [`Adapter::send`] produced no completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendFailure {
    /// Refused before anything was sent.
    Refused(SendError),
    /// Sent, and ended with this error.
    Action(ActionError),
    /// No session to send on (closed, or between sessions); nothing sent.
    NoSession(String),
}

/// How a session ended ([`Adapter::wait_ended`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Why, as the adapter reports it.
    pub reason: CloseReason,
}

/// A client of one adapter, as the suite drives it. Each method is a thin
/// call into the adapter's API; none may add protocol logic of its own.
///
/// Async adapters block the test's thread on their futures; the
/// multiplexer ticks while a method waits.
pub trait Adapter: Sized {
    /// The adapter's name in messages (`smol`, `blocking`, `mux`...).
    const NAME: &'static str;

    /// Whether `scenario` applies to this adapter: `Err(why)` skips it, and
    /// the test prints why. The default runs everything.
    fn applies(scenario: Scenario) -> Result<(), &'static str> {
        let _ = scenario;
        Ok(())
    }

    /// Connects to `addr` with `config` and waits until logged in; the
    /// first attempt's failure is returned, not retried. Events are
    /// collected from the login on (nothing the server sends after the
    /// login response may be missed).
    fn connect(addr: SocketAddr, config: Config) -> Result<Self, ConnectFailure>;

    /// Starts a client that connects in the background and keeps trying
    /// on its own, per its reconnect policy. Only for adapters that retry
    /// by themselves ([`Scenario::RefusedCredentialsNoHotLoop`]).
    fn start(addr: SocketAddr, config: Config) -> Self {
        let _ = (addr, config);
        unreachable!("{}: start() is not applicable; see applies()", Self::NAME)
    }

    /// Sends `action` and waits for its completion.
    fn send(&mut self, action: Action) -> Result<Completion, SendFailure>;

    /// Sends `action`, cancels it once `sent()` says the server has it,
    /// and waits for its completion ([`Scenario::ErrorCancelled`]).
    fn send_and_cancel(
        &mut self,
        action: Action,
        sent: &dyn Fn() -> bool,
    ) -> Result<Completion, SendFailure> {
        let _ = (action, sent);
        unreachable!(
            "{}: send_and_cancel() is not applicable; see applies()",
            Self::NAME
        )
    }

    /// The next event, waiting at most `timeout`; `None` when none came
    /// (or the session is over).
    fn next_event(&mut self, timeout: Duration) -> Option<Event>;

    /// Lets the adapter run for `d` without consuming anything (what it
    /// does meanwhile is its own: a background task reads, a multiplexer
    /// ticks, a blocking client does nothing until called).
    fn idle(&mut self, d: Duration);

    /// The core's counters of the current session, or of the last one
    /// once it ended and none replaced it yet.
    fn stats(&mut self) -> Stats;

    /// Events dropped for lack of room, in every queue of the adapter
    /// (the core's and its own).
    fn dropped(&mut self) -> u64;

    /// The highest number of events the queue the consumer reads from
    /// held at once.
    fn queue_high_water(&mut self) -> u64;

    /// Sessions that logged in so far.
    fn sessions(&mut self) -> u64;

    /// Waits at most `within` for the session to end (returns at once if
    /// it has); `None` if it did not. Events that arrive meanwhile may be
    /// discarded.
    fn wait_ended(&mut self, within: Duration) -> Option<Ended>;

    /// Gets a new ready session after the last one ended, within `within`:
    /// waits for the adapter's own reconnect, or asks for one.
    fn recover(&mut self, within: Duration) -> bool;

    /// Logs off and closes: `Ok` when the server said `Goodbye`, else how
    /// it ended.
    fn close(self) -> Result<(), String>;
}

/// Runs `scenario` with adapter `A`, unless [`Adapter::applies`] says it
/// does not apply (then prints why). A watchdog aborts the process if the
/// scenario outlives [`SCENARIO_LIMIT`].
pub fn run<A: Adapter>(scenario: Scenario) {
    if let Err(why) = A::applies(scenario) {
        eprintln!("{} {scenario}: skipped: {why}", A::NAME);
        return;
    }
    let (done, watched) = mpsc::channel::<()>();
    let name = format!("{} {scenario}", A::NAME);
    let _ = std::thread::Builder::new()
        .name("conformance-watchdog".into())
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = watched.recv_timeout(SCENARIO_LIMIT) {
                eprintln!("{name} still runs after {SCENARIO_LIMIT:?}: aborting");
                std::process::abort();
            }
        });
    scenario.run::<A>();
    let _ = done.send(());
}

/// Defines [`Scenario`] from one list: each variant, its doc, and the
/// function in `scenarios` that runs it.
macro_rules! scenarios {
    ($($(#[doc = $doc:literal])* $variant:ident => $fun:ident,)*) => {
        /// A scenario of the suite; [`conformance_suite!`](crate::conformance_suite)
        /// expands each into a `#[test]` named after its function.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Scenario {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Scenario {
            /// Every scenario, in the suite's order.
            pub const ALL: &'static [Scenario] = &[$(Scenario::$variant),*];

            /// The scenario's function (and test) name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Scenario::$variant => stringify!($fun),)*
                }
            }

            fn run<A: Adapter>(self) {
                match self {
                    $(Scenario::$variant => scenarios::$fun::<A>(),)*
                }
            }
        }
    };
}

scenarios! {
    /// A plain-text login, then a Ping; no Challenge is sent.
    LoginPlain => login_plain,
    /// An MD5 challenge login (Challenge, then Login with the key).
    LoginMd5 => login_md5,
    /// One response completes an action (`Getvar`: its headers).
    CompletionResponse => completion_response,
    /// An event list (`CoreShowChannels`): every item, then its end.
    CompletionList => completion_list,
    /// Command output as `Output:` headers, blank lines kept.
    CompletionCommand => completion_command,
    /// Command output the Asterisk 13 way (`Follows`, `--END COMMAND--`).
    CompletionCommandLegacy => completion_command_legacy,
    /// An async Originate that is answered completes with `Reason: 4`,
    /// and the call's events follow.
    OriginateSuccess => originate_success,
    /// Async Originates to a busy and to a missing destination complete
    /// with their own failure (`Reason: 5`, `Reason: 0`).
    OriginateFailurePerDestination => originate_failure_per_destination,
    /// An async Originate under an ActionID the caller chose completes with
    /// it, and another session matches its `OriginateResponse` by it; a
    /// chosen id out of bounds or with a space is refused before sending.
    ChosenActionId => chosen_action_id,
    /// An action that would inject a second one (CR/LF in a header) is
    /// refused before anything is sent; the session goes on.
    RefusedBeforeSending => refused_before_sending,
    /// `Response: Error` (an unknown action, a permission the user lacks)
    /// is `ActionError::Server` with the server's message; the session
    /// goes on.
    ErrorServer => error_server,
    /// A `Failure` status is `ActionError::Failed`, never a success.
    ErrorFailureStatus => error_failure_status,
    /// No outcome within the action's timeout: `ActionError::Timeout`, on
    /// time; the session goes on.
    ErrorTimeout => error_timeout,
    /// Command output over its own limit: `ActionError::FrameTooLarge`;
    /// the session goes on.
    ErrorFrameTooLarge => error_frame_too_large,
    /// A cancelled action: `ActionError::Cancelled`; the session goes on.
    ErrorCancelled => error_cancelled,
    /// A response that never comes while a later one does (the heartbeat's
    /// Ping): `ActionError::Desync`, not a wait until the timeout.
    ErrorDesync => error_desync,
    /// The server killed mid-action: `ActionError::ConnectionLost`, the
    /// session ends, a new one logs in; nothing is sent twice.
    ConnectionLostThenReconnect => connection_lost_then_reconnect,
    /// An event over the frame limit is skipped and counted; the session
    /// goes on.
    OversizedEvent => oversized_event,
    /// Garbage between frames is skipped and counted; nothing fails.
    Garbage => garbage,
    /// A server writing one byte at a time: login, answers and lists whole.
    PartialWrites => partial_writes,
    /// Events arrive in the order the server sent them.
    EventsInOrder => events_in_order,
    /// A stalled consumer under drop-oldest: drops are counted, the newest
    /// events survive, every event is consumed or counted.
    SlowConsumerDropOldest => slow_consumer_drop_oldest,
    /// A stalled consumer under drop-newest: drops are counted, the oldest
    /// events survive, every event is consumed or counted.
    SlowConsumerDropNewest => slow_consumer_drop_newest,
    /// A slow consumer under back-pressure: nothing lost, queues bounded.
    SlowConsumerBackpressure => slow_consumer_backpressure,
    /// A refused TCP connection fails at once, not after the connect
    /// timeout.
    RefusedConnection => refused_connection,
    /// Refused credentials: a typed login error, fast.
    RefusedCredentials => refused_credentials,
    /// Refused credentials are not retried in a hot loop by an adapter
    /// that reconnects on its own.
    RefusedCredentialsNoHotLoop => refused_credentials_no_hot_loop,
    /// A half-open link (the server falls silent) is caught by the
    /// heartbeat within a bound and a new session follows, twice in a row;
    /// then a healthy session answers the heartbeat.
    HeartbeatHalfOpen => heartbeat_half_open,
    /// Logoff: `Goodbye`, the connection closed, `Logoff` the last action.
    Logoff => logoff,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Expands to one `#[test]` per [`Scenario`] for `$adapter` (a type
/// implementing [`Adapter`]), named after the scenario's function, plus a
/// test that the list covers every scenario.
#[macro_export]
macro_rules! conformance_suite {
    ($adapter:ty) => {
        $crate::conformance_suite!(@tests $adapter;
            login_plain: LoginPlain,
            login_md5: LoginMd5,
            completion_response: CompletionResponse,
            completion_list: CompletionList,
            completion_command: CompletionCommand,
            completion_command_legacy: CompletionCommandLegacy,
            originate_success: OriginateSuccess,
            originate_failure_per_destination: OriginateFailurePerDestination,
            chosen_action_id: ChosenActionId,
            refused_before_sending: RefusedBeforeSending,
            error_server: ErrorServer,
            error_failure_status: ErrorFailureStatus,
            error_timeout: ErrorTimeout,
            error_frame_too_large: ErrorFrameTooLarge,
            error_cancelled: ErrorCancelled,
            error_desync: ErrorDesync,
            connection_lost_then_reconnect: ConnectionLostThenReconnect,
            oversized_event: OversizedEvent,
            garbage: Garbage,
            partial_writes: PartialWrites,
            events_in_order: EventsInOrder,
            slow_consumer_drop_oldest: SlowConsumerDropOldest,
            slow_consumer_drop_newest: SlowConsumerDropNewest,
            slow_consumer_backpressure: SlowConsumerBackpressure,
            refused_connection: RefusedConnection,
            refused_credentials: RefusedCredentials,
            refused_credentials_no_hot_loop: RefusedCredentialsNoHotLoop,
            heartbeat_half_open: HeartbeatHalfOpen,
            logoff: Logoff,
        );
    };
    (@tests $adapter:ty; $($test:ident: $variant:ident,)*) => {
        $(
            #[test]
            fn $test() {
                let scenario = $crate::conformance::Scenario::$variant;
                assert_eq!(scenario.name(), stringify!($test));
                $crate::conformance::run::<$adapter>(scenario);
            }
        )*

        #[test]
        fn suite_covers_every_scenario() {
            let listed = [$($crate::conformance::Scenario::$variant),*];
            assert_eq!(&listed[..], $crate::conformance::Scenario::ALL);
        }
    };
}
