//! `ami --tls/--ca-file/--tls-pin` end to end against the fake Asterisk
//! serving TLS on 127.0.0.1, with certificates generated at test time.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use ami_testkit::tls::{Identity, TestPki};
use ami_testkit::{Faults, ServerConfig, TcpServer};

const LIMIT: Duration = Duration::from_secs(15);

mod common;

use common::{creds, scratch, text};

/// Runs `ami` with `args` and a clean environment, killed after `LIMIT`.
fn ami(args: &[String]) -> Output {
    common::run(common::ami().args(args), LIMIT)
}

/// Writes `content` to `path`; the path as an argument.
fn write(path: &Path, content: &str) -> String {
    common::write(path, content).display().to_string()
}

fn tls_server(identity: &Identity) -> TcpServer {
    let config = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::default()
    };
    TcpServer::start_tls(
        Arc::new(config),
        Faults::default(),
        identity.server_config(),
    )
    .expect("fake TLS server")
}

#[test]
fn ca_file_flag_verifies_and_a_wrong_ca_is_refused() {
    let pki = TestPki::new();
    let server = tls_server(&pki.localhost());
    let dir = scratch("ca");
    let ca = write(&dir.join("ca.pem"), &pki.ca_pem());
    let mut args = creds(&server, &dir);
    args.extend(["--ca-file".into(), ca, "action".into(), "Ping".into()]);
    let out = ami(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Ping: Pong"));

    let other = write(&dir.join("other.pem"), &TestPki::new().ca_pem());
    let mut args = creds(&server, &dir);
    args.extend(["--ca-file".into(), other, "action".into(), "Ping".into()]);
    let out = ami(&args);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("certificate"),
        "{}",
        text(&out.stderr)
    );
    // Only the verified run reached AMI.
    let pings = server.received_actions();
    let pings = pings.iter().filter(|a| a.eq_ignore_ascii_case("ping"));
    assert_eq!(pings.count(), 1);
}

#[test]
fn pin_flag_and_toml_keys() {
    let identity = Identity::self_signed();
    let server = tls_server(&identity);
    let dir = scratch("pin");
    let pin: Vec<String> = identity
        .fingerprint()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let mut args = creds(&server, &dir);
    args.extend([
        "--tls-pin".into(),
        pin.join(":"),
        "action".into(),
        "Ping".into(),
    ]);
    let out = ami(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The same from a config file: `tls`, `tls_pin`; a wrong pin fails.
    let config = format!(
        "[client]\nuser = \"admin\"\nsecret = \"amp111\"\nhost = \"127.0.0.1\"\nport = {}\n\
         tls = true\n\n[servers.good]\ntls_pin = \"{}\"\n\n[servers.bad]\ntls_pin = \"{}\"\n",
        server.port(),
        pin.join(":"),
        "00".repeat(32)
    );
    let file = write(&dir.join("ami.toml"), &config);
    let run = |name: &str| {
        ami(&[
            "--config".into(),
            file.clone(),
            "--server".into(),
            name.into(),
            "action".into(),
            "Ping".into(),
        ])
    };
    let good = run("good");
    assert!(good.status.success(), "{}", text(&good.stderr));
    let bad = run("bad");
    assert_eq!(bad.status.code(), Some(4));
    assert!(text(&bad.stderr).contains("pin"), "{}", text(&bad.stderr));
}
