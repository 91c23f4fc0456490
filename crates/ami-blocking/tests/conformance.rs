//! The conformance suite (`ami_testkit::conformance`) with the blocking
//! `Client` and with the `Multiplexer`: every scenario over real TCP
//! against the fake Asterisk.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ami_blocking::SubmitError;
use ami_blocking::{Client, ClientError, ConnectError, Multiplexer, MuxConfig, NodeClose};
use ami_blocking::{NodeId, NodeState};
use ami_proto::{Action, ActionError, CloseReason, Completion, Config, Event, Stats};
use ami_testkit::conformance::{Adapter, ConnectFailure, Ended, Scenario, SendFailure};

/// A blocking `Client`, and the sessions it logged in.
struct Blocking {
    client: Client,
    logins: u64,
}

impl Adapter for Blocking {
    const NAME: &'static str = "blocking";

    fn applies(scenario: Scenario) -> Result<(), &'static str> {
        match scenario {
            Scenario::ErrorCancelled => Err("Client::send holds the calling thread until the \
                 action completes: nobody is left to cancel it (the Multiplexer can)"),
            Scenario::RefusedCredentialsNoHotLoop => Err("the Client never reconnects by \
                 itself; Client::reconnect first waits the policy's delay (30-45 s after \
                 refused credentials)"),
            _ => Ok(()),
        }
    }

    fn connect(addr: SocketAddr, config: Config) -> Result<Self, ConnectFailure> {
        match Client::connect(addr, Duration::from_secs(2), config) {
            Ok(client) => Ok(Blocking { client, logins: 1 }),
            Err(ConnectError::Login(e)) => Err(ConnectFailure::Login(e)),
            Err(ConnectError::Connect(e)) => Err(ConnectFailure::Connect(e.kind())),
            Err(other) => Err(ConnectFailure::Unreported(other.to_string())),
        }
    }

    fn send(&mut self, action: Action) -> Result<Completion, SendFailure> {
        self.client.send(action).map_err(|e| match e {
            ClientError::Send(e) => SendFailure::Refused(e),
            ClientError::Action(e) => SendFailure::Action(e),
            other => SendFailure::NoSession(other.to_string()),
        })
    }

    fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        self.client.next_event(timeout).ok().flatten()
    }

    fn idle(&mut self, d: Duration) {
        // Nothing runs between calls.
        std::thread::sleep(d);
    }

    fn stats(&mut self) -> Stats {
        self.client.stats()
    }

    fn dropped(&mut self) -> u64 {
        self.client.stats().events_dropped_full
    }

    fn queue_high_water(&mut self) -> u64 {
        self.client.stats().queue_high_water
    }

    fn sessions(&mut self) -> u64 {
        self.logins
    }

    fn wait_ended(&mut self, within: Duration) -> Option<Ended> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            match self
                .client
                .next_event(end.saturating_duration_since(Instant::now()))
            {
                Err(ClientError::Closed(reason)) => return Some(Ended { reason }),
                Err(other) => panic!("{other:?}"),
                Ok(_) => {}
            }
        }
        None
    }

    fn recover(&mut self, within: Duration) -> bool {
        let started = Instant::now();
        let ok = self.client.reconnect().is_ok();
        self.logins += u64::from(ok);
        ok && started.elapsed() <= within
    }

    fn close(self) -> Result<(), String> {
        self.client.close().map_err(|e| e.to_string())
    }
}

/// A `Multiplexer` with one node. Its event queue is as long as the core's
/// (`Config::event_queue`), so its bounds are the other adapters'.
struct Mux {
    mux: Multiplexer,
    node: NodeId,
    /// The node's TCP session count when the current session started.
    session: u64,
}

/// The most a call waits for a completion (the core completes every
/// action by its timeout; this only bounds a bug).
const COMPLETION_BOUND: Duration = Duration::from_secs(30);

impl Mux {
    fn new(addr: SocketAddr, config: Config) -> Mux {
        let mut mc = MuxConfig::default();
        mc.event_queue = config.event_queue;
        let mut mux = Multiplexer::new(mc).expect("a poller");
        let node = mux.add_server(addr, config).expect("a valid config");
        Mux {
            mux,
            node,
            session: 0,
        }
    }

    fn node_stats(&self) -> ami_blocking::NodeStats {
        self.mux.stats(self.node).expect("the node")
    }

    /// Ticks until `done`, at most `within`; whether `done` held.
    fn tick_until(&mut self, within: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let end = Instant::now() + within;
        loop {
            if done(self) {
                return true;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.mux.tick(left.min(Duration::from_millis(20)));
        }
    }

    fn in_session(&self) -> bool {
        matches!(self.mux.node_state(self.node), Some(NodeState::Session(_)))
    }
}

impl Adapter for Mux {
    const NAME: &'static str = "mux";

    fn connect(addr: SocketAddr, config: Config) -> Result<Self, ConnectFailure> {
        let within = config.login_timeout + Duration::from_secs(2);
        let mut m = Mux::new(addr, config);
        m.tick_until(within, |m| {
            m.mux.is_ready(m.node) || m.mux.last_close_reason(m.node).is_some()
        });
        if m.mux.is_ready(m.node) {
            m.session = m.node_stats().sessions;
            return Ok(m);
        }
        match m.mux.last_close_reason(m.node) {
            Some(NodeClose::Connect(kind)) => Err(ConnectFailure::Connect(*kind)),
            Some(NodeClose::Session(CloseReason::LoginFailed(e))) => {
                Err(ConnectFailure::Login(e.clone()))
            }
            other => Err(ConnectFailure::Unreported(format!("{other:?}"))),
        }
    }

    fn start(addr: SocketAddr, config: Config) -> Self {
        Mux::new(addr, config)
    }

    fn send(&mut self, action: Action) -> Result<Completion, SendFailure> {
        let handle = match self.mux.submit_handle(self.node, action) {
            Ok(h) => h,
            Err(SubmitError::Refused(e)) => return Err(SendFailure::Refused(e)),
            Err(other) => return Err(SendFailure::NoSession(other.to_string())),
        };
        assert!(self.tick_until(COMPLETION_BOUND, |_| handle.is_done()));
        let result = handle.try_take().expect("done once");
        result.map_err(SendFailure::Action)
    }

    fn send_and_cancel(
        &mut self,
        action: Action,
        sent: &dyn Fn() -> bool,
    ) -> Result<Completion, SendFailure> {
        type Slot = Arc<Mutex<Option<Result<Completion, ActionError>>>>;
        let slot: Slot = Arc::default();
        let fill = slot.clone();
        let id = self
            .mux
            .submit(self.node, action, move |r| {
                *fill.lock().unwrap_or_else(PoisonError::into_inner) = Some(r)
            })
            .map_err(|e| SendFailure::NoSession(e.to_string()))?;
        assert!(self.tick_until(Duration::from_secs(5), |_| sent()));
        assert!(self.mux.cancel(self.node, &id), "still pending");
        let taken = || slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        let mut result = None;
        assert!(self.tick_until(COMPLETION_BOUND, |_| {
            result = result.take().or_else(taken);
            result.is_some()
        }));
        result.expect("completed").map_err(SendFailure::Action)
    }

    fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        let mut event = None;
        self.tick_until(timeout, |m| {
            event = m.mux.next_event().map(|(_, e)| e);
            event.is_some()
        });
        event
    }

    fn idle(&mut self, d: Duration) {
        self.tick_until(d, |_| false);
    }

    fn stats(&mut self) -> Stats {
        self.node_stats().session
    }

    fn dropped(&mut self) -> u64 {
        // The multiplexer counts what it drops with the core's drops.
        self.node_stats().session.events_dropped_full
    }

    fn queue_high_water(&mut self) -> u64 {
        // Its own queue, bounded by `MuxConfig::event_queue` (the core's
        // bound here): the one the consumer reads.
        self.mux.queue_high_water() as u64
    }

    fn sessions(&mut self) -> u64 {
        self.node_stats().logins
    }

    fn wait_ended(&mut self, within: Duration) -> Option<Ended> {
        let session = self.session;
        let ended = self.tick_until(within, |m| {
            !m.in_session() || m.node_stats().sessions > session
        });
        match self.mux.last_close_reason(self.node) {
            Some(NodeClose::Session(reason)) if ended => Some(Ended {
                reason: reason.clone(),
            }),
            _ => None,
        }
    }

    fn recover(&mut self, within: Duration) -> bool {
        let ready = self.tick_until(within, |m| m.mux.is_ready(m.node));
        self.session = self.node_stats().sessions;
        ready
    }

    fn close(mut self) -> Result<(), String> {
        let report = self.mux.shutdown(Instant::now() + Duration::from_secs(5));
        match report.logged_off {
            1 => Ok(()),
            _ => Err(format!("{report:?}")),
        }
    }
}

mod client {
    ami_testkit::conformance_suite!(super::Blocking);
}

mod mux {
    ami_testkit::conformance_suite!(super::Mux);
}
