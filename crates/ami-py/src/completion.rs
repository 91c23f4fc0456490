//! What a successful action produced, as Python objects: a `Response`, an
//! `EventList`, a `CommandOutput` or an `OriginateOutcome`.

use ami_proto::{CommandOutput, Completion, EventList};
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use crate::message::{text, PyEvent, PyResponse};

/// An event list: the response that opened it, every item in order, and
/// the event that closed it. Iterating yields the items. A list completes
/// only at its end: one cut short is an error, never a partial success.
#[pyclass(frozen, module = "ami._core", name = "EventList")]
pub(crate) struct PyEventList {
    response: Py<PyResponse>,
    items: Py<PyList>,
    complete: Option<Py<PyEvent>>,
}

#[pymethods]
impl PyEventList {
    /// The response that opened the list.
    #[getter]
    fn response(&self, py: Python<'_>) -> Py<PyResponse> {
        self.response.clone_ref(py)
    }

    /// The item events, in order.
    #[getter]
    fn items(&self, py: Python<'_>) -> Py<PyList> {
        self.items.clone_ref(py)
    }

    /// The `...Complete` event that ended the list.
    #[getter]
    fn complete(&self, py: Python<'_>) -> Option<Py<PyEvent>> {
        self.complete.as_ref().map(|e| e.clone_ref(py))
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.items.bind(py).len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.items.bind(py).try_iter().map(Bound::into_any)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("EventList(items={})", self.items.bind(py).len())
    }
}

/// The output of a `Command` action, whichever style the server used
/// (`Output:` headers, or a legacy `Response: Follows` body).
#[pyclass(frozen, module = "ami._core", name = "CommandOutput")]
pub(crate) struct PyCommandOutput {
    response: Py<PyResponse>,
    lines: Vec<Bytes>,
}

#[pymethods]
impl PyCommandOutput {
    /// The response carrying (or preceding) the output.
    #[getter]
    fn response(&self, py: Python<'_>) -> Py<PyResponse> {
        self.response.clone_ref(py)
    }

    /// The output lines without line ends (lossy UTF-8).
    #[getter]
    fn lines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.lines.iter().map(|l| text(py, l)))
    }

    /// The output lines as the exact bytes received.
    #[getter]
    fn lines_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.lines.iter().map(|l| PyBytes::new(py, l)))
    }

    /// The lines joined with `\n`.
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        text(py, &self.lines.join(&b'\n'))
    }

    fn __len__(&self) -> usize {
        self.lines.len()
    }

    fn __repr__(&self) -> String {
        format!("CommandOutput(lines={})", self.lines.len())
    }
}

/// The end of an async Originate: the acknowledging response and the
/// `OriginateResponse` event. A call that failed is still a completed
/// action: check `success` and `reason`.
#[pyclass(frozen, module = "ami._core", name = "OriginateOutcome")]
pub(crate) struct PyOriginateOutcome {
    response: Py<PyResponse>,
    event: Py<PyEvent>,
    success: bool,
    reason: Option<u32>,
}

#[pymethods]
impl PyOriginateOutcome {
    /// The `Success` response that queued the call.
    #[getter]
    fn response(&self, py: Python<'_>) -> Py<PyResponse> {
        self.response.clone_ref(py)
    }

    /// The `OriginateResponse` event.
    #[getter]
    fn event(&self, py: Python<'_>) -> Py<PyEvent> {
        self.event.clone_ref(py)
    }

    /// Whether the event says `Response: Success` (the call was answered).
    #[getter]
    fn success(&self) -> bool {
        self.success
    }

    /// The `Reason` code: 0 failed, 1 hung up, 3 ringing, 4 answered,
    /// 5 busy, 8 congestion; `None` when absent.
    #[getter]
    fn reason(&self) -> Option<u32> {
        self.reason
    }

    fn __repr__(&self) -> String {
        let reason = self.reason.map_or("None".to_owned(), |r| r.to_string());
        let success = if self.success { "True" } else { "False" };
        format!("OriginateOutcome(success={success}, reason={reason})")
    }
}

/// A completion as the Python object `send` returns.
pub(crate) fn value(py: Python<'_>, completion: Completion) -> PyResult<Bound<'_, PyAny>> {
    Ok(match completion {
        Completion::Response(response) => PyResponse::new(py, response)?.into_any(),
        Completion::List(list) => {
            let EventList {
                response,
                items,
                complete,
            } = *list;
            let events = items.iter().map(|e| PyEvent::new(py, e));
            let list = PyEventList {
                response: PyResponse::new(py, response)?.unbind(),
                items: PyList::new(py, events.collect::<PyResult<Vec<_>>>()?)?.unbind(),
                complete: complete
                    .map(|e| PyEvent::new(py, e).map(Bound::unbind))
                    .transpose()?,
            };
            Bound::new(py, list)?.into_any()
        }
        Completion::Command(output) => {
            let CommandOutput { response, lines } = *output;
            let output = PyCommandOutput {
                response: PyResponse::new(py, response)?.unbind(),
                lines,
            };
            Bound::new(py, output)?.into_any()
        }
        Completion::Originate(outcome) => {
            let outcome = *outcome;
            let (success, reason) = (outcome.is_success(), outcome.reason());
            let py_outcome = PyOriginateOutcome {
                response: PyResponse::new(py, outcome.response)?.unbind(),
                event: PyEvent::new(py, outcome.event)?.unbind(),
                success,
                reason,
            };
            Bound::new(py, py_outcome)?.into_any()
        }
        // A later kind: its response, which every kind has.
        other => PyResponse::new(py, other.response().clone())?.into_any(),
    })
}
