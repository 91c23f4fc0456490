//! Logs on stderr: as `RUST_LOG` says, else warnings, but not the
//! libraries' warnings about a connect or login that fails while the
//! command reports that failure itself (`ami: error: ...`), so it is said
//! once. `listen` shows them again once every server has logged in: from
//! then on they say why it waits.

use std::io::IsTerminal;

use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Warnings, without the clients' own (ami-async's "connect failed", the
/// core's "login failed"), which would repeat the command's error line.
const QUIET: &str = "warn,ami_async=error,ami_proto=error";

/// Every warning.
const ALL_WARNINGS: &str = "warn";

/// The installed logger, and how to make it show every warning.
pub(crate) struct Logging {
    /// The filter to widen; `None` when `RUST_LOG` decides.
    quiet: Option<reload::Handle<EnvFilter, Registry>>,
}

impl Logging {
    /// Installs the logger: `RUST_LOG` if set, else [`QUIET`].
    pub(crate) fn init() -> Logging {
        match EnvFilter::try_from_default_env() {
            Ok(filter) => {
                tracing_subscriber::registry()
                    .with(filter)
                    .with(to_stderr())
                    .init();
                Logging { quiet: None }
            }
            Err(_) => {
                let (filter, handle) = reload::Layer::new(EnvFilter::new(QUIET));
                tracing_subscriber::registry()
                    .with(filter)
                    .with(to_stderr())
                    .init();
                Logging {
                    quiet: Some(handle),
                }
            }
        }
    }

    /// Shows every warning from now on (unless `RUST_LOG` decides).
    pub(crate) fn show_all_warnings(&self) {
        if let Some(handle) = &self.quiet {
            if let Err(e) = handle.reload(EnvFilter::new(ALL_WARNINGS)) {
                eprintln!("ami: cannot widen the log filter: {e}");
            }
        }
    }
}

/// Formatted lines on stderr, coloured on a terminal.
fn to_stderr<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
}
