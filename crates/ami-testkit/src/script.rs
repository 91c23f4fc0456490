//! What the fake server knows and how it behaves: users, banner, timings,
//! command outputs, list sizes, Originate outcomes.

use std::collections::BTreeMap;
use std::time::Duration;

/// One AMI account of the fake server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The plain secret (also used for MD5 challenge logins).
    pub secret: String,
    /// Whether this user may receive events at all (a user without read
    /// permissions gets responses only, like `16-limited-user.raw`).
    pub events_allowed: bool,
}

/// How the server picks the nonce it answers to `Action: Challenge`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChallengeNonce {
    /// Always this nonce.
    Fixed(String),
    /// A decimal number derived from this seed and the number of challenges
    /// already issued in the session (like Asterisk's `682751052`).
    Seeded(u64),
}

/// How an Originate ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginateOutcome {
    /// The call is answered: call events, then `OriginateResponse` with
    /// `Response: Success` and `Reason: 4`.
    Success,
    /// The call fails: `OriginateResponse` with `Response: Failure` and this
    /// `Reason` (0 = failed, 1 = no answer, 5 = busy, 8 = congested); a
    /// synchronous Originate gets `Response: Error`, `Message: Originate failed`.
    Failure {
        /// The `Reason` header value.
        reason: u32,
    },
    /// Nothing ever arrives: no `OriginateResponse` for an async Originate,
    /// and a synchronous one blocks the session for good (no response at all).
    Never,
}

/// Originate timing and outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginateBehavior {
    /// Time between the request and the outcome (the `OriginateResponse` of
    /// an async Originate, or the response of a synchronous one, which blocks
    /// the whole session meanwhile, as Asterisk does).
    pub delay: Duration,
    /// What happens.
    pub outcome: OriginateOutcome,
}

impl Default for OriginateBehavior {
    fn default() -> Self {
        OriginateBehavior {
            delay: Duration::from_millis(50),
            outcome: OriginateOutcome::Success,
        }
    }
}

/// Everything a fake server session needs to know. Fields are public; start
/// from [`ServerConfig::default`] and change what the test needs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ami_testkit::ServerConfig;
///
/// let config = ServerConfig {
///     auth_failure_delay: Duration::ZERO,
///     channels: 20,
///     ..ServerConfig::default()
/// }
/// .with_user("limited", "limited123", false)
/// .with_command("sip show peers", &["Name/username  Host", "0 sip peers"]);
/// assert!(config.users.contains_key("admin"));
/// ```
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Accounts by user name. Default: `admin` / `amp111`, events allowed
    /// (the credentials of the corpus captures).
    pub users: BTreeMap<String, User>,
    /// Accept any user name and secret (plain logins only), like the bench
    /// harness server. Default `false`.
    pub accept_any_login: bool,
    /// The banner line without its line end. Default
    /// `Asterisk Call Manager/11.0.0` (Asterisk 22).
    pub banner: String,
    /// How long a failed login waits before `Authentication failed` and the
    /// close. Asterisk waits about 1 s (the default); tests set zero.
    pub auth_failure_delay: Duration,
    /// The nonce answered to `Action: Challenge`. Default: seeded.
    pub md5_challenge: ChallengeNonce,
    /// Answer `Command` the Asterisk ≤ 13 way (`Response: Follows`, raw text,
    /// `--END COMMAND--`) instead of one `Output:` header per line.
    pub legacy_command: bool,
    /// Output lines by command text (exact match after trimming). Checked
    /// before the built-in `core show channels` and `core show version`;
    /// anything else is an unknown command.
    pub command_outputs: BTreeMap<String, Vec<String>>,
    /// How many channels exist (CoreShowChannels and Status list items,
    /// `core show channels`, valid targets of Hangup/Redirect/GetVar). Default 0.
    pub channels: usize,
    /// Originate timing and outcome.
    pub originate: OriginateBehavior,
    /// Largest client frame the session's decoder accepts. Default 64 KiB.
    pub max_frame: usize,
    /// Unix time the session's clock starts at (`Timestamp:`, `EventTV`).
    /// Default 1795727781.0, the corpus capture time.
    pub epoch: f64,
    /// Seconds the fake Asterisk has been up when a session starts (`Uptime`).
    pub uptime: u64,
    /// Seed for the traffic simulator behind Originate call events and floods.
    pub seed: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert(
            "admin".to_string(),
            User {
                secret: "amp111".to_string(),
                events_allowed: true,
            },
        );
        ServerConfig {
            users,
            accept_any_login: false,
            banner: "Asterisk Call Manager/11.0.0".to_string(),
            auth_failure_delay: Duration::from_secs(1),
            md5_challenge: ChallengeNonce::Seeded(0x5eed),
            legacy_command: false,
            command_outputs: BTreeMap::new(),
            channels: 0,
            originate: OriginateBehavior::default(),
            max_frame: 64 << 10,
            epoch: 1_795_727_781.0,
            uptime: 6,
            seed: 1,
        }
    }
}

impl ServerConfig {
    /// Adds (or replaces) a user.
    pub fn with_user(mut self, name: &str, secret: &str, events_allowed: bool) -> Self {
        self.users.insert(
            name.to_string(),
            User {
                secret: secret.to_string(),
                events_allowed,
            },
        );
        self
    }

    /// Sets the output of one command.
    pub fn with_command(mut self, command: &str, lines: &[&str]) -> Self {
        self.command_outputs.insert(
            command.trim().to_string(),
            lines.iter().map(|l| l.to_string()).collect(),
        );
        self
    }

    /// The `i`-th simulated channel's name (`Local/long@test-00000000;1`, ...).
    pub fn channel_name(i: usize) -> String {
        format!("Local/long@test-{:08x};{}", i / 2, 1 + i % 2)
    }
}
