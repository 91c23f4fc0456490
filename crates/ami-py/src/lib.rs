//! `ami._core`: the `ami-proto` sans-IO core as a Python extension module.
//!
//! The Python package `ami` (in `python/ami`) is this module plus two thin
//! pure-Python adapters: an asyncio client (`ami.aio`) and a blocking one
//! (`ami.blocking`). Everything about the protocol (framing, correlation,
//! login, timeouts, heartbeat, list collection, bounded queues and their
//! drop policies, the reconnect policy) is the core's; this crate only
//! converts values at the boundary:
//!
//! - times are floats of the caller's monotonic clock (module `clock`);
//! - frames are lazy views with case-insensitive lookup whose values decode
//!   to `str` without ever raising (module `message`);
//! - typed errors become instances of `ami.errors` classes (module `errors`).
//!
//! Like the core, it opens no socket and starts no thread; it reads the
//! clock once, to fix the origin of the caller's seconds.

mod action;
mod clock;
mod completion;
mod config;
mod connection;
mod errors;
mod message;
mod output;
mod policy;
mod queue;

use pyo3::prelude::*;

/// The extension module, `ami._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<action::PyAction>()?;
    m.add_class::<config::PyConfig>()?;
    m.add_class::<connection::PyConnection>()?;
    m.add_class::<output::PyState>()?;
    m.add_class::<output::PyCloseReason>()?;
    m.add_class::<output::PyCompletion>()?;
    m.add_class::<message::PyMessage>()?;
    m.add_class::<message::PyEvent>()?;
    m.add_class::<message::PyResponse>()?;
    m.add_class::<completion::PyEventList>()?;
    m.add_class::<completion::PyCommandOutput>()?;
    m.add_class::<completion::PyOriginateOutcome>()?;
    m.add_class::<queue::PyEventQueue>()?;
    m.add_class::<policy::PyReconnectPolicy>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
