//! Certificates generated at test time (rcgen), so TLS tests run offline:
//! a throw-away CA, server certificates it signs (valid, expired, for the
//! wrong host), self-signed ones for pinning, and the rustls server
//! configurations [`crate::TcpServer::start_tls`] serves them with.
//!
//! # Examples
//!
//! ```
//! use ami_testkit::{tls::TestPki, Faults, ServerConfig, TcpServer};
//!
//! let pki = TestPki::new();
//! let identity = pki.localhost();
//! let server = TcpServer::start_tls(
//!     ServerConfig::default(),
//!     Faults::default(),
//!     identity.server_config(),
//! )
//! .unwrap();
//! assert!(pki.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! server.stop();
//! ```

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::crypto::ring;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

/// A test certificate authority. Each one is new (fresh keys).
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

/// A server certificate (chain of one) and its private key.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The end-entity certificate, DER.
    pub cert: CertificateDer<'static>,
    /// The same certificate, PEM.
    pub cert_pem: String,
    key_pkcs8: Vec<u8>,
}

fn params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("valid names");
    params
        .distinguished_name
        .push(DnType::CommonName, "ami-testkit server");
    params
}

impl TestPki {
    /// A new CA ("ami-testkit CA"), valid from 1975 to 4096 (rcgen's default).
    pub fn new() -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        params
            .distinguished_name
            .push(DnType::CommonName, "ami-testkit CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("key generation");
        let ca = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        TestPki { ca }
    }

    /// The CA certificate, PEM (what a client trusts).
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    fn sign(&self, params: CertificateParams) -> Identity {
        let key = KeyPair::generate().expect("key generation");
        let cert = params.signed_by(&key, &self.ca).expect("signing");
        Identity {
            cert_pem: cert.pem(),
            cert: cert.der().clone(),
            key_pkcs8: key.serialize_der(),
        }
    }

    /// A valid server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Identity {
        self.sign(params(names))
    }

    /// A valid certificate for `localhost` and `127.0.0.1`.
    pub fn localhost(&self) -> Identity {
        self.server(&["localhost", "127.0.0.1"])
    }

    /// A certificate for `localhost` and `127.0.0.1` that expired in 2001.
    pub fn expired(&self) -> Identity {
        let mut p = params(&["localhost", "127.0.0.1"]);
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
        self.sign(p)
    }

    /// A valid certificate for another host (`pbx.invalid` only).
    pub fn wrong_host(&self) -> Identity {
        self.server(&["pbx.invalid"])
    }
}

impl Identity {
    /// A self-signed certificate for `localhost` and `127.0.0.1` (no CA):
    /// what an Asterisk box often has, accepted only by pinning.
    pub fn self_signed() -> Identity {
        let key = KeyPair::generate().expect("key generation");
        let cert = params(&["localhost", "127.0.0.1"])
            .self_signed(&key)
            .expect("self-signed certificate");
        Identity {
            cert_pem: cert.pem(),
            cert: cert.der().clone(),
            key_pkcs8: key.serialize_der(),
        }
    }

    /// The SHA-256 of the certificate's DER: its pin.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(self.cert.as_ref()).into()
    }

    /// A rustls server configuration presenting this certificate (ring
    /// provider, TLS 1.2 and 1.3, no client authentication).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()));
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(vec![self.cert.clone()], key)
                .expect("certificate and key match");
        Arc::new(config)
    }
}
