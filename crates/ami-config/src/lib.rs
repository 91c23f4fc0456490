//! Server selection: which AMI servers a program talks to, and with which
//! client options. The `ami` command and the gateway read the same tables.
//!
//! A server is described by layers, each of which may set any field; a field
//! comes from the highest layer that sets it, field by field (a server table
//! that changes only `action_timeout_ms` keeps every other option of the
//! `[client]` table, PHP pitfall 8). Lowest first:
//!
//! 1. built-in defaults (`127.0.0.1:5038`, the limits of [`ami_proto::Config::new`]);
//! 2. the environment: `AMI_HOST`, `AMI_PORT`, `AMI_USER`, `AMI_SECRET`;
//! 3. the `[client]` table of the `--config` file;
//! 4. the server's `[servers.NAME]` table;
//! 5. command-line flags: `--host`, `--port`, `--user`, `--secret-file`, `--secret`,
//!    `--tls`, `--ca-file`, `--tls-pin`.
//!
//! The environment sits below the file so that a leftover `AMI_HOST` cannot
//! send every server of a file to one host, while `AMI_SECRET` can still
//! supply a secret the file leaves out. `secret` and `secret_file` are one
//! field: the highest layer naming either wins, and one table naming both is
//! an error. A relative `secret_file` in the file is relative to the file.
//!
//! ```toml
//! [client]                  # defaults for every server
//! user = "monitor"
//! secret_file = "ami.secret"
//! action_timeout_ms = 5000
//! queue_policy = "drop-oldest"
//! redact_headers = ["X-Pin"]
//!
//! [servers.pbx1]
//! host = "10.0.0.1"
//!
//! [servers.pbx2]
//! host = "10.0.0.2"
//! action_timeout_ms = 20000  # only this differs from [client]
//!
//! [servers.pbx3]
//! host = "pbx3.example"
//! tls = true                 # port 5039 unless set; system CA store
//! ca_file = "ami-ca.pem"     # or trust only this CA (relative to the file)
//! # tls_pin = "sha256:AB:CD:..."  # DANGER: accept one self-signed certificate
//! ```
//!
//! TLS is on when `tls = true` (`--tls`), or when `ca_file` (`--ca-file`) or
//! `tls_pin` (`--tls-pin`) is set and `tls` is not `false`. The server's
//! certificate is verified against the system store or `ca_file`, with the
//! host name as SNI; `tls_pin`, the SHA-256 of the server's certificate,
//! replaces that verification for a self-signed certificate. With TLS the
//! default port is 5039 (Asterisk's `tlsbindaddr` convention).
//!
//! Every limit is checked when the configuration is loaded, through
//! [`ami_proto::Config::validate`], so a bad value fails before any connect.
//!
//! The README's "The `ami` command" section shows every option with its
//! default (`tests::the_readme_documents_every_option` keeps it complete).
//!
//! This crate builds [`ClientConfig`]s and nothing else: it depends on no
//! runtime, so the `ami` command (smol) and the gateway (tokio) share it
//! without pulling each other's runtime in. The `clap` feature derives
//! `clap::Args` on [`ServerArgs`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ami_async::ClientConfig;
use ami_proto::{AuthMethod, QueuePolicy, RedactionPolicy};
use serde::Deserialize;

/// A configuration that cannot be used: an unreadable or malformed file, an
/// unknown server, a missing user or secret, a limit out of range. The
/// message names the file or server at fault; the `ami` command exits 3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// The server-selection flags, shared by every command that connects.
#[derive(Debug, Default, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ServerArgs {
    /// AMI server host (else AMI_HOST, the config file, or 127.0.0.1).
    #[cfg_attr(feature = "clap", arg(long, global = true))]
    pub host: Option<String>,
    /// AMI server port (else AMI_PORT, the config file, or 5038).
    #[cfg_attr(feature = "clap", arg(long, global = true))]
    pub port: Option<u16>,
    /// AMI user name (else AMI_USER or the config file).
    #[cfg_attr(feature = "clap", arg(long, global = true))]
    pub user: Option<String>,
    /// File whose content is the AMI secret (a final line end is ignored).
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "FILE"))]
    pub secret_file: Option<PathBuf>,
    /// The AMI secret itself. Other users can see it in the process list:
    /// prefer --secret-file or AMI_SECRET. It is never printed.
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_name = "SECRET", hide_default_value = true)
    )]
    pub secret: Option<String>,
    /// TOML file with `[client]` options and `[servers.NAME]` tables.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "FILE"))]
    pub config: Option<PathBuf>,
    /// Servers of the config file to use (repeat or separate with commas);
    /// all of them when omitted.
    #[cfg_attr(
        feature = "clap",
        arg(long = "server", short = 's', global = true, value_delimiter = ',')
    )]
    pub servers: Vec<String>,
    /// Connect with TLS (default port 5039), verifying the server's
    /// certificate against the system CA store or --ca-file.
    #[cfg_attr(feature = "clap", arg(long, global = true))]
    pub tls: bool,
    /// PEM file of the CA(s) to trust for TLS instead of the system store
    /// (implies --tls).
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "FILE"))]
    pub ca_file: Option<PathBuf>,
    /// DANGER: accept the server's (self-signed) certificate if and only if
    /// its SHA-256 fingerprint is this (64 hex digits, colons allowed),
    /// instead of verifying it (implies --tls).
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "SHA256"))]
    pub tls_pin: Option<String>,
}

/// A secret as read from a flag, the environment or a file: never printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
struct SecretText(String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One layer of settings: every field optional. The `[client]` table and
/// each `[servers.NAME]` table are one of these; so are the environment and
/// the flags.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    secret: Option<SecretText>,
    secret_file: Option<PathBuf>,
    /// `md5` (challenge, the default) or `plain`.
    auth: Option<String>,
    /// The Login `Events` value: `on`, `off` or a mask such as `call,system`.
    events: Option<String>,
    connect_timeout_ms: Option<u64>,
    login_timeout_ms: Option<u64>,
    action_timeout_ms: Option<u64>,
    /// 0 turns heartbeats off.
    heartbeat_interval_ms: Option<u64>,
    heartbeat_misses: Option<u32>,
    max_frame: Option<usize>,
    max_command_output: Option<usize>,
    max_list_items: Option<usize>,
    max_list_bytes: Option<usize>,
    max_pending: Option<usize>,
    max_write_buffer: Option<usize>,
    event_queue: Option<usize>,
    /// `drop-oldest`, `drop-newest` or `backpressure`.
    queue_policy: Option<String>,
    reconnect: Option<bool>,
    read_budget: Option<usize>,
    /// Header names whose values are hidden in logs, added to the defaults.
    redact_headers: Option<Vec<String>>,
    /// Substrings of header names whose values are hidden, added to the defaults.
    redact_patterns: Option<Vec<String>>,
    /// TLS on or off (on by default when `ca_file` or `tls_pin` is set).
    tls: Option<bool>,
    /// PEM file of the CA(s) to trust instead of the system store.
    ca_file: Option<PathBuf>,
    /// SHA-256 pin of a self-signed server certificate (dangerous).
    tls_pin: Option<String>,
}

/// Fields that take the higher layer's value when it has one.
macro_rules! overlay {
    ($low:expr, $high:expr; $($field:ident),* $(,)?) => {{
        let (low, high) = ($low, $high);
        // `secret` and `secret_file` are one setting: whichever layer names
        // either decides both.
        let (secret, secret_file) = if high.secret.is_some() || high.secret_file.is_some() {
            (high.secret, high.secret_file)
        } else {
            (low.secret, low.secret_file)
        };
        Options { secret, secret_file, $($field: high.$field.or(low.$field)),* }
    }};
}

impl Options {
    /// This layer with `high` on top, field by field.
    fn overlay(self, high: Options) -> Options {
        overlay!(self, high;
            host, port, user, auth, events, connect_timeout_ms, login_timeout_ms,
            action_timeout_ms, heartbeat_interval_ms, heartbeat_misses, max_frame,
            max_command_output, max_list_items, max_list_bytes, max_pending,
            max_write_buffer, event_queue, queue_policy, reconnect, read_budget,
            redact_headers, redact_patterns, tls, ca_file, tls_pin,
        )
    }

    /// The layer of the `AMI_*` environment variables, read through `env`.
    fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Options, Invalid> {
        let port = match env("AMI_PORT") {
            Some(p) => Some(
                p.trim()
                    .parse::<u16>()
                    .map_err(|_| Invalid(format!("AMI_PORT={p:?} is not a port number")))?,
            ),
            None => None,
        };
        Ok(Options {
            host: env("AMI_HOST"),
            port,
            user: env("AMI_USER"),
            secret: env("AMI_SECRET").map(SecretText),
            ..Options::default()
        })
    }

    /// The layer of the command-line flags.
    fn from_args(args: &ServerArgs) -> Options {
        Options {
            host: args.host.clone(),
            port: args.port,
            user: args.user.clone(),
            secret: args.secret.clone().map(SecretText),
            secret_file: args.secret_file.clone(),
            // The flag can only turn TLS on; without it lower layers decide.
            tls: args.tls.then_some(true),
            ca_file: args.ca_file.clone(),
            tls_pin: args.tls_pin.clone(),
            ..Options::default()
        }
    }

    /// Makes a relative `secret_file` or `ca_file` relative to `dir` (the
    /// config file's).
    fn anchor(mut self, dir: &Path) -> Options {
        for p in [&mut self.secret_file, &mut self.ca_file]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        self
    }

    /// Whether TLS is on: `tls`, else implied by a CA file or a pin.
    fn tls_enabled(&self) -> bool {
        self.tls
            .unwrap_or(self.ca_file.is_some() || self.tls_pin.is_some())
    }
}

/// A `--config` file: a `[client]` table and named `[servers.NAME]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    client: Options,
    #[serde(default)]
    servers: BTreeMap<String, Options>,
}

impl File {
    /// Parses a config file's text; `dir` anchors relative secret files.
    pub fn parse(text: &str, origin: &str, dir: &Path) -> Result<File, Invalid> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_owned();
            Invalid(format!("{origin}: {}", msg.trim()))
        })?;
        File::from_table(table, origin, dir)
    }

    /// The `[client]` and `[servers.NAME]` tables of a parsed TOML document
    /// (a program with tables of its own, like the gateway's `[gateway]`,
    /// removes them first); `dir` anchors relative secret files.
    pub fn from_table(table: toml::Table, origin: &str, dir: &Path) -> Result<File, Invalid> {
        let file: File = table.try_into().map_err(|e: toml::de::Error| {
            let msg = e.message().to_owned();
            Invalid(format!("{origin}: {}", msg.trim()))
        })?;
        for (name, table) in [("client", &file.client)]
            .into_iter()
            .chain(file.servers.iter().map(|(n, t)| (n.as_str(), t)))
        {
            if table.secret.is_some() && table.secret_file.is_some() {
                return Err(Invalid(format!(
                    "{origin}: [{name}] sets both secret and secret_file; keep one"
                )));
            }
        }
        Ok(File {
            client: file.client.anchor(dir),
            servers: file
                .servers
                .into_iter()
                .map(|(n, t)| (n, t.anchor(dir)))
                .collect(),
        })
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<File, Invalid> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Invalid(format!("cannot read {}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        File::parse(&text, &path.display().to_string(), dir)
    }
}

/// One server, ready to connect.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its name: the `[servers.NAME]` key, or the host without a config file.
    pub name: String,
    /// The client options, limits validated.
    pub client: ClientConfig,
}

/// The servers chosen by `args`, with the environment read through `env`
/// (`std::env::var` outside tests).
pub fn resolve(
    args: &ServerArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Server>, Invalid> {
    let file = match &args.config {
        Some(path) => Some(File::load(path)?),
        None => None,
    };
    resolve_with(args, file, env)
}

/// [`resolve`] with the config file already parsed (or none).
pub fn resolve_with(
    args: &ServerArgs,
    file: Option<File>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Server>, Invalid> {
    let base = Options::from_env(env)?;
    let flags = Options::from_args(args);
    let Some(file) = file else {
        if !args.servers.is_empty() {
            return Err(Invalid(
                "--server names a server of a config file: give --config FILE".into(),
            ));
        }
        let opts = base.overlay(flags);
        let name = opts.host.clone().unwrap_or_else(|| DEFAULT_HOST.into());
        return Ok(vec![build(&name, opts)?]);
    };
    let client = base.overlay(file.client);
    if file.servers.is_empty() {
        // A file without server tables describes one server with [client].
        if !args.servers.is_empty() {
            return Err(Invalid(format!(
                "unknown server {:?}: the config file defines no [servers.NAME]",
                args.servers[0]
            )));
        }
        let opts = client.overlay(flags);
        let name = opts.host.clone().unwrap_or_else(|| DEFAULT_HOST.into());
        return Ok(vec![build(&name, opts)?]);
    }
    let names: Vec<String> = if args.servers.is_empty() {
        file.servers.keys().cloned().collect()
    } else {
        for name in &args.servers {
            if !file.servers.contains_key(name) {
                let known: Vec<&str> = file.servers.keys().map(String::as_str).collect();
                return Err(Invalid(format!(
                    "unknown server {name:?} (the config file defines: {})",
                    known.join(", ")
                )));
            }
        }
        args.servers.clone()
    };
    names
        .iter()
        .map(|name| {
            let table = file.servers[name].clone();
            let opts = client.clone().overlay(table).overlay(flags.clone());
            build(name, opts)
        })
        .collect()
}

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 5038;
/// Asterisk's conventional AMI-over-TLS port (`tlsbindaddr`).
const DEFAULT_TLS_PORT: u16 = 5039;

/// The TLS options: the system store, or `ca_file`; a pin replaces both.
fn tls_config(
    ca_file: Option<PathBuf>,
    pin: Option<String>,
) -> Result<ami_async::TlsConfig, String> {
    let mut tls = ami_async::TlsConfig::new();
    if let Some(path) = ca_file {
        tls = tls.with_ca_file(path);
    }
    if let Some(pin) = pin {
        let pin = ami_tls::parse_fingerprint(&pin).map_err(|e| e.to_string())?;
        tls = tls.danger_accept_pinned_self_signed(pin);
    }
    Ok(tls)
}

/// Turns the merged layers of server `name` into a validated client config.
fn build(name: &str, o: Options) -> Result<Server, Invalid> {
    let cfg = |msg: String| Invalid(format!("server {name}: {msg}"));
    let tls = o.tls_enabled();
    let user = o
        .user
        .ok_or_else(|| cfg("no user: give --user, AMI_USER, or user in the config file".into()))?;
    let secret = match (o.secret, o.secret_file) {
        (Some(SecretText(s)), _) => s.into_bytes(),
        (None, Some(path)) => read_secret(&path).map_err(cfg)?,
        (None, None) => {
            return Err(cfg(
                "no secret: give --secret-file, AMI_SECRET, or secret_file in the config file"
                    .into(),
            ))
        }
    };
    let mut proto = ami_proto::Config::new(name, user, ami_proto::Secret::new(secret));
    if let Some(auth) = o.auth {
        proto.auth = match auth.to_ascii_lowercase().as_str() {
            "md5" => AuthMethod::Md5,
            "plain" => AuthMethod::Plain,
            _ => return Err(cfg(format!("auth = {auth:?}: expected md5 or plain"))),
        };
    }
    if let Some(events) = o.events {
        proto.events = events;
    }
    let ms = Duration::from_millis;
    if let Some(v) = o.login_timeout_ms {
        proto.login_timeout = ms(v);
    }
    if let Some(v) = o.action_timeout_ms {
        proto.action_timeout = ms(v);
    }
    if let Some(v) = o.heartbeat_interval_ms {
        proto.heartbeat_interval = (v > 0).then(|| ms(v));
    }
    if let Some(v) = o.heartbeat_misses {
        proto.heartbeat_misses = v;
    }
    macro_rules! set {
        ($($field:ident),*) => { $(if let Some(v) = o.$field { proto.$field = v; })* };
    }
    set!(
        max_frame,
        max_command_output,
        max_list_items,
        max_list_bytes,
        max_pending,
        max_write_buffer,
        event_queue
    );
    if let Some(policy) = o.queue_policy {
        proto.queue_policy = policy.parse::<QueuePolicy>().map_err(cfg)?;
    }
    let mut redaction = RedactionPolicy::default();
    for h in o.redact_headers.unwrap_or_default() {
        redaction = redaction.with_exact(h);
    }
    for p in o.redact_patterns.unwrap_or_default() {
        redaction = redaction.with_key_pattern(p);
    }
    proto.redaction = redaction;
    proto.validate().map_err(|e| cfg(e.to_string()))?;

    let host = o.host.unwrap_or_else(|| DEFAULT_HOST.into());
    if host.is_empty() {
        return Err(cfg("empty host".into()));
    }
    let port = o
        .port
        .unwrap_or(if tls { DEFAULT_TLS_PORT } else { DEFAULT_PORT });
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut client = ClientConfig::new(addr, proto);
    if let Some(v) = o.connect_timeout_ms {
        if v == 0 {
            return Err(cfg("connect_timeout_ms must be at least 1".into()));
        }
        client.connect_timeout = ms(v);
    }
    if let Some(v) = o.reconnect {
        client.reconnect = v;
    }
    if let Some(v) = o.read_budget {
        if !(512..=(64 << 20)).contains(&v) {
            return Err(cfg(format!("read_budget = {v} is outside 512..=67108864")));
        }
        client.read_budget = v;
    }
    if tls {
        client.tls = Some(tls_config(o.ca_file, o.tls_pin).map_err(cfg)?);
    }
    Ok(Server {
        name: name.to_owned(),
        client,
    })
}

/// A secret file's content without its final line end.
fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn file(text: &str) -> File {
        File::parse(text, "test.toml", Path::new("/etc/ami")).expect("valid file")
    }

    fn args() -> ServerArgs {
        ServerArgs::default()
    }

    const LAYERED: &str = r#"
        [client]
        user = "monitor"
        secret = "s3cret"
        action_timeout_ms = 5000
        max_frame = 1048576
        queue_policy = "drop-newest"
        port = 5039

        [servers.a]
        host = "10.0.0.1"
        action_timeout_ms = 20000

        [servers.b]
        host = "10.0.0.2"
        max_frame = 2097152
        user = "b-user"
    "#;

    /// The README's reference file: it parses, and between its `[client]`
    /// table and its server tables it sets every option (a new option
    /// must be documented there).
    #[test]
    fn the_readme_documents_every_option() {
        let readme = include_str!("../../../README.md");
        let reference = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|block| block.split("```").next())
            .find(|block| block.contains("[servers."))
            .expect("a config file in the README");
        let f = file(reference);
        let all = f
            .servers
            .values()
            .fold(f.client.clone(), |all, table| all.overlay(table.clone()));
        // `secret` and `secret_file` are one option: the README names the file.
        let shown = format!("{all:?}");
        let unset: Vec<&str> = shown
            .trim_start_matches("Options { ")
            .split(", ")
            .filter(|field| field.ends_with(": None") && !field.starts_with("secret: "))
            .collect();
        assert!(
            unset.is_empty(),
            "the README's reference leaves out {unset:?}"
        );
        assert!(all.secret_file.is_some());
        // Each table resolves as a server would (the secret file aside).
        let mut with_secret = f;
        with_secret.client.secret_file = None;
        with_secret.client.secret = Some(SecretText("x".into()));
        let servers = resolve_with(&args(), Some(with_secret), &no_env).expect("valid");
        assert_eq!(servers.len(), 4);
    }

    #[test]
    fn server_tables_override_the_client_table_field_by_field() {
        let servers = resolve_with(&args(), Some(file(LAYERED)), &no_env).unwrap();
        let [a, b] = &servers[..] else {
            panic!("two servers")
        };
        assert_eq!((a.name.as_str(), b.name.as_str()), ("a", "b"));
        // a changed only the timeout; everything else comes from [client].
        assert_eq!(a.client.addr, "10.0.0.1:5039");
        assert_eq!(a.client.proto.action_timeout, Duration::from_secs(20));
        assert_eq!(a.client.proto.max_frame, 1 << 20);
        assert_eq!(a.client.proto.username, "monitor");
        assert_eq!(a.client.proto.queue_policy, QueuePolicy::DropNewest);
        // b changed the frame limit and the user, and kept the timeout.
        assert_eq!(b.client.addr, "10.0.0.2:5039");
        assert_eq!(b.client.proto.action_timeout, Duration::from_secs(5));
        assert_eq!(b.client.proto.max_frame, 2 << 20);
        assert_eq!(b.client.proto.username, "b-user");
        assert_eq!(b.client.proto.secret.expose(), b"s3cret");
        // Untouched everywhere: the built-in default.
        assert_eq!(a.client.proto.event_queue, 10_000);
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_the_environment() {
        let env = |k: &str| match k {
            "AMI_HOST" => Some("192.0.2.9".to_string()),
            "AMI_USER" => Some("env-user".to_string()),
            "AMI_SECRET" => Some("env-secret".to_string()),
            _ => None,
        };
        let text = r#"
            [servers.a]
            host = "10.0.0.1"
            [servers.b]
            user = "b-user"
            secret = "b-secret"
        "#;
        let servers = resolve_with(&args(), Some(file(text)), &env).unwrap();
        // a: host from its table, user and secret from the environment.
        assert_eq!(servers[0].client.addr, "10.0.0.1:5038");
        assert_eq!(servers[0].client.proto.username, "env-user");
        assert_eq!(servers[0].client.proto.secret.expose(), b"env-secret");
        // b: no host in the file, so the environment's.
        assert_eq!(servers[1].client.addr, "192.0.2.9:5038");
        assert_eq!(servers[1].client.proto.username, "b-user");
        assert_eq!(servers[1].client.proto.secret.expose(), b"b-secret");

        let mut a = args();
        a.user = Some("flag-user".into());
        a.port = Some(6000);
        a.secret = Some("flag-secret".into());
        a.servers = vec!["a".into()];
        let servers = resolve_with(&a, Some(file(text)), &env).unwrap();
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].client.addr, "10.0.0.1:6000");
        assert_eq!(servers[0].client.proto.username, "flag-user");
        assert_eq!(servers[0].client.proto.secret.expose(), b"flag-secret");
    }

    #[test]
    fn a_secret_file_in_a_higher_layer_replaces_a_lower_secret() {
        let low = Options {
            secret: Some(SecretText("low".into())),
            ..Options::default()
        };
        let high = Options {
            secret_file: Some("/x".into()),
            ..Options::default()
        };
        let merged = low.overlay(high);
        assert!(merged.secret.is_none());
        assert_eq!(merged.secret_file.as_deref(), Some(Path::new("/x")));
        // A relative secret file is anchored at the config file.
        let f = file("[client]\nsecret_file = \"pw\"\n");
        assert_eq!(
            f.client.secret_file.as_deref(),
            Some(Path::new("/etc/ami/pw"))
        );
    }

    #[test]
    fn environment_alone_describes_one_server() {
        let env = |k: &str| match k {
            "AMI_HOST" => Some("pbx.example".to_string()),
            "AMI_PORT" => Some("5040".to_string()),
            "AMI_USER" => Some("admin".to_string()),
            "AMI_SECRET" => Some("x".to_string()),
            _ => None,
        };
        let servers = resolve_with(&args(), None, &env).unwrap();
        assert_eq!(servers[0].name, "pbx.example");
        assert_eq!(servers[0].client.addr, "pbx.example:5040");
        let bad = |k: &str| (k == "AMI_PORT").then(|| "http".to_string());
        assert!(matches!(resolve_with(&args(), None, &bad), Err(Invalid(_))));
    }

    #[test]
    fn bad_configurations_are_config_errors() {
        let unknown = ServerArgs {
            servers: vec!["nope".into()],
            ..args()
        };
        let err = resolve_with(&unknown, Some(file(LAYERED)), &no_env).unwrap_err();
        assert!(matches!(&err, Invalid(m) if m.contains("\"nope\"") && m.contains("a, b")));

        let limit = "[client]\nuser = \"u\"\nsecret = \"s\"\nmax_frame = 10\n";
        let err = resolve_with(&args(), Some(file(limit)), &no_env).unwrap_err();
        assert!(
            matches!(&err, Invalid(m) if m.contains("max_frame")),
            "{err}"
        );

        let policy = "[client]\nuser = \"u\"\nsecret = \"s\"\nqueue_policy = \"lifo\"\n";
        assert!(resolve_with(&args(), Some(file(policy)), &no_env).is_err());

        let no_secret = ServerArgs {
            user: Some("u".into()),
            ..args()
        };
        let err = resolve_with(&no_secret, None, &no_env).unwrap_err();
        assert!(matches!(&err, Invalid(m) if m.contains("no secret")));

        for bad in [
            "[client]\nsecrets = \"typo\"\n",
            "[client]\nsecret = \"a\"\nsecret_file = \"b\"\n",
            "[servers.a]\nport = \"x\"\n",
        ] {
            let err = File::parse(bad, "t.toml", Path::new(".")).unwrap_err();
            assert!(matches!(err, Invalid(_)));
        }
    }

    #[test]
    fn tls_from_the_file_and_the_flags() {
        let text = r#"
            [client]
            user = "u"
            secret = "s"

            [servers.plain]
            host = "10.0.0.1"

            [servers.tls]
            host = "pbx.example"
            tls = true

            [servers.ca]
            host = "pbx.example"
            ca_file = "ca.pem"
            port = 6000

            [servers.off]
            host = "pbx.example"
            ca_file = "ca.pem"
            tls = false
        "#;
        let servers = resolve_with(&args(), Some(file(text)), &no_env).unwrap();
        let by = |n: &str| servers.iter().find(|s| s.name == n).unwrap();
        assert!(by("plain").client.tls.is_none());
        assert_eq!(by("plain").client.addr, "10.0.0.1:5038");
        let tls = by("tls").client.tls.as_ref().expect("tls");
        assert_eq!(tls.roots, ami_async::Roots::System);
        assert_eq!(by("tls").client.addr, "pbx.example:5039");
        let ca = by("ca")
            .client
            .tls
            .as_ref()
            .expect("tls implied by ca_file");
        assert_eq!(
            ca.roots,
            ami_async::Roots::CaFile(PathBuf::from("/etc/ami/ca.pem"))
        );
        assert_eq!(by("ca").client.addr, "pbx.example:6000");
        assert!(by("off").client.tls.is_none());

        let pin = "AB:".repeat(31) + "AB";
        let flags = ServerArgs {
            host: Some("pbx.example".into()),
            user: Some("u".into()),
            secret: Some("s".into()),
            tls_pin: Some(pin),
            ..args()
        };
        let servers = resolve_with(&flags, None, &no_env).unwrap();
        let tls = servers[0]
            .client
            .tls
            .as_ref()
            .expect("tls implied by the pin");
        assert_eq!(tls.danger_accept_pinned_self_signed, Some([0xAB; 32]));

        let on = ServerArgs {
            tls: true,
            ..flags.clone()
        };
        assert!(resolve_with(&on, None, &no_env).unwrap()[0]
            .client
            .tls
            .is_some());

        let bad = ServerArgs {
            tls_pin: Some("nothex".into()),
            ..flags
        };
        let err = resolve_with(&bad, None, &no_env).unwrap_err();
        assert!(matches!(&err, Invalid(m) if m.contains("pin")), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let f = file(LAYERED);
        let shown = format!("{f:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
