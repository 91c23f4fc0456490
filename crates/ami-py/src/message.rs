//! Frames as Python objects: `Message`, and its kinds `Event` and `Response`.
//!
//! Each wraps the core's frame, a slice of the bytes it arrived in, and
//! decodes nothing up front: a header's value becomes a `str` only when it
//! is asked for. The headers are an ordered multimap: lookups ignore ASCII
//! case and return the first value (as Asterisk reads actions), `get_all`
//! returns every value in wire order (`Variable`, `Output`, `ChanVariable`).
//!
//! Values are decoded as UTF-8 and never raise: bytes that are not UTF-8
//! (a Latin-1 caller name from an old phone) become U+FFFD in the `str`,
//! and the exact bytes stay available from `get_bytes` and `raw`.

use ami_proto::{Event, Message, Response};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

/// A header value as a `str`: UTF-8, with U+FFFD for bytes that are not.
pub(crate) fn text<'py>(py: Python<'py>, value: &[u8]) -> Bound<'py, PyString> {
    match std::str::from_utf8(value) {
        Ok(s) => PyString::new(py, s),
        Err(_) => PyString::new(py, &String::from_utf8_lossy(value)),
    }
}

/// One frame from the server: ordered headers with case-insensitive lookup.
///
/// `msg["Channel"]` is the first `Channel` value (`KeyError` if none),
/// `msg.get("Channel")` the same or `None`, `msg.get_all("Variable")` every
/// value in order, `msg.get_bytes(...)` the exact bytes. `items()` lists
/// every header line in wire order, repeats included.
#[pyclass(frozen, subclass, module = "ami._core", name = "Message")]
pub(crate) struct PyMessage {
    pub(crate) inner: Message,
}

#[pymethods]
impl PyMessage {
    fn __getitem__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyString>> {
        match self.inner.get(name) {
            Some(value) => Ok(text(py, value)),
            None => Err(PyKeyError::new_err(name.to_owned())),
        }
    }

    /// The first value of `name` (ASCII case ignored), or `default`.
    #[pyo3(signature = (name, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> Option<Bound<'py, PyAny>> {
        match self.inner.get(name) {
            Some(value) => Some(text(py, value).into_any()),
            None => default,
        }
    }

    /// Every value of `name`, in wire order (empty if none).
    fn get_all<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.headers().get_all(name).map(|v| text(py, v)))
    }

    /// The first value of `name` as the exact bytes received, or `None`.
    fn get_bytes<'py>(&self, py: Python<'py>, name: &str) -> Option<Bound<'py, PyBytes>> {
        self.inner.get(name).map(|v| PyBytes::new(py, v))
    }

    /// Every value of `name` as the exact bytes received.
    fn get_all_bytes<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyList>> {
        let values = self.inner.headers().get_all(name);
        PyList::new(py, values.map(|v| PyBytes::new(py, v)))
    }

    fn __contains__(&self, name: &str) -> bool {
        self.inner.get(name).is_some()
    }

    /// Header lines, repeats included.
    fn __len__(&self) -> usize {
        self.inner.headers().len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.keys(py)?.try_iter().map(Bound::into_any)
    }

    /// Header names in wire order, repeats included.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.headers().iter().map(|(n, _)| text(py, n)))
    }

    /// Header values in wire order.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.headers().iter().map(|(_, v)| text(py, v)))
    }

    /// `(name, value)` pairs in wire order, repeats included.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let pairs = self.inner.headers().iter();
        PyList::new(py, pairs.map(|(n, v)| (text(py, n), text(py, v))))
    }

    /// A `dict` of the first value of each name, ASCII case ignored (the
    /// name as first spelled). Repeated headers keep only their first
    /// value: use `items()` or `get_all()` for those.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        let mut seen: Vec<&[u8]> = Vec::new();
        for (name, value) in self.inner.headers().iter() {
            if !seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                seen.push(name);
                dict.set_item(text(py, name), text(py, value))?;
            }
        }
        Ok(dict)
    }

    /// The header block exactly as received (line ends included).
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.headers().raw())
    }

    /// The `ActionID` header, if any.
    #[getter]
    fn action_id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyString>> {
        self.inner.action_id().map(|v| text(py, v))
    }

    /// The headers, with secrets hidden by the connection's redaction policy.
    fn __repr__(&self) -> String {
        format!("Message({:?})", self.inner.headers())
    }
}

/// An `Event:` frame. `event.name` is the event's name; every lookup of
/// `Message` works on it.
#[pyclass(frozen, extends = PyMessage, module = "ami._core", name = "Event")]
pub(crate) struct PyEvent;

impl PyEvent {
    pub(crate) fn new(py: Python<'_>, event: Event) -> PyResult<Bound<'_, PyEvent>> {
        let init = PyClassInitializer::from(PyMessage {
            inner: event.into_message(),
        });
        Bound::new(py, init.add_subclass(PyEvent))
    }
}

#[pymethods]
impl PyEvent {
    /// The event's name (`Newchannel`, `Hangup`, ...).
    #[getter]
    fn name<'py>(slf: &Bound<'py, Self>) -> Bound<'py, PyString> {
        let value = slf.as_super().get().inner.get("Event").unwrap_or(b"");
        text(slf.py(), value)
    }

    /// Whether the name is `name`, ASCII case ignored.
    fn is_named(slf: &Bound<'_, Self>, name: &str) -> bool {
        let value = slf.as_super().get().inner.get("Event").unwrap_or(b"");
        value.eq_ignore_ascii_case(name.as_bytes())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!("Event({:?})", slf.as_super().get().inner.headers())
    }
}

/// A `Response:` frame: the answer to an action.
#[pyclass(frozen, extends = PyMessage, module = "ami._core", name = "Response")]
pub(crate) struct PyResponse;

impl PyResponse {
    pub(crate) fn new(py: Python<'_>, response: Response) -> PyResult<Bound<'_, PyResponse>> {
        let init = PyClassInitializer::from(PyMessage {
            inner: response.into_message(),
        });
        Bound::new(py, init.add_subclass(PyResponse))
    }
}

#[pymethods]
impl PyResponse {
    /// The `Response` header verbatim: `Success`, `Error`, `Goodbye`, ...
    #[getter]
    fn status<'py>(slf: &Bound<'py, Self>) -> Bound<'py, PyString> {
        let value = slf.as_super().get().inner.get("Response").unwrap_or(b"");
        text(slf.py(), value)
    }

    /// The `Message` header, if any.
    #[getter]
    fn message<'py>(slf: &Bound<'py, Self>) -> Option<Bound<'py, PyString>> {
        let value = slf.as_super().get().inner.get("Message")?;
        Some(text(slf.py(), value))
    }

    /// Command output lines: the legacy `Follows` text split into lines,
    /// or else every `Output` header (Asterisk 14 and later).
    #[getter]
    fn output<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyList>> {
        let py = slf.py();
        let lines = slf.as_super().get().inner.output_lines();
        PyList::new(py, lines.map(|l| text(py, l)))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!("Response({:?})", slf.as_super().get().inner.headers())
    }
}
