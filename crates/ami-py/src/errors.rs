//! The core's typed errors as instances of the exception classes of
//! `ami.errors` (defined in Python, with their docs and attributes).
//!
//! Each exception gets the core's `Display` text as its message and the
//! variant's fields as attributes (`ServerError.message`,
//! `ActionTimeout.timeout`, `FrameTooLarge.limit`, ...), so the text is
//! written once, in the core.

use ami_proto::{ActionError, CallEventsOff, ConfigError, LoginError, SendError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use pyo3::IntoPyObjectExt;

/// `ami.errors`, imported once.
fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    ERRORS
        .get_or_try_init(py, || py.import("ami.errors").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// An instance of `ami.errors.<class>` with message `text` and `fields` as
/// attributes.
fn instance<'py>(
    py: Python<'py>,
    class: &str,
    text: String,
    fields: &[(&str, Bound<'py, PyAny>)],
) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = PyDict::new(py);
    for (name, value) in fields {
        kwargs.set_item(name, value)?;
    }
    module(py)?.getattr(class)?.call((text,), Some(&kwargs))
}

/// A field value as a Python object.
fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, value: T) -> PyResult<Bound<'py, PyAny>> {
    value.into_bound_py_any(py)
}

/// How an action ended badly, as an `ami.errors.ActionError` subclass.
pub(crate) fn action_error<'py>(py: Python<'py>, err: &ActionError) -> PyResult<Bound<'py, PyAny>> {
    let text = err.to_string();
    match err {
        ActionError::Server { message } => {
            instance(py, "ServerError", text, &[("message", obj(py, message)?)])
        }
        ActionError::Failed { status, message } => instance(
            py,
            "Failed",
            text,
            &[("status", obj(py, status)?), ("message", obj(py, message)?)],
        ),
        ActionError::Timeout(after) => instance(
            py,
            "ActionTimeout",
            text,
            &[("timeout", obj(py, after.as_secs_f64())?)],
        ),
        ActionError::ConnectionLost => instance(py, "ConnectionLost", text, &[]),
        ActionError::FrameTooLarge { limit } => {
            instance(py, "FrameTooLarge", text, &[("limit", obj(py, limit)?)])
        }
        ActionError::Cancelled => instance(py, "Cancelled", text, &[]),
        ActionError::Desync(why) => instance(py, "Desync", text, &[("reason", obj(py, why)?)]),
        _ => instance(py, "ActionError", text, &[]),
    }
}

/// An action refused before anything was queued, as an
/// `ami.errors.SendError` subclass.
pub(crate) fn send_error(py: Python<'_>, err: &SendError) -> PyErr {
    send_error_instance(py, err).map_or_else(|e| e, PyErr::from_value)
}

fn send_error_instance<'py>(py: Python<'py>, err: &SendError) -> PyResult<Bound<'py, PyAny>> {
    let text = err.to_string();
    match err {
        SendError::TooManyPending { max } => {
            instance(py, "TooManyPending", text, &[("max", obj(py, max)?)])
        }
        SendError::WriteBufferFull { buffered, max } => instance(
            py,
            "WriteBufferFull",
            text,
            &[("buffered", obj(py, buffered)?), ("max", obj(py, max)?)],
        ),
        SendError::NotReady { state } => {
            instance(py, "NotReady", text, &[("state", obj(py, *state)?)])
        }
        SendError::MissingParameter { action, parameter } => instance(
            py,
            "MissingParameter",
            text,
            &[
                ("action", obj(py, *action)?),
                ("parameter", obj(py, *parameter)?),
            ],
        ),
        SendError::InvalidActionId { id } => {
            instance(py, "InvalidActionId", text, &[("id", obj(py, id)?)])
        }
        SendError::ActionIdTooLong { len, max } => instance(
            py,
            "ActionIdTooLong",
            text,
            &[("len", obj(py, len)?), ("max", obj(py, max)?)],
        ),
        SendError::DuplicateActionId { id } => {
            instance(py, "DuplicateActionId", text, &[("id", obj(py, id)?)])
        }
        SendError::NoCallEvents(off) => {
            let setting = match off {
                CallEventsOff::Login { events } => format!("Events: {events}"),
                CallEventsOff::EventsAction { mask } => format!("EventMask: {mask}"),
                _ => off.to_string(),
            };
            instance(py, "NoCallEvents", text, &[("setting", obj(py, setting)?)])
        }
        // LineBreak, InvalidName, LineTooLong, TooManyLines and any later
        // malformation: the action itself is wrong.
        _ => instance(py, "InvalidAction", text, &[]),
    }
}

/// Why a login did not succeed, as an `ami.errors.LoginError` subclass.
pub(crate) fn login_error<'py>(py: Python<'py>, err: &LoginError) -> PyResult<Bound<'py, PyAny>> {
    let text = err.to_string();
    match err {
        LoginError::AuthenticationFailed(message) => instance(
            py,
            "AuthenticationFailed",
            text,
            &[("message", obj(py, message)?)],
        ),
        LoginError::Refused(message) => {
            instance(py, "LoginRefused", text, &[("message", obj(py, message)?)])
        }
        LoginError::Failed { status, message } => instance(
            py,
            "LoginFailed",
            text,
            &[("status", obj(py, status)?), ("message", obj(py, message)?)],
        ),
        LoginError::Timeout => instance(py, "LoginTimeout", text, &[]),
        LoginError::ConnectionLost => instance(py, "LoginConnectionLost", text, &[]),
        LoginError::BadBanner(banner) => {
            instance(py, "BadBanner", text, &[("banner", obj(py, banner)?)])
        }
        _ => instance(py, "LoginError", text, &[]),
    }
}

/// A configuration the core refused, as `ami.errors.ConfigError`.
pub(crate) fn config_error(py: Python<'_>, err: &ConfigError) -> PyErr {
    instance(py, "ConfigError", err.to_string(), &[]).map_or_else(|e| e, PyErr::from_value)
}

/// A configuration problem found by the binding itself (a bad policy name).
pub(crate) fn config_text(py: Python<'_>, text: String) -> PyErr {
    instance(py, "ConfigError", text, &[]).map_or_else(|e| e, PyErr::from_value)
}
