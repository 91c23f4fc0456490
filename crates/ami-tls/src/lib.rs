//! TLS for the Asterisk Manager Interface adapters (`ami-async`, under
//! `ami-smol` and `ami-tokio`; `ami-blocking`), on rustls with the `ring`
//! provider.
//!
//! - [`TlsConfig`]: what to trust ([`Roots`]), the SNI name, and the loudly
//!   named escape hatch [`TlsConfig::danger_accept_pinned_self_signed`].
//!   Certificate verification is always on unless a pin is set explicitly;
//!   a pin replaces chain, name and validity checks by a SHA-256 comparison
//!   of the server's end-entity certificate, while the handshake signature is
//!   still verified (so the server must hold the pinned certificate's key).
//! - [`TlsSession`]: a rustls client connection driven by non-blocking reads
//!   and writes on any `Read + Write` (a socket in non-blocking mode), for the
//!   adapters' readiness-based loops.
//! - [`TlsError`]: typed failures the caller can tell apart (untrusted
//!   certificate, expired, wrong host name, pin mismatch, bad CA file, ...);
//!   [`TlsError::is_verification_failure`] tells a reconnect policy to treat
//!   it like an authentication failure (long floor, no retry storm).
//!
//! `Roots::System` reads the operating system's trust store through
//! `rustls-native-certs` (on Linux the OpenSSL locations, `/etc/ssl/certs`),
//! at each configuration build, without network access. It was preferred to
//! the bundled Mozilla list (`webpki-roots`) because AMI servers are usually
//! internal, signed by a company CA installed in the system store.
//!
//! The protocol core (`ami-proto`) stays free of I/O and crypto: this crate
//! is only used by the adapters, behind their `tls` feature.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::{CertificateError, ClientConnection, DigitallySignedStruct, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

pub use rustls;

/// Which certificate authorities the client trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Roots {
    /// The operating system's trust store (`rustls-native-certs`; on Linux
    /// `/etc/ssl/certs` and `SSL_CERT_FILE`/`SSL_CERT_DIR`). The default.
    #[default]
    System,
    /// Only the CA certificates of this PEM file (a private CA).
    CaFile(PathBuf),
    /// Only the CA certificates of this PEM text.
    Pem(Vec<u8>),
}

/// TLS options of one server connection. Verification is on by default.
///
/// # Examples
///
/// ```
/// let tls = ami_tls::TlsConfig::new().with_ca_file("/etc/ami/ca.pem");
/// assert!(tls.danger_accept_pinned_self_signed.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    /// The name sent as SNI and checked against the certificate; `None`
    /// (the default) uses the host part of the configured address.
    pub server_name: Option<String>,
    /// The trusted certificate authorities (default: the system's).
    pub roots: Roots,
    /// **Dangerous**: accept the server's certificate if and only if the
    /// SHA-256 of its DER encoding equals this pin, skipping chain, name and
    /// expiry checks (for a self-signed certificate on an Asterisk box). The
    /// handshake signature is still verified. `None` by default.
    pub danger_accept_pinned_self_signed: Option<[u8; 32]>,
}

impl TlsConfig {
    /// Verification against the system roots, SNI from the address.
    pub fn new() -> Self {
        TlsConfig::default()
    }

    /// Trusts only the CA certificates of the PEM file at `path`.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.roots = Roots::CaFile(path.into());
        self
    }

    /// Trusts only the CA certificates of this PEM text.
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots = Roots::Pem(pem.into());
        self
    }

    /// Sends and verifies `name` instead of the address's host.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// **Dangerous**: accepts exactly the certificate whose SHA-256 is `pin`
    /// (see [`TlsConfig::danger_accept_pinned_self_signed`]).
    pub fn danger_accept_pinned_self_signed(mut self, pin: [u8; 32]) -> Self {
        self.danger_accept_pinned_self_signed = Some(pin);
        self
    }

    /// Builds the rustls client configuration (reads the CA file or the
    /// system store now). Build it once per client and reuse it.
    ///
    /// Its log events name no server (`server = "-"`): adapters call
    /// [`client_config_for`](Self::client_config_for) instead.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        self.client_config_for("-")
    }

    /// Like [`client_config`](Self::client_config), for the server named
    /// `server` in logs: its events carry `server`, `action_id` (`-`) and
    /// `queue_depth` (0: nothing is queued yet), as every event of a
    /// session does.
    pub fn client_config_for(&self, server: &str) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let provider = Arc::new(ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Handshake)?;
        let config = match self.danger_accept_pinned_self_signed {
            Some(pin) => {
                tracing::warn!(
                    server,
                    action_id = "-",
                    queue_depth = 0,
                    pin = %hex(&pin),
                    "TLS: accepting a pinned certificate without chain verification"
                );
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinVerifier { pin, provider }))
                    .with_no_client_auth()
            }
            None => builder
                .with_root_certificates(self.root_store(server)?)
                .with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    fn root_store(&self, server: &str) -> Result<RootCertStore, TlsError> {
        let mut store = RootCertStore::empty();
        let certs: Vec<CertificateDer<'static>> = match &self.roots {
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::debug!(
                        server,
                        action_id = "-",
                        queue_depth = 0,
                        error = %e,
                        "TLS: skipping part of the system trust store"
                    );
                }
                found.certs
            }
            Roots::CaFile(path) => {
                let pem = std::fs::read(path).map_err(|error| TlsError::CaFile {
                    path: path.clone(),
                    error,
                })?;
                parse_pem(&pem)?
            }
            Roots::Pem(pem) => parse_pem(pem)?,
        };
        let (added, _ignored) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsError::NoRoots);
        }
        Ok(store)
    }

    /// The SNI / verification name: [`TlsConfig::server_name`] or `host`.
    pub fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(name.to_string())
            .map_err(|_| TlsError::InvalidServerName(name.to_string()))
    }
}

fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCa(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::BadCa("no CERTIFICATE block in the PEM".into()));
    }
    Ok(certs)
}

/// The host part of `host:port` (`[v6]:port` gives `v6`; no port, all of it).
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
        _ => addr,
    }
}

/// The SHA-256 of a certificate's DER encoding: what a pin compares.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// Parses a pin: 64 hex digits, optionally separated by `:` and prefixed
/// with `sha256:` or `SHA256:` (as `openssl x509 -fingerprint -sha256` prints).
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], TlsError> {
    let bad = || TlsError::BadPin(text.to_string());
    let t = text.trim();
    let t = t
        .strip_prefix("sha256:")
        .or_else(|| t.strip_prefix("SHA256:"))
        .or_else(|| t.strip_prefix("sha256 Fingerprint="))
        .or_else(|| t.strip_prefix("SHA256 Fingerprint="))
        .unwrap_or(t);
    let digits: Vec<u8> = t.bytes().filter(|&b| b != b':').collect();
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut pin = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        pin[i] = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(pin)
}

/// Lower-case hex of `bytes`, for logs and errors.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a TLS connection could not be set up. The verification failures
/// ([`TlsError::is_verification_failure`]) will not go away by retrying.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The CA file could not be read.
    CaFile {
        /// The configured path.
        path: PathBuf,
        /// Why reading failed.
        error: io::Error,
    },
    /// The CA PEM is malformed or holds no certificate.
    BadCa(String),
    /// No usable trust anchor (empty system store, or CA certificates that
    /// do not parse).
    NoRoots,
    /// A pin that is not 32 bytes of hex.
    BadPin(String),
    /// The name is neither a DNS name nor an IP address.
    InvalidServerName(String),
    /// The server's certificate does not chain to a trusted CA (wrong CA,
    /// self-signed, bad signature).
    UntrustedCertificate(rustls::Error),
    /// The server's certificate (or one in its chain) has expired.
    Expired(rustls::Error),
    /// The server's certificate is not valid yet.
    NotYetValid(rustls::Error),
    /// The certificate is valid but not for the name we connected to.
    WrongHostName(rustls::Error),
    /// The pinned fingerprint does not match the server's certificate.
    PinMismatch {
        /// The configured pin.
        expected: [u8; 32],
        /// The SHA-256 of the certificate the server presented.
        presented: [u8; 32],
    },
    /// Another certificate problem (revoked, wrong purpose, ...).
    Certificate(rustls::Error),
    /// The handshake failed otherwise (protocol error, alert from the
    /// server, no common cipher suite or version).
    Handshake(rustls::Error),
    /// The server closed the connection during the handshake.
    ClosedDuringHandshake,
    /// A socket error during the handshake.
    Io(io::Error),
}

impl TlsError {
    /// Whether the server's identity was refused (untrusted, expired, not
    /// yet valid, wrong host name, pin mismatch, other certificate error)
    /// or the trust configuration is unusable. Retrying soon cannot help:
    /// reconnect policies treat it like an authentication failure.
    pub fn is_verification_failure(&self) -> bool {
        !matches!(
            self,
            TlsError::Handshake(_) | TlsError::ClosedDuringHandshake | TlsError::Io(_)
        )
    }

    /// Classifies a rustls error from the handshake.
    pub fn from_rustls(e: rustls::Error) -> TlsError {
        let rustls::Error::InvalidCertificate(c) = &e else {
            return TlsError::Handshake(e);
        };
        match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsError::Expired(e)
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsError::NotYetValid(e)
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsError::WrongHostName(e)
            }
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsError::UntrustedCertificate(e)
            }
            CertificateError::Other(other) => match other.0.downcast_ref::<PinMismatch>() {
                Some(m) => TlsError::PinMismatch {
                    expected: m.expected,
                    presented: m.presented,
                },
                None => TlsError::Certificate(e),
            },
            _ => TlsError::Certificate(e),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::CaFile { path, error } => {
                write!(f, "cannot read CA file {}: {error}", path.display())
            }
            TlsError::BadCa(e) => write!(f, "bad CA certificate: {e}"),
            TlsError::NoRoots => f.write_str("no trusted CA certificate could be loaded"),
            TlsError::BadPin(p) => write!(f, "bad TLS pin {p:?}: want 64 hex digits (SHA-256)"),
            TlsError::InvalidServerName(n) => write!(f, "invalid TLS server name {n:?}"),
            TlsError::UntrustedCertificate(e) => {
                write!(f, "server certificate not trusted (wrong CA?): {e}")
            }
            TlsError::Expired(e) => write!(f, "server certificate expired: {e}"),
            TlsError::NotYetValid(e) => write!(f, "server certificate not valid yet: {e}"),
            TlsError::WrongHostName(e) => {
                write!(f, "server certificate is for another host name: {e}")
            }
            TlsError::PinMismatch {
                expected,
                presented,
            } => write!(
                f,
                "server certificate does not match the pin: expected sha256 {}, got {}",
                hex(expected),
                hex(presented)
            ),
            TlsError::Certificate(e) => write!(f, "server certificate refused: {e}"),
            TlsError::Handshake(e) => write!(f, "TLS handshake failed: {e}"),
            TlsError::ClosedDuringHandshake => {
                f.write_str("server closed the connection during the TLS handshake")
            }
            TlsError::Io(e) => write!(f, "socket error during the TLS handshake: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::CaFile { error, .. } | TlsError::Io(error) => Some(error),
            TlsError::UntrustedCertificate(e)
            | TlsError::Expired(e)
            | TlsError::NotYetValid(e)
            | TlsError::WrongHostName(e)
            | TlsError::Certificate(e)
            | TlsError::Handshake(e) => Some(e),
            _ => None,
        }
    }
}

/// The pin verifier's refusal, carried through rustls to [`TlsError`].
#[derive(Debug)]
struct PinMismatch {
    expected: [u8; 32],
    presented: [u8; 32],
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate sha256 {} is not the pinned one",
            hex(&self.presented)
        )
    }
}

impl std::error::Error for PinMismatch {}

/// Accepts exactly the pinned end-entity certificate; still verifies the
/// handshake signature with the provider's algorithms.
#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity);
        // Constant time is not needed (the certificate is public), but cheap.
        let diff = presented
            .iter()
            .zip(self.pin.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(PinMismatch {
                expected: self.pin,
                presented,
            })),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Where a non-blocking handshake stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Done: application data can flow.
    Done,
    /// Call again when the socket is readable.
    WantRead,
    /// Call again when the socket is writable.
    WantWrite,
}

/// A rustls client connection driven by non-blocking I/O.
///
/// Each method takes the socket (`S: Read + Write`, in non-blocking mode)
/// and returns `WouldBlock` when it cannot progress. Plaintext may be
/// buffered here while the socket is not readable: check
/// [`TlsSession::has_plaintext`] before waiting for readability, and
/// [`TlsSession::flush`] after writing (ciphertext may stay queued).
pub struct TlsSession {
    conn: ClientConnection,
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("handshaking", &self.conn.is_handshaking())
            .finish_non_exhaustive()
    }
}

impl TlsSession {
    /// A session with `config` for the server at `host` (SNI and name check
    /// from [`TlsConfig::server_name`] or `host`).
    pub fn new(
        tls: &TlsConfig,
        config: Arc<rustls::ClientConfig>,
        host: &str,
    ) -> Result<TlsSession, TlsError> {
        let name = tls.server_name_for(host)?;
        let conn = ClientConnection::new(config, name).map_err(TlsError::Handshake)?;
        Ok(TlsSession { conn })
    }

    /// Advances the handshake as far as the socket allows.
    pub fn handshake<S: Read + Write>(&mut self, io: &mut S) -> Result<Handshake, TlsError> {
        loop {
            while self.conn.wants_write() {
                match self.conn.write_tls(io) {
                    Ok(0) => return Err(TlsError::ClosedDuringHandshake),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(Handshake::WantWrite)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(closed_or_io(e)),
                }
            }
            if !self.conn.is_handshaking() {
                return Ok(Handshake::Done);
            }
            match self.conn.read_tls(io) {
                Ok(0) => return Err(TlsError::ClosedDuringHandshake),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Handshake::WantRead),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(closed_or_io(e)),
            }
            if let Err(e) = self.conn.process_new_packets() {
                // Tell the server why (the alert), best effort.
                let _ = self.conn.write_tls(io);
                return Err(TlsError::from_rustls(e));
            }
        }
    }

    /// Whether decrypted bytes are waiting (readable without the socket).
    pub fn has_plaintext(&mut self) -> bool {
        // `process_new_packets` with nothing new only reports the state.
        matches!(self.conn.process_new_packets(), Ok(s) if s.plaintext_bytes_to_read() > 0)
    }

    /// Whether ciphertext is queued for the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Reads plaintext: what is buffered, else what one socket read brings.
    /// `Ok(0)` is the end (close_notify, or a TCP close after it);
    /// `WouldBlock` means wait for the socket; a TCP close without
    /// close_notify is `UnexpectedEof`.
    pub fn read<S: Read + Write>(&mut self, io: &mut S, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            let n = self.conn.read_tls(io)?;
            if let Err(e) = self.conn.process_new_packets() {
                let _ = self.conn.write_tls(io);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Post-handshake messages (key updates) may need an answer.
            let _ = self.flush(io);
            if n == 0 {
                return match self.conn.reader().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        Err(io::ErrorKind::UnexpectedEof.into())
                    }
                    other => other,
                };
            }
        }
    }

    /// Encrypts up to `buf.len()` bytes and writes as much ciphertext as the
    /// socket takes. `WouldBlock` (nothing taken) while earlier ciphertext
    /// is still queued, so the queue stays bounded by one write.
    pub fn write<S: Read + Write>(&mut self, io: &mut S, buf: &[u8]) -> io::Result<usize> {
        if self.flush(io)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.conn.writer().write(buf)?;
        self.flush(io)?;
        Ok(n)
    }

    /// Writes queued ciphertext; returns whether some is still queued
    /// because the socket would block.
    pub fn flush<S: Read + Write>(&mut self, io: &mut S) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(io) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Queues a close_notify and writes it if the socket takes it now.
    pub fn close<S: Read + Write>(&mut self, io: &mut S) {
        self.conn.send_close_notify();
        let _ = self.flush(io);
    }

    /// The SHA-256 of the server's end-entity certificate, once known.
    pub fn peer_fingerprint(&self) -> Option<[u8; 32]> {
        self.conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| fingerprint(c))
    }
}

fn closed_or_io(e: io::Error) -> TlsError {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => TlsError::ClosedDuringHandshake,
        _ => TlsError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_forms() {
        assert_eq!(host_of("pbx.example:5039"), "pbx.example");
        assert_eq!(host_of("127.0.0.1:5039"), "127.0.0.1");
        assert_eq!(host_of("[::1]:5039"), "::1");
        assert_eq!(host_of("pbx"), "pbx");
    }

    #[test]
    fn pins_parse_with_or_without_colons() {
        let hexs = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let pin = parse_fingerprint(hexs).unwrap();
        assert_eq!(hex(&pin), hexs);
        let colons: Vec<String> = pin.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{}", colons.join(":"))).unwrap(),
            pin
        );
        assert!(matches!(
            parse_fingerprint("abcd"),
            Err(TlsError::BadPin(_))
        ));
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn bad_ca_inputs_are_typed() {
        let tls = TlsConfig::new().with_ca_pem(b"not a pem".to_vec());
        assert!(matches!(tls.client_config(), Err(TlsError::BadCa(_))));
        let tls = TlsConfig::new().with_ca_file("/nonexistent/ca.pem");
        assert!(matches!(tls.client_config(), Err(TlsError::CaFile { .. })));
        assert!(TlsError::NoRoots.is_verification_failure());
        assert!(!TlsError::ClosedDuringHandshake.is_verification_failure());
    }

    /// A socket in memory: reads come from `input` (`WouldBlock` when it is
    /// empty); writes go to `output` while `room` lasts (`None`: no limit),
    /// then answer `full`; the first `interruptions` writes are interrupted.
    struct Wire {
        input: Vec<u8>,
        output: Vec<u8>,
        room: Option<usize>,
        full: fn() -> io::Result<usize>,
        interruptions: usize,
    }

    impl Wire {
        fn new() -> Wire {
            Wire::stingy(usize::MAX, || Ok(0))
        }

        /// Takes `room` bytes in all, then answers `full` to every write.
        fn stingy(room: usize, full: fn() -> io::Result<usize>) -> Wire {
            Wire {
                input: Vec::new(),
                output: Vec::new(),
                room: Some(room),
                full,
                interruptions: 0,
            }
        }
    }

    impl Read for Wire {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.input.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.input.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            Ok(n)
        }
    }

    impl Write for Wire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.interruptions > 0 {
                self.interruptions -= 1;
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(self.room.unwrap_or(usize::MAX));
            if n == 0 {
                return (self.full)();
            }
            if let Some(room) = &mut self.room {
                *room -= n;
            }
            self.output.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A client session past its handshake with an in-memory server, and
    /// that server (a self-signed certificate, accepted by its pin).
    fn connected() -> (TlsSession, rustls::ServerConnection) {
        let identity = ami_testkit::tls::Identity::self_signed();
        let tls = TlsConfig::new().danger_accept_pinned_self_signed(identity.fingerprint());
        let config = tls.client_config().unwrap();
        let mut client = TlsSession::new(&tls, config, "localhost").unwrap();
        let mut server = rustls::ServerConnection::new(identity.server_config()).unwrap();
        let mut wire = Wire::new();
        for _ in 0..10 {
            let done = client.handshake(&mut wire).unwrap() == Handshake::Done;
            server.read_tls(&mut &wire.output[..]).unwrap();
            wire.output.clear();
            server.process_new_packets().unwrap();
            while server.wants_write() {
                server.write_tls(&mut wire.input).unwrap();
            }
            if done && !server.is_handshaking() {
                // What the server sent after the handshake (TLS 1.3 session
                // tickets) is read by the client's next read; drop it here.
                return (client, server);
            }
        }
        panic!("no handshake in 10 rounds");
    }

    /// The plaintext the server decrypts from `ciphertext`.
    fn decrypt(server: &mut rustls::ServerConnection, ciphertext: &[u8]) -> Vec<u8> {
        let mut rest = ciphertext;
        while !rest.is_empty() {
            server.read_tls(&mut rest).unwrap();
            server.process_new_packets().unwrap();
        }
        let mut plain = Vec::new();
        match server.reader().read_to_end(&mut plain) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => panic!("{other:?}"),
        }
        plain
    }

    #[test]
    fn partial_writes_and_would_block_keep_the_ciphertext_queued() {
        let (mut client, mut server) = connected();
        let mut wire = Wire::stingy(5, || Err(io::ErrorKind::WouldBlock.into()));
        // The plaintext is taken whole; the socket took 5 bytes of its
        // record and the rest stays queued here.
        assert_eq!(
            client.write(&mut wire, b"Action: Ping\r\n\r\n").unwrap(),
            16
        );
        assert_eq!(wire.output.len(), 5);
        assert!(client.wants_write());
        assert!(client.flush(&mut wire).unwrap(), "still queued");
        // While ciphertext is queued, nothing more is taken: the queue stays
        // bounded by one write.
        let err = client.write(&mut wire, b"more").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        // The socket drains: the rest goes out, and the server reads
        // exactly the one message, nothing lost or doubled.
        wire.room = None;
        assert!(!client.flush(&mut wire).unwrap(), "all written");
        assert!(!client.wants_write());
        assert_eq!(decrypt(&mut server, &wire.output), b"Action: Ping\r\n\r\n");
    }

    #[test]
    fn a_socket_that_would_block_at_once_takes_the_plaintext_into_the_queue() {
        let (mut client, mut server) = connected();
        let mut wire = Wire::stingy(0, || Err(io::ErrorKind::WouldBlock.into()));
        assert_eq!(client.write(&mut wire, b"abc").unwrap(), 3);
        assert!(wire.output.is_empty());
        assert!(client.flush(&mut wire).unwrap(), "still queued");
        wire.room = None;
        assert_eq!(client.write(&mut wire, b"def").unwrap(), 3);
        assert!(!client.flush(&mut wire).unwrap(), "all written");
        assert_eq!(decrypt(&mut server, &wire.output), b"abcdef");
    }

    #[test]
    fn a_socket_that_takes_nothing_without_would_block_is_an_error() {
        // `Ok(0)` from a non-empty write: the transport is gone. The caller
        // closes the session (the core then fails what was pending).
        let (mut client, _server) = connected();
        let mut wire = Wire::stingy(0, || Ok(0));
        let err = client.write(&mut wire, b"abc").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert_eq!(
            client.flush(&mut wire).unwrap_err().kind(),
            io::ErrorKind::WriteZero
        );
        // After a few bytes, the same.
        let (mut client, _server) = connected();
        let mut wire = Wire::stingy(5, || Ok(0));
        let err = client.write(&mut wire, b"abc").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert_eq!(wire.output.len(), 5);
    }

    #[test]
    fn interrupted_writes_are_retried() {
        let (mut client, mut server) = connected();
        let mut wire = Wire::new();
        wire.interruptions = 2;
        assert_eq!(client.write(&mut wire, b"xyz").unwrap(), 3);
        assert!(!client.flush(&mut wire).unwrap(), "all written");
        assert_eq!(wire.interruptions, 0);
        assert_eq!(decrypt(&mut server, &wire.output), b"xyz");
    }

    #[test]
    fn ca_pem_builds_and_pin_builds() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        assert!(TlsConfig::new()
            .with_ca_pem(ca.pem())
            .client_config()
            .is_ok());
        let pinned = TlsConfig::new().danger_accept_pinned_self_signed(fingerprint(ca.der()));
        assert!(pinned.client_config().is_ok());
        assert!(TlsConfig::new().server_name_for("127.0.0.1").is_ok());
        assert!(matches!(
            TlsConfig::new().server_name_for("bad name!"),
            Err(TlsError::InvalidServerName(_))
        ));
    }
}
