//! `ami_options`: the plain C struct a connection is created from.

use std::collections::hash_map::RandomState;
use std::ffi::{c_char, c_int};
use std::hash::BuildHasher;
use std::time::Duration;

use ami_proto::{AuthMethod, Config, QueuePolicy};

use crate::status::{c_str, fail, guard, null, AMI_E_CONFIG, AMI_OK};

/// Log in with `Action: Challenge` and an MD5 digest (the default).
pub const AMI_AUTH_MD5: c_int = 0;
/// Log in with the secret in clear text (TLS or loopback only).
pub const AMI_AUTH_PLAIN: c_int = 1;

/// A full event queue drops its oldest event (the default).
pub const AMI_QUEUE_DROP_OLDEST: c_int = 0;
/// A full event queue drops the newest event.
pub const AMI_QUEUE_DROP_NEWEST: c_int = 1;
/// A full event queue stops decoding; `ami_conn_wants_read` turns 0 until
/// events are polled.
pub const AMI_QUEUE_BACKPRESSURE: c_int = 2;

/// Default `max_frame`: 4 MiB.
const DEFAULT_MAX_FRAME: u64 = 4 << 20;
/// Default `event_queue`: 10,000 events.
const DEFAULT_EVENT_QUEUE: u64 = 10_000;
/// Default action and login timeouts: 10 s.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Heartbeat interval set by `ami_options_init`: 15 s.
const DEFAULT_HEARTBEAT_MS: u64 = 15_000;

/// Options of one connection, mirrored by `ami_options` in `ami.h`.
///
/// Fill it with `ami_options_init`, then set what differs. Zero numbers and
/// NULL strings mean the default, except `heartbeat_ms`, where 0 turns
/// heartbeats off (`ami_options_init` sets it to 15000). The strings are
/// copied by `ami_conn_new`; they need not outlive the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AmiOptions {
    /// Name of the server in logs (NULL: `"ami"`).
    pub server: *const c_char,
    /// AMI user name (NULL: empty).
    pub username: *const c_char,
    /// AMI secret (NULL: empty).
    pub secret: *const c_char,
    /// `AMI_AUTH_MD5` (0, default) or `AMI_AUTH_PLAIN`.
    pub auth: c_int,
    /// Login `Events` header: `on`, `off` or a mask like `call,system` (NULL: `on`).
    pub events: *const c_char,
    /// Largest frame accepted, in bytes (0: 4 MiB; 64 KiB ..= 256 MiB).
    pub max_frame: u64,
    /// Capacity of the event queue (0: 10,000).
    pub event_queue: u64,
    /// `AMI_QUEUE_DROP_OLDEST` (0, default), `AMI_QUEUE_DROP_NEWEST` or `AMI_QUEUE_BACKPRESSURE`.
    pub queue_policy: c_int,
    /// Default action timeout in milliseconds (0: 10,000).
    pub action_timeout_ms: u64,
    /// Time allowed from connect to logged in, in milliseconds (0: 10,000).
    pub login_timeout_ms: u64,
    /// Idle time before a heartbeat Ping, in milliseconds; 0 turns heartbeats off.
    pub heartbeat_ms: u64,
    /// Seed of the ActionID instance part. 0 (the default) draws a random
    /// one per connection, so no two connections or processes share ids;
    /// any other value is used as is, the same ids every time: for tests.
    pub seed: u64,
}

impl Default for AmiOptions {
    fn default() -> Self {
        AmiOptions {
            server: std::ptr::null(),
            username: std::ptr::null(),
            secret: std::ptr::null(),
            auth: AMI_AUTH_MD5,
            events: std::ptr::null(),
            max_frame: DEFAULT_MAX_FRAME,
            event_queue: DEFAULT_EVENT_QUEUE,
            queue_policy: AMI_QUEUE_DROP_OLDEST,
            action_timeout_ms: DEFAULT_TIMEOUT_MS,
            login_timeout_ms: DEFAULT_TIMEOUT_MS,
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            seed: 0,
        }
    }
}

impl AmiOptions {
    /// The core configuration these options describe, or the error code
    /// (with its message recorded) when a field is unusable.
    ///
    /// # Safety
    ///
    /// Each string field is NULL or a valid NUL-terminated string.
    pub(crate) unsafe fn config(&self) -> Result<Config, c_int> {
        // SAFETY: the caller guarantees each string field is NULL or a
        // NUL-terminated string that outlives this call.
        let (server, username, secret, events) = unsafe {
            (
                opt_str(self.server, "options.server")?.unwrap_or("ami"),
                opt_str(self.username, "options.username")?.unwrap_or(""),
                opt_str(self.secret, "options.secret")?.unwrap_or(""),
                opt_str(self.events, "options.events")?.unwrap_or("on"),
            )
        };
        let mut config = Config::new(server, username, secret);
        config.events = events.to_owned();
        config.auth = match self.auth {
            AMI_AUTH_MD5 => AuthMethod::Md5,
            AMI_AUTH_PLAIN => AuthMethod::Plain,
            other => return Err(fail(AMI_E_CONFIG, format_args!("unknown auth {other}"))),
        };
        config.queue_policy = match self.queue_policy {
            AMI_QUEUE_DROP_OLDEST => QueuePolicy::DropOldest,
            AMI_QUEUE_DROP_NEWEST => QueuePolicy::DropNewest,
            AMI_QUEUE_BACKPRESSURE => QueuePolicy::Backpressure,
            other => {
                return Err(fail(
                    AMI_E_CONFIG,
                    format_args!("unknown queue_policy {other}"),
                ))
            }
        };
        config.max_frame = size(self.max_frame, DEFAULT_MAX_FRAME);
        config.event_queue = size(self.event_queue, DEFAULT_EVENT_QUEUE);
        config.action_timeout = millis(self.action_timeout_ms, DEFAULT_TIMEOUT_MS);
        config.login_timeout = millis(self.login_timeout_ms, DEFAULT_TIMEOUT_MS);
        config.heartbeat_interval =
            (self.heartbeat_ms != 0).then(|| Duration::from_millis(self.heartbeat_ms));
        config.seed = match self.seed {
            0 => random_seed(),
            fixed => fixed,
        };
        config
            .validate()
            .map_err(|e| fail(AMI_E_CONFIG, format_args!("invalid options: {e}")))?;
        Ok(config)
    }
}

/// A seed no other connection, in this process or another, is likely to
/// share: `RandomState` keys come from the OS once per process and change
/// with each call.
fn random_seed() -> u64 {
    RandomState::new().hash_one(std::process::id()) | 1
}

/// An optional string field: NULL is `None`.
///
/// # Safety
///
/// `ptr` is NULL or a valid NUL-terminated string.
unsafe fn opt_str<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>, c_int> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string.
    unsafe { c_str(ptr, what) }.map(Some)
}

/// A size field: 0 is the default; too large for `usize` stays too large,
/// for the validation to reject.
fn size(value: u64, default: u64) -> usize {
    let value = if value == 0 { default } else { value };
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// A millisecond field: 0 is the default.
fn millis(value: u64, default: u64) -> Duration {
    Duration::from_millis(if value == 0 { default } else { value })
}

/// Fills `*opts` with the defaults (NULL strings, MD5 login, 4 MiB frames,
/// 10,000 queued events, drop-oldest, 10 s action and login timeouts, 15 s
/// heartbeat, seed 0: a random one per connection).
///
/// Returns `AMI_OK`, or `AMI_E_NULL` when `opts` is NULL.
///
/// # Safety
///
/// `opts` is NULL or points to writable memory for one `ami_options`.
#[no_mangle]
pub unsafe extern "C" fn ami_options_init(opts: *mut AmiOptions) -> c_int {
    guard(|| {
        if opts.is_null() {
            return null("opts");
        }
        // SAFETY: non-NULL and writable per the contract; `write` does not
        // read (or drop) the possibly uninitialised old value.
        unsafe { opts.write(AmiOptions::default()) };
        AMI_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_options_are_defaults_without_heartbeat() {
        let zero = AmiOptions {
            max_frame: 0,
            event_queue: 0,
            action_timeout_ms: 0,
            login_timeout_ms: 0,
            heartbeat_ms: 0,
            ..AmiOptions::default()
        };
        // SAFETY: every string field is NULL.
        let config = unsafe { zero.config() }.unwrap();
        assert_eq!(config.max_frame, 4 << 20);
        assert_eq!(config.action_timeout, Duration::from_secs(10));
        assert_eq!(config.heartbeat_interval, None);
        assert_eq!(config.events, "on");
    }

    #[test]
    fn bad_fields_are_config_errors() {
        let bad = AmiOptions {
            max_frame: 1024,
            ..AmiOptions::default()
        };
        // SAFETY: every string field is NULL.
        assert_eq!(unsafe { bad.config() }.unwrap_err(), AMI_E_CONFIG);
        let bad = AmiOptions {
            auth: 7,
            ..AmiOptions::default()
        };
        // SAFETY: every string field is NULL.
        assert_eq!(unsafe { bad.config() }.unwrap_err(), AMI_E_CONFIG);
        let events = c"on\r\nAction: Originate";
        let bad = AmiOptions {
            events: events.as_ptr(),
            ..AmiOptions::default()
        };
        // SAFETY: `events` is a valid C string that outlives the call.
        assert_eq!(unsafe { bad.config() }.unwrap_err(), AMI_E_CONFIG);
    }
}
