//! What both adapters do with one session: seed it, open its `Connection`,
//! and write what the core lends.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use ami_proto::{Config, ConfigError, Connection};

/// A duration in whole milliseconds, for range checks ([`ConfigError::OutOfRange`]).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `Ok` when `value` lies in `min..=max`, else the typed error naming the option.
pub(crate) fn in_range(
    name: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value,
            min,
            max,
        })
    }
}

/// The `Connection` of session number `session` of `config`, connected at
/// `now`. Each session gets its own seed (`Config::session_seed`), so
/// ActionIDs never repeat across reconnects.
pub(crate) fn connection(
    config: &Config,
    session: u64,
    now: Instant,
) -> Result<Connection, ConfigError> {
    let mut config = config.clone();
    config.seed = config.session_seed(session);
    Connection::new(config, now)
}

/// What a write attempt left behind.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Everything the core had was written.
    Done,
    /// The socket took what it could (possibly nothing: `WouldBlock`); the
    /// rest stays in the core. Wait for writability.
    Blocked,
}

/// Writes what `conn` lends until it is empty or the socket pushes back,
/// calling `advance` with what the socket took. Returns the bytes written
/// alongside the outcome; an error means the transport failed (the caller
/// tells the core with `handle_closed`). A write that takes 0 bytes of a
/// non-empty buffer is such a failure (`WriteZero`, as `Write::write_all`
/// says): waiting for writability would only get the same answer again,
/// and the TLS path and the async adapters end the session on it too.
pub(crate) fn flush(conn: &mut Connection, sock: &mut impl Write) -> (usize, io::Result<Flush>) {
    let mut written = 0;
    while let Some(bytes) = conn.poll_transmit() {
        match sock.write(bytes) {
            Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                conn.advance(n);
                written += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return (written, Ok(Flush::Blocked))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Err(e)),
        }
    }
    (written, Ok(Flush::Done))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use std::io::Read;

    use ami_proto::{AuthMethod, CloseReason, Failure, LoginError};

    /// A socket whose first write takes at most `take` bytes and whose
    /// later writes answer `then`; it has nothing to read (`WouldBlock`).
    pub(crate) struct Stingy {
        pub(crate) taken: Vec<u8>,
        pub(crate) take: usize,
        pub(crate) calls: usize,
        pub(crate) then: fn() -> io::Result<usize>,
    }

    impl Read for Stingy {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls > 1 {
                return (self.then)();
            }
            let n = buf.len().min(self.take);
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A connection with a Login waiting to be written.
    fn with_login() -> Connection {
        let mut config = Config::new("t", "admin", "secret");
        config.auth = AuthMethod::Plain;
        let mut conn = Connection::new(config, Instant::now()).expect("valid");
        conn.handle_input(b"Asterisk Call Manager/11.0.0\r\n", Instant::now());
        assert!(conn.wants_write());
        conn
    }

    #[test]
    fn partial_writes_keep_the_rest_in_the_core() {
        let mut conn = with_login();
        let total = conn.poll_transmit().expect("login").len();
        let mut sock = Stingy {
            taken: Vec::new(),
            take: 5,
            calls: 0,
            then: || Err(io::ErrorKind::WouldBlock.into()),
        };
        let (n, r) = flush(&mut conn, &mut sock);
        assert_eq!((n, r.expect("no error")), (5, Flush::Blocked));
        assert_eq!(conn.poll_transmit().expect("rest").len(), total - 5);
        assert_eq!(&sock.taken, b"Actio");
    }

    #[test]
    fn a_socket_that_takes_nothing_is_a_failed_transport() {
        // Not "blocked": a writable socket that keeps taking 0 bytes would
        // make the caller wait for writability, wake, and write 0 again.
        let mut conn = with_login();
        let total = conn.poll_transmit().expect("login").len();
        let mut sock = Stingy {
            taken: Vec::new(),
            take: 5,
            calls: 0,
            then: || Ok(0),
        };
        let (n, r) = flush(&mut conn, &mut sock);
        assert_eq!(n, 5);
        assert_eq!(
            r.expect_err("0 bytes taken").kind(),
            io::ErrorKind::WriteZero
        );
        assert_eq!(conn.poll_transmit().expect("rest").len(), total - 5);
    }

    #[test]
    fn write_errors_are_reported() {
        let mut conn = with_login();
        let mut sock = Stingy {
            taken: Vec::new(),
            take: 0,
            calls: 1,
            then: || Err(io::ErrorKind::BrokenPipe.into()),
        };
        let (n, r) = flush(&mut conn, &mut sock);
        assert_eq!(n, 0);
        assert!(r.is_err());
        assert!(conn.wants_write(), "the core still holds the bytes");
    }

    #[test]
    fn deadlines_saturate() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(ami_proto::instant_after(now, second), now + second);
        let millennium = Duration::from_secs(1000 * 365 * 86_400);
        assert!(ami_proto::instant_after(now, Duration::MAX) > now + millennium);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(millis(Duration::from_micros(1_999)), 1);
    }

    #[test]
    fn seeds_differ_per_session_and_reproduce_with_a_base() {
        let session_seed = |base: u64, session: u64| {
            let mut config = Config::new("t", "admin", "secret");
            config.seed = base;
            let conn = connection(&config, session, Instant::now());
            conn.expect("valid").config().seed
        };
        assert_ne!(session_seed(7, 0), session_seed(7, 1));
        assert_eq!(session_seed(7, 3), session_seed(7, 3));
    }

    /// The core's classification, as both adapters report it to the policy.
    #[test]
    fn failures_are_classified() {
        let failure_of = CloseReason::failure;
        let auth = CloseReason::LoginFailed(LoginError::AuthenticationFailed("x".into()));
        assert_eq!(failure_of(&auth), Some(Failure::AuthFailed));
        let login = CloseReason::LoginFailed(LoginError::Timeout);
        assert_eq!(failure_of(&login), Some(Failure::Login));
        assert_eq!(
            failure_of(&CloseReason::HeartbeatTimeout),
            Some(Failure::Heartbeat)
        );
        assert_eq!(failure_of(&CloseReason::Lost), Some(Failure::Lost));
        assert_eq!(failure_of(&CloseReason::LoggedOff), None);
    }
}
