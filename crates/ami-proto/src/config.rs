//! Connection configuration: every limit and timeout, validated together.
//!
//! The reasons for the defaults are in [`crate::defaults`].

use std::fmt;
use std::time::Duration;

use crate::error::ConfigError;
use crate::queue::QueuePolicy;
use crate::redact::RedactionPolicy;

/// A secret (AMI password). Never printed; zeroed when dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Secret(secret.into())
    }

    /// The secret's bytes, for the login digest or the `Secret` header only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // `black_box` keeps the stores from being removed as dead.
            *b = std::hint::black_box(0);
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s.as_bytes().to_vec())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret::new(s.into_bytes())
    }
}

/// How the connection authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthMethod {
    /// `Action: Challenge` then a `Key: md5(challenge + secret)`: the secret
    /// never crosses the wire. Preferred.
    #[default]
    Md5,
    /// `Secret:` in clear text. Use only over TLS or loopback.
    Plain,
}

/// Options of one AMI session. Build with [`Config::new`], adjust fields,
/// then [`Config::validate`] (done again by [`crate::Connection::new`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Name of the server in logs and ActionIDs (any text; never parsed back).
    pub server: String,
    /// AMI user name.
    pub username: String,
    /// AMI secret.
    pub secret: Secret,
    /// Login method.
    pub auth: AuthMethod,
    /// Value of the Login `Events` header (`on`, `off`, or a mask like `call,system`).
    pub events: String,
    /// Largest frame accepted (64 KiB ..= 256 MiB).
    pub max_frame: usize,
    /// Largest Command output collected for one action (>= 64 KiB ..= 1 GiB).
    pub max_command_output: usize,
    /// Most items collected for one event-list action.
    pub max_list_items: usize,
    /// Most bytes collected for one event-list action.
    pub max_list_bytes: usize,
    /// Most actions awaiting completion.
    pub max_pending: usize,
    /// Largest write buffer: sends beyond it are refused (back-pressure).
    pub max_write_buffer: usize,
    /// Capacity of the event queue.
    pub event_queue: usize,
    /// What to do when the event queue is full.
    pub queue_policy: QueuePolicy,
    /// Default time an action may take, unless the action overrides it.
    pub action_timeout: Duration,
    /// Time allowed from connection to logged in (banner, challenge, login).
    pub login_timeout: Duration,
    /// Idle time before a heartbeat Ping; `None` disables heartbeats.
    pub heartbeat_interval: Option<Duration>,
    /// Heartbeat Pings missed in a row before the link is declared dead.
    pub heartbeat_misses: u32,
    /// Prefix of generated ActionIDs.
    pub action_id_prefix: String,
    /// Longest generated ActionID (16 ..= 64): servers keep only about 67
    /// bytes of an ActionID in some events (1.8-era `OriginateResponse`) and
    /// copy them into 80-byte buffers elsewhere, so a longer id could come
    /// back cut and never match its action.
    pub max_action_id: usize,
    /// Seed for the ActionID instance part and any jitter.
    ///
    /// [`Config::new`] draws it from process entropy, so connections made
    /// from different configurations (or processes) never share ActionIDs.
    /// Set a fixed value only in tests, to replay the same ids and jitter.
    /// Give each session [`Config::session_seed`] of it, so ids never repeat
    /// across reconnects either.
    pub seed: u64,
    /// What `Debug` prints and logs hide: applied to every frame, event,
    /// response and completion the connection produces, and to its logs.
    pub redaction: RedactionPolicy,
}

impl Config {
    /// A configuration with the documented defaults and a [`Config::seed`]
    /// drawn from process entropy.
    pub fn new(
        server: impl Into<String>,
        username: impl Into<String>,
        secret: impl Into<Secret>,
    ) -> Self {
        Config {
            server: server.into(),
            username: username.into(),
            secret: secret.into(),
            auth: AuthMethod::Md5,
            events: "on".into(),
            max_frame: 4 << 20,
            max_command_output: 16 << 20,
            max_list_items: 1_000_000,
            max_list_bytes: 256 << 20,
            max_pending: 10_000,
            max_write_buffer: 4 << 20,
            event_queue: 10_000,
            queue_policy: QueuePolicy::DropOldest,
            action_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(10),
            heartbeat_interval: Some(Duration::from_secs(15)),
            heartbeat_misses: 2,
            action_id_prefix: "ami".into(),
            max_action_id: 64,
            seed: entropy_seed(),
            redaction: RedactionPolicy::default(),
        }
    }

    /// The seed for session number `session` of this configuration: distinct
    /// per session, stable for a given `seed` (so tests reproduce).
    pub fn session_seed(&self, session: u64) -> u64 {
        let mut rng = crate::rng::Rng::new(self.seed ^ session.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next_u64()
    }

    /// Checks every limit, and the limits against each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        range("max_frame", self.max_frame, 64 << 10, 256 << 20)?;
        range(
            "max_command_output",
            self.max_command_output,
            64 << 10,
            1 << 30,
        )?;
        range("max_list_items", self.max_list_items, 1, 100_000_000)?;
        range("max_list_bytes", self.max_list_bytes, 64 << 10, 4 << 30)?;
        range("max_pending", self.max_pending, 1, 1_000_000)?;
        range("max_write_buffer", self.max_write_buffer, 4 << 10, 1 << 30)?;
        range("event_queue", self.event_queue, 1, 10_000_000)?;
        range("max_action_id", self.max_action_id, 16, 64)?;
        range("heartbeat_misses", self.heartbeat_misses as usize, 1, 100)?;
        range_ms("action_timeout_ms", self.action_timeout, 1, 86_400_000)?;
        range_ms("login_timeout_ms", self.login_timeout, 1, 3_600_000)?;
        if let Some(hb) = self.heartbeat_interval {
            range_ms("heartbeat_interval_ms", hb, 10, 86_400_000)?;
        }
        // An action must fit through the write buffer: the largest action is
        // 128 lines of 1,024 bytes.
        if self.max_write_buffer < 128 * 1024 {
            return Err(ConfigError::Inconsistent(format!(
                "max_write_buffer ({}) must hold the largest action (131072 bytes)",
                self.max_write_buffer
            )));
        }
        if self.events.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(ConfigError::Inconsistent(
                "events must not contain CR or LF".into(),
            ));
        }
        if self.username.bytes().any(|b| b == b'\r' || b == b'\n')
            || self
                .secret
                .expose()
                .iter()
                .any(|&b| b == b'\r' || b == b'\n')
        {
            return Err(ConfigError::Inconsistent(
                "username and secret must not contain CR or LF".into(),
            ));
        }
        Ok(())
    }
}

/// A seed from process entropy: the keys of a fresh std `RandomState`.
///
/// The one place the core draws entropy, and only when a configuration is
/// made: std seeds those keys from the OS once per thread and changes them
/// for every `RandomState`, so each call differs, within a process and
/// across processes. Everything after construction stays deterministic.
fn entropy_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x5EED_u64)
}

fn range(name: &'static str, value: usize, min: usize, max: usize) -> Result<(), ConfigError> {
    let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    range_u64(name, wide(value), wide(min), wide(max))
}

/// [`range`] for a duration, in whole milliseconds (saturating).
pub(crate) fn range_ms(
    name: &'static str,
    d: Duration,
    min: u64,
    max: u64,
) -> Result<(), ConfigError> {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    range_u64(name, ms, min, max)
}

fn range_u64(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::new("pbx1", "admin", "s3cret").validate().unwrap();
    }

    #[test]
    fn limits_are_checked() {
        let mut c = Config::new("pbx1", "admin", "x");
        c.max_frame = 1024;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                name: "max_frame",
                ..
            })
        ));
        let mut c = Config::new("pbx1", "admin", "x");
        c.max_action_id = 200;
        assert!(c.validate().is_err());
        // Servers keep only about 67 bytes of an ActionID in some events.
        let mut c = Config::new("pbx1", "admin", "x");
        c.max_action_id = 65;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                name: "max_action_id",
                max: 64,
                ..
            })
        ));
        c.max_action_id = 64;
        c.validate().unwrap();
        let mut c = Config::new("pbx1", "admin", "x");
        c.max_write_buffer = 64 << 10;
        assert!(matches!(c.validate(), Err(ConfigError::Inconsistent(_))));
        let mut c = Config::new("pbx1", "admin", "x");
        c.events = "on\r\nAction: Originate".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn session_seeds_differ_per_session_and_repeat_per_seed() {
        let c = Config::new("pbx1", "admin", "x");
        let seeds: std::collections::HashSet<u64> = (0..1000).map(|n| c.session_seed(n)).collect();
        assert_eq!(seeds.len(), 1000);
        assert_eq!(c.session_seed(7), c.clone().session_seed(7));
    }

    #[test]
    fn default_seeds_are_drawn_per_config_so_ids_never_repeat() {
        // Two configurations made with `Config::new` (as two processes would
        // make theirs) must not share a seed, or their connections generate
        // the same ActionIDs and one process completes another's Originate.
        let a = Config::new("pbx1", "admin", "x");
        let b = Config::new("pbx1", "admin", "x");
        assert_ne!(a.seed, b.seed);
        let now = std::time::Instant::now();
        let mut ids_a = crate::Connection::new(a, now).unwrap();
        let mut ids_b = crate::Connection::new(b, now).unwrap();
        let first = |c: &mut crate::Connection| {
            c.handle_input(b"Asterisk Call Manager/11.0.0\r\n", now);
            let sent = String::from_utf8_lossy(c.poll_transmit().unwrap()).into_owned();
            sent.lines()
                .find_map(|l| l.strip_prefix("ActionID: ").map(str::to_owned))
                .unwrap()
        };
        assert_ne!(first(&mut ids_a), first(&mut ids_b));
        // A seed set explicitly (tests) is kept as set.
        let mut fixed = Config::new("pbx1", "admin", "x");
        fixed.seed = 7;
        assert_eq!(fixed.session_seed(3), fixed.clone().session_seed(3));
    }

    #[test]
    fn secret_never_prints() {
        let c = Config::new("pbx1", "admin", "hunter2");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
