//! `Config`: the core's configuration, built and validated in one call.

use std::hash::{BuildHasher, RandomState};

use ami_proto::{AuthMethod, Config, QueuePolicy};
use pyo3::prelude::*;

use crate::clock;
use crate::errors;

/// One server's session settings: credentials, limits, queue policy,
/// timeouts and heartbeat. Validated when built (`ConfigError` names the
/// first value out of range); immutable afterwards.
///
/// Times are in seconds (floats). The secret is never shown by `repr` and
/// cannot be read back.
#[pyclass(frozen, module = "ami._core", name = "Config")]
pub(crate) struct PyConfig {
    pub(crate) inner: Config,
}

/// A `QueuePolicy` from its name (`drop-oldest`, `drop-newest`,
/// `backpressure`; `_` accepted for `-`).
pub(crate) fn policy(py: Python<'_>, name: &str) -> PyResult<QueuePolicy> {
    name.replace('_', "-")
        .parse()
        .map_err(|text| errors::config_text(py, text))
}

#[pymethods]
impl PyConfig {
    #[new]
    #[pyo3(signature = (
        server, username, secret, *,
        auth = "md5",
        events = String::from("on"),
        action_timeout = 10.0,
        login_timeout = 10.0,
        heartbeat_interval = Some(15.0),
        heartbeat_misses = 2,
        event_queue = 10_000,
        queue_policy = "drop-oldest",
        max_frame = 4 << 20,
        max_command_output = 16 << 20,
        max_list_items = 1_000_000,
        max_list_bytes = 256 << 20,
        max_pending = 10_000,
        max_write_buffer = 4 << 20,
        action_id_prefix = String::from("ami"),
        max_action_id = 64,
        seed = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        server: String,
        username: String,
        secret: String,
        auth: &str,
        events: String,
        action_timeout: f64,
        login_timeout: f64,
        heartbeat_interval: Option<f64>,
        heartbeat_misses: u32,
        event_queue: usize,
        queue_policy: &str,
        max_frame: usize,
        max_command_output: usize,
        max_list_items: usize,
        max_list_bytes: usize,
        max_pending: usize,
        max_write_buffer: usize,
        action_id_prefix: String,
        max_action_id: usize,
        seed: Option<u64>,
    ) -> PyResult<Self> {
        let mut config = Config::new(server, username, secret);
        config.auth = match auth.to_ascii_lowercase().as_str() {
            "md5" => AuthMethod::Md5,
            "plain" => AuthMethod::Plain,
            other => {
                let text = format!("unknown auth {other:?}: expected \"md5\" or \"plain\"");
                return Err(errors::config_text(py, text));
            }
        };
        config.events = events;
        config.action_timeout = clock::duration(action_timeout);
        config.login_timeout = clock::duration(login_timeout);
        config.heartbeat_interval = heartbeat_interval.map(clock::duration);
        config.heartbeat_misses = heartbeat_misses;
        config.event_queue = event_queue;
        config.queue_policy = policy(py, queue_policy)?;
        config.max_frame = max_frame;
        config.max_command_output = max_command_output;
        config.max_list_items = max_list_items;
        config.max_list_bytes = max_list_bytes;
        config.max_pending = max_pending;
        config.max_write_buffer = max_write_buffer;
        config.action_id_prefix = action_id_prefix;
        config.max_action_id = max_action_id;
        if let Some(seed) = seed {
            config.seed = seed;
        }
        config
            .validate()
            .map_err(|err| errors::config_error(py, &err))?;
        Ok(PyConfig { inner: config })
    }

    /// The server's name in logs and ActionIDs.
    #[getter]
    fn server(&self) -> &str {
        &self.inner.server
    }

    #[getter]
    fn username(&self) -> &str {
        &self.inner.username
    }

    /// `"md5"` or `"plain"`.
    #[getter]
    fn auth(&self) -> &'static str {
        match self.inner.auth {
            AuthMethod::Plain => "plain",
            _ => "md5",
        }
    }

    /// The login's `Events` value.
    #[getter]
    fn events(&self) -> &str {
        &self.inner.events
    }

    #[getter]
    fn action_timeout(&self) -> f64 {
        self.inner.action_timeout.as_secs_f64()
    }

    #[getter]
    fn login_timeout(&self) -> f64 {
        self.inner.login_timeout.as_secs_f64()
    }

    #[getter]
    fn heartbeat_interval(&self) -> Option<f64> {
        self.inner.heartbeat_interval.map(|d| d.as_secs_f64())
    }

    /// The capacity of the event queue (the core's, and each stream's).
    #[getter]
    fn event_queue(&self) -> usize {
        self.inner.event_queue
    }

    /// What a full event queue does: `drop-oldest`, `drop-newest` or
    /// `backpressure`.
    #[getter]
    fn queue_policy(&self) -> &'static str {
        self.inner.queue_policy.as_str()
    }

    #[getter]
    fn max_pending(&self) -> usize {
        self.inner.max_pending
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The seed of session number `session` (each session of a client
    /// gets its own, so ActionIDs never repeat across reconnects).
    fn session_seed(&self, session: u64) -> u64 {
        self.inner.session_seed(session)
    }

    fn __repr__(&self) -> String {
        format!(
            "Config(server={:?}, username={:?}, auth={:?}, events={:?}, queue_policy={:?}, event_queue={})",
            self.inner.server,
            self.inner.username,
            self.auth(),
            self.inner.events,
            self.queue_policy(),
            self.inner.event_queue
        )
    }
}

/// A seed from process entropy, for objects made without one.
pub(crate) fn entropy_seed() -> u64 {
    RandomState::new().hash_one(0x5EED_u64)
}
