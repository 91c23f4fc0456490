//! The byte pipe both adapters read and write: a `TcpStream`, or a rustls
//! session over it ([`ami_tls::TlsSession`], driven by the socket's own
//! blocking-with-timeout or non-blocking reads and writes).
//!
//! Without the `tls` feature, [`Tls`] and [`TlsSetup`] are uninhabited, so
//! the same code compiles and every TLS branch is statically dead.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};

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
/// plaintext with the socket's blocking or non-blocking behaviour.
pub(crate) struct Pipe<'a> {
    pub(crate) sock: &'a TcpStream,
    pub(crate) tls: Option<&'a mut Tls>,
}

impl Pipe<'_> {
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

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.tls {
            Some(tls) => tls.read(&mut self.sock, buf),
            None => self.sock.read(buf),
        }
    }
}

impl Write for Pipe<'_> {
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
}
