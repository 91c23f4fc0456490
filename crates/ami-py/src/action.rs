//! `Action`: one AMI request, built from a name and headers.

use ami_proto::{Action, Originate, RedactionPolicy, Strategy};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};

use crate::clock;

/// One AMI request: a name and ordered headers.
///
/// `Action("Setvar", Variable="FOO", Value="bar")`; headers whose names are
/// not Python identifiers, or whose order matters, as a mapping or a list of
/// pairs: `Action("Setvar", [("Variable", "FOO"), ("Value", "bar")])`. A
/// list or tuple value repeats the header (`Variable=["A=1", "B=2"]`); an
/// `int` is written in decimal and a `bool` as `true`/`false`. Nothing is
/// checked until it is sent: a CR or LF, a line over 1,024 bytes or more
/// than 128 lines makes the send raise `InvalidAction`, with nothing sent.
/// The connection assigns the `ActionID`.
#[pyclass(frozen, module = "ami._core", name = "Action")]
#[derive(Clone)]
pub(crate) struct PyAction {
    pub(crate) inner: Action,
}

/// A header value's text: `str`, `int`, or `bool` (`true`/`false`).
fn value_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.to_owned());
    }
    if let Ok(n) = value.extract::<i128>() {
        return Ok(n.to_string());
    }
    Err(PyTypeError::new_err(format!(
        "a header value must be str, int or bool, not {}",
        value.get_type().name()?
    )))
}

/// Appends `name: value` to `action`, once per item when `value` is a list
/// or tuple.
fn add(action: Action, name: String, value: &Bound<'_, PyAny>) -> PyResult<Action> {
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut action = action;
        for item in value.try_iter()? {
            action = action.header(name.clone(), value_text(&item?)?);
        }
        return Ok(action);
    }
    Ok(action.header(name, value_text(value)?))
}

/// Appends `headers`: a mapping, or an iterable of `(name, value)` pairs.
fn add_all(mut action: Action, headers: &Bound<'_, PyAny>) -> PyResult<Action> {
    if let Ok(map) = headers.cast::<PyDict>() {
        for (name, value) in map.iter() {
            action = add(action, name.extract()?, &value)?;
        }
        return Ok(action);
    }
    let pairs = match headers.hasattr("items")? {
        true => headers.call_method0("items")?,
        false => headers.clone(),
    };
    for pair in pairs.try_iter()? {
        let (name, value): (String, Bound<'_, PyAny>) = pair?.extract()?;
        action = add(action, name, &value)?;
    }
    Ok(action)
}

fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::List => "list",
        Strategy::Command => "command",
        Strategy::Originate => "originate",
        _ => "single",
    }
}

#[pymethods]
impl PyAction {
    #[new]
    #[pyo3(signature = (name, headers = None, /, **more))]
    fn new(
        name: String,
        headers: Option<&Bound<'_, PyAny>>,
        more: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut action = Action::new(name);
        if let Some(headers) = headers {
            action = add_all(action, headers)?;
        }
        if let Some(more) = more {
            action = add_all(action, more.as_any())?;
        }
        Ok(PyAction { inner: action })
    }

    /// `Ping`: the server answers `Pong`.
    #[staticmethod]
    fn ping() -> Self {
        PyAction {
            inner: Action::ping(),
        }
    }

    /// `Command`: a CLI command; completes with its output lines.
    #[staticmethod]
    fn command(command: &str) -> Self {
        PyAction {
            inner: Action::command(command),
        }
    }

    /// `Originate`: calls `channel`, then connects it to `exten`@`context`
    /// (priority `priority`) or runs `application` with `data`.
    ///
    /// `async_` defaults to true, unlike the server: a synchronous Originate
    /// holds the server's session until the call is answered, and dialers
    /// want the outcome as an `OriginateOutcome` (`success`, `reason`)
    /// instead. The action then waits for the `OriginateResponse` event, up
    /// to the ring `timeout` plus 5 s (or the action timeout, if longer).
    #[staticmethod]
    #[pyo3(signature = (
        channel, *, context = None, exten = None, priority = None,
        application = None, data = None, caller_id = None, timeout = None,
        account = None, variables = None, async_ = true,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn originate(
        channel: String,
        context: Option<String>,
        exten: Option<String>,
        priority: Option<&Bound<'_, PyAny>>,
        application: Option<String>,
        data: Option<String>,
        caller_id: Option<String>,
        timeout: Option<f64>,
        account: Option<String>,
        variables: Option<&Bound<'_, PyAny>>,
        async_: bool,
    ) -> PyResult<Self> {
        let mut o = Originate::new(channel);
        match (exten, application) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "give either exten (with context) or application, not both",
                ))
            }
            (Some(exten), None) => {
                let priority = match priority {
                    Some(p) => value_text(p)?,
                    None => "1".to_owned(),
                };
                let Some(context) = context else {
                    return Err(PyValueError::new_err("exten needs a context"));
                };
                o = o.extension(context, exten, priority);
            }
            (None, Some(app)) => o = o.application(app, data.unwrap_or_default()),
            (None, None) => {}
        }
        if let Some(caller_id) = caller_id {
            o = o.caller_id(caller_id);
        }
        if let Some(secs) = timeout {
            let ms = clock::duration(secs).as_millis();
            o = o.timeout_ms(u64::try_from(ms).unwrap_or(u64::MAX));
        }
        if let Some(account) = account {
            o = o.account(account);
        }
        if let Some(vars) = variables {
            let pairs = match vars.hasattr("items")? {
                true => vars.call_method0("items")?,
                false => vars.clone(),
            };
            for pair in pairs.try_iter()? {
                let (name, value): (String, Bound<'_, PyAny>) = pair?.extract()?;
                o = o.variable(name, value_text(&value)?);
            }
        }
        Ok(PyAction {
            inner: Action::originate(o.async_(async_)),
        })
    }

    /// A copy that times out after `seconds` instead of the configured
    /// action timeout.
    fn with_timeout(&self, seconds: f64) -> Self {
        PyAction {
            inner: self.inner.clone().with_timeout(clock::duration(seconds)),
        }
    }

    /// A copy that completes per `strategy`: `"single"` (the response),
    /// `"list"` (an event list up to its `...Complete` event), `"command"`
    /// (output lines) or `"originate"` (the `OriginateResponse` event).
    /// Needed only for list actions the built-in table does not know.
    fn with_strategy(&self, strategy: &str) -> PyResult<Self> {
        let strategy = match strategy {
            "single" => Strategy::Single,
            "list" => Strategy::List,
            "command" => Strategy::Command,
            "originate" => Strategy::Originate,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown strategy {other:?}: expected single, list, command or originate"
                )))
            }
        };
        Ok(PyAction {
            inner: self.inner.clone().with_strategy(strategy),
        })
    }

    /// The action's name.
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// The headers in order, as `(name, value)` pairs (`Action` excluded).
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        let pairs = self.inner.headers();
        pairs.map(|(n, v)| (n.to_owned(), v.to_owned())).collect()
    }

    /// The first value of `name` (ASCII case ignored), or `None`.
    fn get(&self, name: &str) -> Option<String> {
        self.inner.get(name).map(str::to_owned)
    }

    /// How the action completes: `single`, `list`, `command` or `originate`.
    #[getter]
    fn strategy(&self) -> &'static str {
        strategy_name(self.inner.strategy())
    }

    /// The timeout set with `with_timeout`, in seconds, if any.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.inner.timeout().map(|d| d.as_secs_f64())
    }

    /// The action with secret values (`Secret`, `Key`, passwords, tokens)
    /// hidden.
    fn __repr__(&self) -> String {
        let policy = RedactionPolicy::default();
        format!("{:?}", self.inner.redacted(&policy))
    }
}
