//! A whole session in memory with virtual time, through the public API only:
//! a `Connection`, a scripted server's bytes, and `now` moved by hand.

#![allow(dead_code, unreachable_pub)] // Each test file uses its own part.

use std::time::{Duration, Instant};

use ami_proto::{
    Action, ActionError, ActionId, AuthMethod, Completion, Config, Connection, Output,
};

pub const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

/// A plain-login configuration with a fixed seed (tests reproduce) and no
/// heartbeat unless a test turns it on.
pub fn config() -> Config {
    let mut c = Config::new("pbx-test", "admin", "hunter2");
    c.auth = AuthMethod::Plain;
    c.heartbeat_interval = None;
    c.seed = 1;
    c
}

pub struct Session {
    pub conn: Connection,
    pub now: Instant,
    pub outputs: Vec<Output>,
}

impl Session {
    /// A connection whose transport has just connected.
    pub fn new(config: Config) -> Session {
        let now = Instant::now();
        Session {
            conn: Connection::new(config, now).expect("valid config"),
            now,
            outputs: Vec::new(),
        }
    }

    /// A logged-in session; the login's outputs are cleared.
    pub fn ready(config: Config) -> Session {
        let mut s = Session::new(config);
        s.input(BANNER);
        let login = s.sent_ids();
        s.input(success(&login[0]).as_bytes());
        assert!(s.conn.is_ready(), "{:?}", s.conn.state());
        s.outputs.clear();
        s
    }

    pub fn input(&mut self, bytes: &[u8]) {
        self.conn.handle_input(bytes, self.now);
        self.drain();
    }

    pub fn drain(&mut self) {
        while let Some(out) = self.conn.poll_output() {
            self.outputs.push(out);
        }
    }

    /// Moves time to `at` and fires what is due.
    pub fn wait_until(&mut self, at: Instant) {
        self.now = at;
        self.conn.handle_timeout(at);
        self.drain();
    }

    pub fn wait(&mut self, d: Duration) {
        self.wait_until(self.now + d);
    }

    /// Everything written so far, taken from the write buffer.
    pub fn sent(&mut self) -> String {
        let Some(bytes) = self.conn.poll_transmit() else {
            return String::new();
        };
        let text = String::from_utf8_lossy(bytes).into_owned();
        self.conn.advance(text.len());
        text
    }

    pub fn sent_ids(&mut self) -> Vec<String> {
        self.sent()
            .lines()
            .filter_map(|l| l.strip_prefix("ActionID: ").map(str::to_owned))
            .collect()
    }

    pub fn send(&mut self, action: Action) -> ActionId {
        let id = self.conn.send(action, self.now).expect("accepted");
        self.sent();
        id
    }

    /// The one completion of `id`.
    pub fn only(&self, id: &ActionId) -> &Result<Completion, ActionError> {
        let all: Vec<_> = self
            .outputs
            .iter()
            .filter_map(|o| match o {
                Output::Completion { id: got, result } if got == id => Some(result),
                _ => None,
            })
            .collect();
        assert_eq!(all.len(), 1, "completions of {id}: {all:?}");
        all[0]
    }
}

pub fn success(id: impl std::fmt::Display) -> String {
    format!("Response: Success\r\nActionID: {id}\r\n\r\n")
}
