//! The outputs of a `Connection` as Python objects: `State` changes (with
//! their `CloseReason`), `Completion`s, and events.

use ami_proto::{CloseReason, ConnState, Output};
use pyo3::prelude::*;

use crate::completion;
use crate::errors;
use crate::message::PyEvent;
use crate::policy::failure_name;

/// A session's state, as `Connection.poll_output` reports each change.
#[pyclass(frozen, module = "ami._core", name = "State")]
pub(crate) struct PyState {
    name: &'static str,
    misses: u32,
    reason: Option<Py<PyCloseReason>>,
}

impl PyState {
    pub(crate) fn new(py: Python<'_>, state: &ConnState) -> PyResult<Self> {
        let (name, misses, reason) = match state {
            ConnState::LoggingIn => ("logging_in", 0, None),
            ConnState::Ready => ("ready", 0, None),
            ConnState::Degraded { misses } => ("degraded", *misses, None),
            ConnState::LoggingOff => ("logging_off", 0, None),
            ConnState::Closed(reason) => {
                let reason = Py::new(py, PyCloseReason::new(py, reason)?)?;
                ("closed", 0, Some(reason))
            }
            _ => ("unknown", 0, None),
        };
        Ok(PyState {
            name,
            misses,
            reason,
        })
    }
}

#[pymethods]
impl PyState {
    /// `logging_in`, `ready`, `degraded` (pongs missed; actions still
    /// work), `logging_off` or `closed`.
    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    /// Heartbeat pongs missed in a row (`degraded` only, else 0).
    #[getter]
    fn misses(&self) -> u32 {
        self.misses
    }

    /// Why the session ended (`closed` only, else `None`).
    #[getter]
    fn reason(&self, py: Python<'_>) -> Option<Py<PyCloseReason>> {
        self.reason.as_ref().map(|r| r.clone_ref(py))
    }

    fn __repr__(&self) -> String {
        match (&self.reason, self.name) {
            (Some(reason), _) => format!("State('closed', reason={:?})", reason.get().text),
            (None, "degraded") => format!("State('degraded', misses={})", self.misses),
            (None, name) => format!("State('{name}')"),
        }
    }
}

/// Why a session ended.
#[pyclass(frozen, module = "ami._core", name = "CloseReason")]
pub(crate) struct PyCloseReason {
    kind: &'static str,
    failure: Option<&'static str>,
    error: Option<Py<PyAny>>,
    text: String,
}

impl PyCloseReason {
    fn new(py: Python<'_>, reason: &CloseReason) -> PyResult<Self> {
        let (kind, error, text) = match reason {
            CloseReason::LoginFailed(err) => (
                "login_failed",
                Some(errors::login_error(py, err)?.unbind()),
                format!("login failed: {err}"),
            ),
            CloseReason::Lost => ("lost", None, "connection lost".to_owned()),
            CloseReason::HeartbeatTimeout => (
                "heartbeat_timeout",
                None,
                "heartbeat pongs missed".to_owned(),
            ),
            CloseReason::LoggedOff => ("logged_off", None, "logged off".to_owned()),
            CloseReason::Internal(why) => ("internal", None, why.clone()),
            other => ("unknown", None, format!("{other:?}")),
        };
        Ok(PyCloseReason {
            kind,
            failure: reason.failure().map(failure_name),
            error,
            text,
        })
    }
}

#[pymethods]
impl PyCloseReason {
    /// An adapter's own failure (its driver raised): nothing to retry.
    #[staticmethod]
    fn internal(text: String) -> Self {
        PyCloseReason {
            kind: "internal",
            failure: None,
            error: None,
            text,
        }
    }

    /// `login_failed`, `lost`, `heartbeat_timeout`, `logged_off` or
    /// `internal`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// How `ReconnectPolicy.on_failure` should count this end: `None` for a
    /// logoff (or an adapter's own failure), else `login`, `auth_failed`,
    /// `lost` or `heartbeat`.
    #[getter]
    fn failure(&self) -> Option<&'static str> {
        self.failure
    }

    /// The `LoginError` of a failed login, else `None`.
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.error.as_ref().map(|e| e.clone_ref(py))
    }

    fn __str__(&self) -> &str {
        &self.text
    }

    fn __repr__(&self) -> String {
        format!("CloseReason({:?}, {:?})", self.kind, self.text)
    }
}

/// How one action ended: `value` (what `send` returns) or `error` (an
/// `ActionError` instance), never both. `result()` returns the one or
/// raises the other.
#[pyclass(frozen, module = "ami._core", name = "Completion")]
pub(crate) struct PyCompletion {
    action_id: String,
    value: Option<Py<PyAny>>,
    error: Option<Py<PyAny>>,
}

#[pymethods]
impl PyCompletion {
    /// The id `Connection.send` returned.
    #[getter]
    fn action_id(&self) -> &str {
        &self.action_id
    }

    /// Whether the action succeeded.
    #[getter]
    fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// The `Response`, `EventList`, `CommandOutput` or `OriginateOutcome`.
    #[getter]
    fn value(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.value.as_ref().map(|v| v.clone_ref(py))
    }

    /// The `ActionError` (not raised).
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.error.as_ref().map(|e| e.clone_ref(py))
    }

    /// The value, or raises the error.
    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match (&self.error, &self.value) {
            (Some(err), _) => Err(PyErr::from_value(err.bind(py).clone())),
            (None, Some(value)) => Ok(value.clone_ref(py)),
            (None, None) => Ok(py.None()),
        }
    }

    fn __repr__(&self) -> String {
        let outcome = if self.error.is_some() { "error" } else { "ok" };
        format!("Completion({:?}, {outcome})", self.action_id)
    }
}

/// An output as a Python object.
pub(crate) fn output(py: Python<'_>, out: Output) -> PyResult<Bound<'_, PyAny>> {
    match out {
        Output::State(state) => Ok(Bound::new(py, PyState::new(py, &state)?)?.into_any()),
        Output::Completion { id, result } => {
            let (value, error) = match result {
                Ok(done) => (Some(completion::value(py, done)?.unbind()), None),
                Err(err) => (None, Some(errors::action_error(py, &err)?.unbind())),
            };
            let done = PyCompletion {
                action_id: id.as_str().to_owned(),
                value,
                error,
            };
            Ok(Bound::new(py, done)?.into_any())
        }
        Output::Event(event) => Ok(PyEvent::new(py, event)?.into_any()),
        _ => Ok(py.None().into_bound(py)),
    }
}
