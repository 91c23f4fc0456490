//! The byte pipe both adapters read and write: a `TcpStream`, or a rustls
//! session over it ([`ami_tls::TlsSession`], driven by the socket's own
//! blocking-with-timeout or non-blocking reads and writes).
//!
//! Without the `tls` feature, [`Tls`] and [`TlsSetup`] are uninhabited, so
//! the same code compiles and every TLS branch is statically dead.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::Instant;

use ami_proto::Connection;
use rustix::fd::AsFd;
use rustix::net::RecvFlags;

#[cfg(feature = "tls")]
pub(crate) use ami_tls::TlsSession as Tls;

/// Without the `tls` feature: no TLS session can exist.
#[cfg(not(feature = "tls"))]
pub(crate) enum Tls {}

#[cfg(not(feature = "tls"))]
#[allow(clippy::unused_self)]
impl Tls {
    pub(crate) fn read<S>(&mut self, _: &mut S, _: &mut [u8]) -> io::Result<usize> {
        match *self {}
    }
    pub(crate) fn write<S>(&mut self, _: &mut S, _: &[u8]) -> io::Result<usize> {
        match *self {}
    }
    pub(crate) fn flush<S>(&mut self, _: &mut S) -> io::Result<bool> {
        match *self {}
    }
    pub(crate) fn has_plaintext(&mut self) -> bool {
        match *self {}
    }
    pub(crate) fn wants_write(&self) -> bool {
        match *self {}
    }
    pub(crate) fn close<S>(&mut self, _: &mut S) {
        match *self {}
    }
}

/// A client's or node's TLS setup: options, the built rustls config, and
/// the host name for SNI.
#[cfg(feature = "tls")]
pub(crate) struct TlsSetup {
    options: ami_tls::TlsConfig,
    config: std::sync::Arc<ami_tls::rustls::ClientConfig>,
    host: String,
}

/// Without the `tls` feature: no TLS setup can exist.
#[cfg(not(feature = "tls"))]
pub(crate) enum TlsSetup {}

#[cfg(feature = "tls")]
impl TlsSetup {
    /// Builds the rustls configuration now (reads the CA file or the
    /// system store), so a bad CA is reported before any connect; `server`
    /// names the server in its log events.
    pub(crate) fn new(
        options: ami_tls::TlsConfig,
        host: &str,
        server: &str,
    ) -> Result<TlsSetup, ami_tls::TlsError> {
        let config = options.client_config_for(server)?;
        options.server_name_for(host)?;
        Ok(TlsSetup {
            options,
            config,
            host: host.to_string(),
        })
    }

    /// A new session (one per connection).
    pub(crate) fn session(&self) -> Result<Tls, ami_tls::TlsError> {
        Tls::new(&self.options, self.config.clone(), &self.host)
    }

    /// Handshakes on a blocking socket, bounded by `deadline` (the socket's
    /// timeouts are set to what is left, and restored to none after).
    pub(crate) fn handshake_blocking(
        &self,
        sock: &TcpStream,
        deadline: std::time::Instant,
    ) -> Result<Tls, ami_tls::TlsError> {
        use ami_tls::{Handshake, TlsError};
        use std::time::{Duration, Instant};
        let mut tls = self.session()?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TlsError::Io(io::ErrorKind::TimedOut.into()));
            }
            let left = Some(left.max(Duration::from_millis(1)));
            sock.set_read_timeout(left)
                .and_then(|()| sock.set_write_timeout(left))
                .map_err(TlsError::Io)?;
            // On a blocking socket, "would block" means the timeout passed;
            // the loop then checks the deadline.
            if tls.handshake(&mut &*sock)? == Handshake::Done {
                sock.set_read_timeout(None).map_err(TlsError::Io)?;
                return Ok(tls);
            }
        }
    }
}

/// A borrowed socket with its TLS session, if any: reads and writes
/// plaintext with the socket's blocking or non-blocking behaviour. The
/// socket is a `&TcpStream` but for tests.
pub(crate) struct Pipe<'a, S = &'a TcpStream> {
    pub(crate) sock: S,
    pub(crate) tls: Option<&'a mut Tls>,
}

impl<S: Read + Write> Pipe<'_, S> {
    /// Writes queued TLS ciphertext; whether some is still queued because
    /// the socket would block. Always `Ok(false)` without TLS.
    pub(crate) fn pending(&mut self) -> io::Result<bool> {
        match &mut self.tls {
            Some(tls) => tls.flush(&mut self.sock),
            None => Ok(false),
        }
    }

    /// Whether TLS holds decrypted bytes not read yet (readable without
    /// the socket).
    pub(crate) fn buffered(&mut self) -> bool {
        self.tls.as_mut().is_some_and(|t| t.has_plaintext())
    }
}

impl<S: Read + Write + AsFd> Pipe<'_, S> {
    /// Reads once into `conn`'s receive buffer (at most `max` bytes) and
    /// decodes what came, at the instant the read returned (a read that
    /// blocks, the client's, may wait long): plain TCP into uninitialised
    /// room ([`Connection::read_with_clock`], `rustix::net::recv`), so a
    /// reused chunk is not zeroed first; TLS plaintext into zeroed room.
    /// Returns the count read (0 at the end of the stream) and the room the
    /// read had.
    pub(crate) fn read_into(
        &mut self,
        conn: &mut Connection,
        max: usize,
    ) -> io::Result<(usize, usize)> {
        if self.tls.is_some() {
            let room = conn.input_buf(max);
            let lent = room.len();
            let n = self.read(room)?;
            conn.handle_read(n, Instant::now());
            return Ok((n, lent));
        }
        let mut lent = 0;
        let n = conn.read_with_clock(max, Instant::now, |room| {
            lent = room.len();
            let ((read, _), _) = rustix::net::recv(&self.sock, room, RecvFlags::empty())?;
            Ok::<_, io::Error>(read)
        })?;
        Ok((n, lent))
    }
}

impl<S: Read + Write> Read for Pipe<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.tls {
            Some(tls) => tls.read(&mut self.sock, buf),
            None => self.sock.read(buf),
        }
    }
}

impl<S: Read + Write> Write for Pipe<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.tls {
            Some(tls) => tls.write(&mut self.sock, buf),
            None => self.sock.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.pending()? {
            true => Err(io::ErrorKind::WouldBlock.into()),
            false => Ok(()),
        }
    }
}

/// Whether a plaintext secret sent on this connection would be exposed: no
/// TLS and a peer outside the loopback range (warned once per server).
pub(crate) fn plaintext_secret_exposed(plain_auth: bool, tls: bool, peer: Option<IpAddr>) -> bool {
    plain_auth && !tls && peer.is_some_and(|ip| !ip.is_loopback())
}

/// Logs the plaintext-secret warning for `server` unless `warned` says it
/// was logged already.
pub(crate) fn warn_plaintext_once(
    warned: &mut bool,
    config: &ami_proto::Config,
    tls: bool,
    sock: &TcpStream,
) {
    let plain = config.auth == ami_proto::AuthMethod::Plain;
    let peer = sock.peer_addr().ok().map(|a| a.ip());
    if plaintext_secret_exposed(plain, tls, peer) && !std::mem::replace(warned, true) {
        log!(
            warn,
            server = config.server,
            peer = ?peer,
            "sending the AMI secret in clear text (AuthMethod::Plain) over an unencrypted \
             connection to a non-loopback address: use TLS or MD5 login"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_exposure() {
        let lan: IpAddr = "192.0.2.7".parse().expect("ip");
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(plaintext_secret_exposed(true, false, Some(lan)));
        assert!(!plaintext_secret_exposed(true, true, Some(lan)));
        assert!(!plaintext_secret_exposed(false, false, Some(lan)));
        assert!(!plaintext_secret_exposed(true, false, Some(lo)));
        assert!(!plaintext_secret_exposed(
            true,
            false,
            Some("::1".parse().expect("ip"))
        ));
    }

    #[test]
    fn a_plain_read_into_the_connection_decodes_what_came_and_says_would_block() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let mut peer =
            TcpStream::connect(listener.local_addr().expect("its address")).expect("connects");
        let (sock, _) = listener.accept().expect("accepts");
        sock.set_nonblocking(true).expect("non-blocking");
        let config = ami_proto::Config::new("pbx", "admin", "amp111");
        let mut conn = Connection::new(config, Instant::now()).expect("a connection");
        let mut pipe = Pipe {
            sock: &sock,
            tls: None,
        };
        let nothing = pipe.read_into(&mut conn, 1 << 16).map_err(|e| e.kind());
        assert_eq!(nothing, Err(io::ErrorKind::WouldBlock));
        // Reads until something comes (at most a second).
        let mut read_some = |conn: &mut Connection| {
            for _ in 0..1000 {
                match pipe.read_into(conn, 1 << 16) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    read => return read.expect("reads"),
                }
            }
            panic!("nothing came");
        };
        let banner = b"Asterisk Call Manager/6.0.0\r\n";
        peer.write_all(banner).expect("writes");
        assert_eq!(read_some(&mut conn), (banner.len(), 1 << 16));
        assert_eq!(conn.stats().bytes_in, banner.len() as u64);
        // The banner was decoded: the login (MD5 by default) is on its way.
        let login = String::from_utf8_lossy(conn.poll_transmit().expect("a login"));
        assert!(login.starts_with("Action: Challenge"), "{login}");
        drop(peer);
        assert_eq!(read_some(&mut conn).0, 0, "the end of the stream");
    }

    /// The adapter's TLS write path (the session's `flush` through a
    /// [`Pipe`] with TLS), as `session::tests` test the plain one: the
    /// handshake and the rest of the session run over TCP with the fake
    /// TLS server; the Login is written to a socket that takes 5 bytes and
    /// then pushes back.
    #[cfg(feature = "tls")]
    mod write_path {
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        use ami_proto::{AuthMethod, Config, Connection};
        use ami_testkit::tls::Identity;
        use ami_testkit::{Faults, ServerConfig, TcpServer};

        use super::*;
        use crate::session::tests::Stingy;
        use crate::session::{flush, Flush};

        /// A TLS session with the fake server, and a `Connection` whose
        /// Login waits to be written.
        fn login_pending(srv: &TcpServer, identity: &Identity) -> (TcpStream, Tls, Connection) {
            let pin =
                ami_tls::TlsConfig::new().danger_accept_pinned_self_signed(identity.fingerprint());
            let setup = TlsSetup::new(pin, "127.0.0.1", "t").expect("setup");
            let sock = TcpStream::connect(srv.addr()).expect("connect");
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut tls = setup
                .handshake_blocking(&sock, deadline)
                .expect("handshake");
            sock.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut config = Config::new("t", "admin", "amp111");
            config.auth = AuthMethod::Plain;
            let mut conn = Connection::new(config, Instant::now()).expect("valid");
            let mut buf = [0; 4096];
            while !conn.wants_write() {
                let mut pipe = Pipe {
                    sock: &sock,
                    tls: Some(&mut tls),
                };
                let n = pipe.read(&mut buf).expect("banner");
                conn.handle_input(&buf[..n], Instant::now());
            }
            (sock, tls, conn)
        }

        fn server(identity: &Identity) -> TcpServer {
            let config = Arc::new(ServerConfig::default());
            TcpServer::start_tls(config, Faults::default(), identity.server_config())
                .expect("fake TLS server")
        }

        #[test]
        fn a_partial_write_keeps_the_rest_queued_and_nothing_is_lost() {
            let identity = Identity::self_signed();
            let srv = server(&identity);
            let (sock, mut tls, mut conn) = login_pending(&srv, &identity);
            let login = conn.poll_transmit().expect("login").len();
            let mut stingy = Stingy {
                taken: Vec::new(),
                take: 5,
                calls: 0,
                then: || Err(io::ErrorKind::WouldBlock.into()),
            };
            let mut pipe = Pipe {
                sock: &mut stingy,
                tls: Some(&mut tls),
            };
            // TLS took the whole Login (the core is done with it) and holds
            // the ciphertext the socket did not take: the adapter sees a
            // blocked write, never a finished one.
            let (n, result) = flush(&mut conn, &mut pipe);
            assert_eq!((n, result.expect("no error")), (login, Flush::Done));
            assert!(pipe.pending().expect("no error"), "ciphertext still queued");
            assert!(!conn.wants_write());
            assert_eq!(stingy.taken.len(), 5);
            // The socket drains: the 5 bytes, then the rest. The server reads
            // the Login whole and the session logs in.
            (&sock).write_all(&stingy.taken).expect("write");
            let mut pipe = Pipe {
                sock: &sock,
                tls: Some(&mut tls),
            };
            assert!(!pipe.pending().expect("written"));
            let mut buf = [0; 4096];
            let deadline = Instant::now() + Duration::from_secs(5);
            while !conn.is_ready() {
                assert!(Instant::now() < deadline, "no login: {:?}", conn.state());
                let n = pipe.read(&mut buf).expect("login answer");
                conn.handle_input(&buf[..n], Instant::now());
            }
            assert_eq!(srv.received_actions(), ["Login"]);
        }

        #[test]
        fn a_socket_that_takes_nothing_without_would_block_fails_the_write() {
            let identity = Identity::self_signed();
            let srv = server(&identity);
            for take in [0, 5] {
                let (_sock, mut tls, mut conn) = login_pending(&srv, &identity);
                let mut stingy = Stingy {
                    taken: Vec::new(),
                    take,
                    calls: 0,
                    then: || Ok(0),
                };
                let mut pipe = Pipe {
                    sock: &mut stingy,
                    tls: Some(&mut tls),
                };
                // `Ok(0)`: the transport is gone; the adapter closes the
                // session (`handle_closed`), which fails what was pending.
                let (n, result) = flush(&mut conn, &mut pipe);
                let err = result.expect_err("a write error");
                assert_eq!((n, err.kind()), (0, io::ErrorKind::WriteZero));
            }
        }
    }
}
