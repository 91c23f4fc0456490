//! The conformance suite (`ami_testkit::conformance`) with the smol client:
//! every scenario over real TCP against the fake Asterisk.

use std::net::SocketAddr;
use std::time::Duration;

use ami_proto::{Action, CloseReason, Completion, Config, ConnState, Event, Stats};
use ami_smol::{Client, ClientConfig, ClientError, ConnectError, EventStream};
use ami_testkit::conformance::{Adapter, ConnectFailure, Ended, Scenario, SendFailure};
use futures_lite::{future, StreamExt};
use smol::Timer;

/// A smol `Client` and the event stream it had from before its login.
struct Smol {
    client: Client,
    events: EventStream,
    /// Sessions logged in when the current one started.
    session: u64,
}

/// Runs `f` on this thread, giving up with `None` after `within`.
fn within<T>(within: Duration, f: impl std::future::Future<Output = Option<T>>) -> Option<T> {
    smol::block_on(future::or(f, async {
        Timer::after(within).await;
        None
    }))
}

fn client_config(addr: SocketAddr, config: Config) -> ClientConfig {
    let mut c = ClientConfig::new(addr.to_string(), config);
    c.connect_timeout = Duration::from_secs(2);
    c
}

impl Adapter for Smol {
    const NAME: &'static str = "smol";

    fn applies(scenario: Scenario) -> Result<(), &'static str> {
        match scenario {
            Scenario::ErrorCancelled => Err("Client::send has no cancel: dropping its future \
                 discards the completion, the action stays pending in the core"),
            _ => Ok(()),
        }
    }

    fn connect(addr: SocketAddr, config: Config) -> Result<Self, ConnectFailure> {
        let mut builder = Client::builder(client_config(addr, config));
        let events = builder.events();
        match smol::block_on(builder.connect()) {
            Ok(client) => Ok(Smol {
                client,
                events,
                session: 1,
            }),
            Err(ConnectError::Login(e)) => Err(ConnectFailure::Login(e)),
            Err(ConnectError::Connect(e)) => Err(ConnectFailure::Connect(e.kind())),
            Err(other) => Err(ConnectFailure::Unreported(other.to_string())),
        }
    }

    fn start(addr: SocketAddr, config: Config) -> Self {
        let mut builder = Client::builder(client_config(addr, config));
        let events = builder.events();
        let client = builder.start().expect("a valid config");
        Smol {
            client,
            events,
            session: 0,
        }
    }

    fn send(&mut self, action: Action) -> Result<Completion, SendFailure> {
        smol::block_on(self.client.send(action)).map_err(|e| match e {
            ClientError::Send(e) => SendFailure::Refused(e),
            ClientError::Action(e) => SendFailure::Action(e),
            other => SendFailure::NoSession(other.to_string()),
        })
    }

    fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        within(timeout, self.events.next())
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
        if self.client.stats().sessions > self.session {
            // A newer session logged in already: this one ended.
            return Some(Ended { reason: None });
        }
        let mut changes = self.client.state_changes();
        within(limit, async {
            while let Some(state) = changes.next().await {
                if let ConnState::Closed(reason) = state {
                    return Some(Ended {
                        reason: Some(reason),
                    });
                }
            }
            None
        })
    }

    fn recover(&mut self, limit: Duration) -> bool {
        let (client, before) = (&self.client, self.session);
        let mut changes = client.state_changes();
        let ready = within(limit, async {
            while let Some(state) = changes.next().await {
                // The session is counted just after `Ready` is published.
                if state == ConnState::Ready {
                    while client.stats().sessions <= before {
                        Timer::after(Duration::from_millis(1)).await;
                    }
                    return Some(());
                }
            }
            None
        });
        self.session = client.stats().sessions;
        ready.is_some()
    }

    fn close(self) -> Result<(), String> {
        smol::block_on(self.client.close());
        match self.client.state() {
            ConnState::Closed(CloseReason::LoggedOff) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }
}

ami_testkit::conformance_suite!(Smol);
