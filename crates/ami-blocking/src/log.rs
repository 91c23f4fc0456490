//! The fields every log event of this crate carries, as the core's do.

/// Logs a `tracing` event whose first fields are `server`, `action_id`
/// (`"-"` where no action applies) and `queue_depth`, the fields every event
/// of the core carries, so that one filter follows a server or an action
/// through the core's events and ours alike.
///
/// - `log!(level, conn, id, ...)`: an event of a session: the server and
///   queue depth of `conn` (a `Connection`), the action `id` or `"-"`.
/// - `log!(level, server = name, queue_depth = n, ...)`: an event of a
///   server whose session may or may not exist.
/// - `log!(level, server = name, ...)`: an event before or outside any
///   session (a connect, TLS, the readiness wait: `"-"`): nothing queued.
macro_rules! log {
    ($level:ident, server = $server:expr, queue_depth = $depth:expr, $($arg:tt)+) => {
        tracing::$level!(server = %$server, action_id = "-", queue_depth = $depth, $($arg)+)
    };
    ($level:ident, server = $server:expr, $($arg:tt)+) => {
        tracing::$level!(server = %$server, action_id = "-", queue_depth = 0usize, $($arg)+)
    };
    ($level:ident, $conn:expr, $id:expr, $($arg:tt)+) => {
        tracing::$level!(
            server = %$conn.config().server,
            action_id = %$id,
            queue_depth = $conn.queue_depth(),
            $($arg)+
        )
    };
}
