//! `ReconnectPolicy`: the core's backoff and circuit breaker, for Python
//! supervisors.

use ami_proto::{BreakerState, Failure, ReconnectPolicy};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::clock;
use crate::config::entropy_seed;

/// When to reconnect: backoff with jitter, gated by a circuit breaker, and
/// reset only once a session has stayed up `healthy_after` seconds.
///
/// The loop: before connecting, `may_attempt(now)`; once logged in,
/// `on_ready(now)`; on a failed attempt or an ended session,
/// `on_failure(now, failure)`, and sleep until the time it returns.
/// Failures are `"connect"`, `"login"`, `"auth_failed"` (refused
/// credentials: 30 to 45 s, never a hot loop), `"lost"` and `"heartbeat"`;
/// `CloseReason.failure` names the one a session's end counts as.
#[pyclass(module = "ami._core", name = "ReconnectPolicy")]
pub(crate) struct PyReconnectPolicy {
    inner: ReconnectPolicy,
}

/// The name of `failure` in Python, as `CloseReason.failure` gives it and
/// [`failure`] reads it back.
pub(crate) fn failure_name(failure: Failure) -> &'static str {
    match failure {
        Failure::Connect => "connect",
        Failure::Login => "login",
        Failure::AuthFailed => "auth_failed",
        Failure::Lost => "lost",
        Failure::Heartbeat => "heartbeat",
    }
}

/// The `Failure` named `name` (see [`failure_name`]).
fn failure(name: &str) -> PyResult<Failure> {
    Ok(match name {
        "connect" => Failure::Connect,
        "login" => Failure::Login,
        "auth_failed" => Failure::AuthFailed,
        "lost" => Failure::Lost,
        "heartbeat" => Failure::Heartbeat,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown failure {other:?}: expected connect, login, auth_failed, lost or heartbeat"
            )))
        }
    })
}

#[pymethods]
impl PyReconnectPolicy {
    /// The core's default policy with jitter seed `seed` (from process
    /// entropy when `None`); a session counts as healthy after
    /// `healthy_after` seconds.
    #[new]
    #[pyo3(signature = (seed = None, *, healthy_after = None))]
    fn new(seed: Option<u64>, healthy_after: Option<f64>) -> Self {
        let mut inner = ReconnectPolicy::with_seed(seed.unwrap_or_else(entropy_seed));
        if let Some(secs) = healthy_after {
            inner = inner.with_healthy_after(clock::duration(secs));
        }
        PyReconnectPolicy { inner }
    }

    /// Whether an attempt may start at `now`. A `True` while the breaker is
    /// half-open takes its probe: ask once per attempt.
    fn may_attempt(&mut self, now: f64) -> bool {
        self.inner.may_attempt(clock::instant(now))
    }

    /// Reports a failed attempt or an ended session at `now`; returns when
    /// the next attempt may start.
    fn on_failure(&mut self, now: f64, failure: &str) -> PyResult<f64> {
        let at = self
            .inner
            .on_failure(clock::instant(now), self::failure(failure)?);
        Ok(clock::secs(at))
    }

    /// Reports that the TCP connect succeeded (nothing resets yet).
    fn on_connected(&mut self) {
        self.inner.on_connected();
    }

    /// Reports that the session logged in at `now`.
    fn on_ready(&mut self, now: f64) {
        self.inner.on_ready(clock::instant(now));
    }

    /// Whether the current session counts as healthy at `now`; if so the
    /// policy resets now.
    fn refresh(&mut self, now: f64) -> bool {
        self.inner.refresh(clock::instant(now))
    }

    /// The earliest time at or after `now` when `may_attempt` can say yes.
    fn next_allowed(&self, now: f64) -> f64 {
        clock::secs(self.inner.next_allowed(clock::instant(now)))
    }

    /// `"closed"`, `"open"` or `"half_open"` at `now`.
    fn breaker_state(&self, now: f64) -> &'static str {
        match self.inner.breaker_state(clock::instant(now)) {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// Failures in a row since the last healthy session.
    #[getter]
    fn failures(&self) -> u32 {
        self.inner.failures()
    }

    /// Seconds a session must stay up to reset the policy.
    #[getter]
    fn healthy_after(&self) -> f64 {
        self.inner.healthy_after().as_secs_f64()
    }

    fn __repr__(&self) -> String {
        format!(
            "ReconnectPolicy(failures={}, healthy_after={})",
            self.inner.failures(),
            self.inner.healthy_after().as_secs_f64()
        )
    }
}
