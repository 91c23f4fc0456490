//! The gateway's configuration file: a `[gateway]` table beside the same
//! `[client]` and `[servers.NAME]` tables as the `ami` command's (read by
//! [`ami_config`], field by field over the `AMI_*` environment).
//!
//! ```toml
//! [gateway]
//! id = "gw-a"                           # unique per process; default: gw-<pid>-<random>
//! nats = ["nats://127.0.0.1:4222"]      # one or more servers of one cluster
//! subject_prefix = "ami"                # ami.<server>.event.<Name>, ami.<server>.action
//! stream = "AMI_EVENTS"
//! stream_max_age_ms = 86400000          # the stream keeps a day ...
//! stream_max_bytes = 1073741824         # ... and at most 1 GiB
//! stream_replicas = 1
//! duplicate_window_ms = 120000          # a retried publish within this is stored once
//! max_unacked = 1024                    # publishes awaiting their ack, per node
//! publish_timeout_ms = 5000
//! lease_bucket = "ami_gateway_leases"
//! lease_ttl_ms = 10000                  # the bucket's max_age: a dead holder's lease ends
//! metrics_addr = "127.0.0.1:9538"       # GET /metrics and /health
//! shutdown_timeout_ms = 10000
//!
//! [client]
//! user = "gateway"
//! secret_file = "ami.secret"
//! queue_policy = "backpressure"         # what a slow JetStream does to events
//!
//! [servers.pbx1]
//! host = "10.0.0.1"
//! ```
//!
//! Everything is checked when the file is loaded: a bad value is a
//! configuration error (exit 3) before any connection is made.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ami_config::{Invalid, Server, ServerArgs};
use serde::Deserialize;

/// Where the gateway publishes, what it holds, and how long it waits.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This process's name in leases, markers and logs.
    pub id: String,
    /// The NATS servers to connect to (any one will do).
    pub nats: Vec<String>,
    /// The first subject token: `<prefix>.<server>.event.<Name>`.
    pub subject_prefix: String,
    /// The JetStream stream that keeps the events and markers.
    pub stream: String,
    /// The stream's age bound.
    pub stream_max_age: Duration,
    /// The stream's size bound in bytes.
    pub stream_max_bytes: i64,
    /// Replicas of the stream and of the lease bucket.
    pub stream_replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop a repeat.
    pub duplicate_window: Duration,
    /// Publishes awaiting their ack, per node, before events wait.
    pub max_unacked: usize,
    /// How long a publish waits for its ack before it is sent again.
    pub publish_timeout: Duration,
    /// The key-value bucket of the leases.
    pub lease_bucket: String,
    /// How long a lease lasts unrenewed (the bucket's `max_age`).
    pub lease_ttl: Duration,
    /// Where `/metrics` and `/health` are served.
    pub metrics_addr: SocketAddr,
    /// How long a graceful shutdown may take before it gives up waiting.
    pub shutdown_timeout: Duration,
}

/// The whole configuration: the gateway's settings and its nodes.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The `[gateway]` table.
    pub settings: Settings,
    /// Every `[servers.NAME]` table, resolved over `[client]`.
    pub servers: Vec<Server>,
}

/// The `[gateway]` table as written: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    id: Option<String>,
    nats: Option<Vec<String>>,
    subject_prefix: Option<String>,
    stream: Option<String>,
    stream_max_age_ms: Option<u64>,
    stream_max_bytes: Option<i64>,
    stream_replicas: Option<usize>,
    duplicate_window_ms: Option<u64>,
    max_unacked: Option<usize>,
    publish_timeout_ms: Option<u64>,
    lease_bucket: Option<String>,
    lease_ttl_ms: Option<u64>,
    metrics_addr: Option<String>,
    shutdown_timeout_ms: Option<u64>,
}

impl GatewayConfig {
    /// Reads, parses and validates the file at `path`, with the `AMI_*`
    /// environment read through `env` below the file's tables.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Invalid> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Invalid(format!("cannot read {}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        GatewayConfig::parse(&text, &path.display().to_string(), dir, env)
    }

    /// Parses and validates a configuration's text; `dir` anchors relative
    /// secret and CA files.
    pub fn parse(
        text: &str,
        origin: &str,
        dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Invalid> {
        let bad = |msg: String| Invalid(format!("{origin}: {msg}"));
        let mut doc: toml::Table = toml::from_str(text).map_err(|e| bad(e.message().into()))?;
        let table: Table = match doc.remove("gateway") {
            Some(value) => value
                .try_into()
                .map_err(|e: toml::de::Error| bad(format!("[gateway]: {}", e.message())))?,
            None => Table::default(),
        };
        let file = ami_config::File::from_table(doc, origin, dir)?;
        let args = ServerArgs::default();
        let servers = ami_config::resolve_with(&args, Some(file), env)?;
        let settings = table
            .settings()
            .map_err(|m| bad(format!("[gateway] {m}")))?;
        for server in &servers {
            check_token("server name", &server.name).map_err(bad)?;
        }
        Ok(GatewayConfig { settings, servers })
    }
}

impl Table {
    /// The settings with defaults filled in, checked together.
    fn settings(self) -> Result<Settings, String> {
        let ms = Duration::from_millis;
        let id = self.id.unwrap_or_else(default_id);
        check_token("id", &id)?;
        let subject_prefix = self.subject_prefix.unwrap_or_else(|| "ami".into());
        for token in subject_prefix.split('.') {
            check_token("subject_prefix", token)?;
        }
        let stream = self.stream.unwrap_or_else(|| "AMI_EVENTS".into());
        check_token("stream", &stream)?;
        let lease_bucket = self
            .lease_bucket
            .unwrap_or_else(|| "ami_gateway_leases".into());
        check_token("lease_bucket", &lease_bucket)?;
        let nats = self
            .nats
            .unwrap_or_else(|| vec!["nats://127.0.0.1:4222".into()]);
        if nats.is_empty() || nats.iter().any(|u| u.trim().is_empty()) {
            return Err("nats: give at least one server URL".into());
        }
        let settings = Settings {
            id,
            nats,
            subject_prefix,
            stream,
            stream_max_age: ms(self.stream_max_age_ms.unwrap_or(86_400_000)),
            stream_max_bytes: self.stream_max_bytes.unwrap_or(1 << 30),
            stream_replicas: self.stream_replicas.unwrap_or(1),
            duplicate_window: ms(self.duplicate_window_ms.unwrap_or(120_000)),
            max_unacked: self.max_unacked.unwrap_or(1024),
            publish_timeout: ms(self.publish_timeout_ms.unwrap_or(5_000)),
            lease_bucket,
            lease_ttl: ms(self.lease_ttl_ms.unwrap_or(10_000)),
            metrics_addr: self
                .metrics_addr
                .as_deref()
                .unwrap_or("127.0.0.1:9538")
                .parse()
                .map_err(|e| format!("metrics_addr: {e} (want ip:port)"))?,
            shutdown_timeout: ms(self.shutdown_timeout_ms.unwrap_or(10_000)),
        };
        settings.check()?;
        Ok(settings)
    }
}

impl Settings {
    /// The bounds that make the settings work together.
    fn check(&self) -> Result<(), String> {
        let within = |name: &str, v: u128, lo: u128, hi: u128| match (lo..=hi).contains(&v) {
            true => Ok(()),
            false => Err(format!("{name} = {v} is outside {lo}..={hi}")),
        };
        within(
            "stream_max_bytes",
            self.stream_max_bytes as u128,
            1 << 20,
            i64::MAX as u128,
        )?;
        within("stream_replicas", self.stream_replicas as u128, 1, 5)?;
        within("max_unacked", self.max_unacked as u128, 1, 65_536)?;
        within(
            "publish_timeout_ms",
            self.publish_timeout.as_millis(),
            100,
            600_000,
        )?;
        within("lease_ttl_ms", self.lease_ttl.as_millis(), 1_000, 3_600_000)?;
        within(
            "shutdown_timeout_ms",
            self.shutdown_timeout.as_millis(),
            100,
            600_000,
        )?;
        within(
            "duplicate_window_ms",
            self.duplicate_window.as_millis(),
            1_000,
            u64::MAX as u128,
        )?;
        // A retry must land within the window that makes it a duplicate,
        // and the window cannot outlive what the stream keeps.
        if self.duplicate_window > self.stream_max_age {
            return Err("duplicate_window_ms must not exceed stream_max_age_ms".into());
        }
        if self.duplicate_window < self.publish_timeout * 4 {
            return Err(
                "duplicate_window_ms must be at least 4 x publish_timeout_ms, so a retried publish is still recognised"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Refuses a name that cannot be one subject token and key-value key:
/// letters, digits, `-` and `_` only.
fn check_token(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{what} {name:?}: use letters, digits, '-' and '_' only (it is a NATS subject token)"
        )),
    }
}

/// `gw-<pid>-<random>`: unique enough to tell two processes apart.
fn default_id() -> String {
    format!(
        "gw-{}-{:06x}",
        std::process::id(),
        crate::random::u64() & 0xff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GatewayConfig, Invalid> {
        GatewayConfig::parse(text, "gw.toml", Path::new("/etc/ami"), &|_| None)
    }

    const SERVERS: &str = "[client]\nuser = \"u\"\nsecret = \"s\"\n[servers.pbx1]\nport = 5038\n";

    #[test]
    fn defaults_and_the_shared_server_tables() {
        let cfg = parse(SERVERS).expect("valid");
        assert_eq!(cfg.settings.stream, "AMI_EVENTS");
        assert_eq!(cfg.settings.subject_prefix, "ami");
        assert_eq!(cfg.settings.lease_ttl, Duration::from_secs(10));
        assert!(cfg.settings.id.starts_with("gw-"));
        assert_eq!(cfg.servers.len(), 1);
        assert_eq!(cfg.servers[0].name, "pbx1");
        assert_eq!(cfg.servers[0].client.addr, "127.0.0.1:5038");
    }

    #[test]
    fn bad_values_are_refused_with_the_field_named() {
        for (text, field) in [
            ("[gateway]\nlease_ttl_ms = 10\n", "lease_ttl_ms"),
            ("[gateway]\nmax_unacked = 0\n", "max_unacked"),
            ("[gateway]\nid = \"a.b\"\n", "id"),
            ("[gateway]\nsubject_prefix = \"a.*\"\n", "subject_prefix"),
            ("[gateway]\nmetrics_addr = \"nowhere\"\n", "metrics_addr"),
            (
                "[gateway]\nduplicate_window_ms = 1000\n",
                "duplicate_window_ms",
            ),
            ("[gateway]\nlease_tll_ms = 1000\n", "lease_tll_ms"),
        ] {
            let err = parse(&format!("{text}{SERVERS}")).unwrap_err();
            assert!(err.0.contains(field), "{text}: {err}");
        }
        let dotted = "[client]\nuser = \"u\"\nsecret = \"s\"\n[servers.\"pbx.1\"]\n";
        assert!(parse(dotted).unwrap_err().0.contains("server name"));
        // The shared tables are checked as the `ami` command checks them.
        let limit = "[client]\nuser = \"u\"\nsecret = \"s\"\nmax_frame = 10\n[servers.a]\n";
        assert!(parse(limit).unwrap_err().0.contains("max_frame"));
    }
}
