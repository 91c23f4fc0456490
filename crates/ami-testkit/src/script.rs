//! What the fake server knows and how it behaves: users and their
//! permissions, banner, timings, command outputs, the stage (calls up at the
//! start, dialplan, queues, variables, AstDB) and Originate outcomes.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::dialplan::Dialplan;
use crate::perm::Classes;
use crate::queues::Queue;

/// One AMI account of the fake server (a manager.conf section).
///
/// # Examples
///
/// ```
/// use ami_testkit::{Classes, User};
///
/// // read = system / write = system, like the captures' `limited` user.
/// let limited = User::new("limited123").read("system").write("system");
/// assert_eq!(limited.write, Classes::SYSTEM);
/// assert_eq!(User::new("x").read, Classes::ALL);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The plain secret (also used for MD5 challenge logins).
    pub secret: String,
    /// The classes of events the user may receive (`read =`); a session's
    /// `Events` mask is ANDed with them.
    pub read: Classes,
    /// The classes of actions the user may run (`write =`); an action needs
    /// one of its authority's classes, else `Permission denied`.
    pub write: Classes,
}

impl User {
    /// A user with `secret` who may read and write everything.
    pub fn new(secret: &str) -> User {
        User {
            secret: secret.to_string(),
            read: Classes::ALL,
            write: Classes::ALL,
        }
    }

    /// Sets the read classes from a manager.conf list (`system,call`).
    pub fn read(mut self, classes: &str) -> User {
        self.read = Classes::parse(classes);
        self
    }

    /// Sets the write classes from a manager.conf list.
    pub fn write(mut self, classes: &str) -> User {
        self.write = Classes::parse(classes);
        self
    }
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

/// How an Originate to a destination ends when the server has no dialplan
/// (see [`ServerConfig::dialplan`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginateOutcome {
    /// The call is answered after the delay and stays up until hung up:
    /// call events, then `OriginateResponse` with `Response: Success` and
    /// `Reason: 4`.
    Success,
    /// The call fails after the delay: `OriginateResponse` with `Response:
    /// Failure` and this `Reason` (0 = failed or no such destination, 3 =
    /// no answer, 5 = busy, 8 = congested); a synchronous Originate gets
    /// `Response: Error`, `Message: Originate failed`.
    Failure {
        /// The `Reason` header value.
        reason: u32,
    },
    /// Nothing ever arrives: no call, no `OriginateResponse` for an async
    /// Originate, and a synchronous one blocks the session for good (a
    /// server that loses the outcome; no real Asterisk does this).
    Never,
}

/// A canned answer to one action, in place of what the fake server would
/// do ([`ServerConfig::with_reply`]): for the answers a real Asterisk gives
/// only in corner cases, and the ones a client must survive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptedReply {
    /// `Response: <status>` with the request's ActionID and `Message:
    /// <message>`. Some modules answer `Failure`; a client must treat any
    /// status but `Success` as a refusal.
    Status {
        /// The `Response` header's value.
        status: String,
        /// The `Message` header's value.
        message: String,
    },
    /// No answer at all: a module that loses its response. The server
    /// answers the requests that follow, so a client sees a later action
    /// answered first (a desync).
    Never,
}

/// Originate timing and outcome for every destination, used only when the
/// server has no dialplan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginateBehavior {
    /// Time between the request and the answer or failure (the
    /// `OriginateResponse` of an async Originate, or the response of a
    /// synchronous one, which blocks the whole session meanwhile, as
    /// Asterisk does).
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

/// Everything the fake server needs to know: accounts, timings, and the
/// stage (the PBX's dialplan, queues, variables, database and the calls up
/// when it starts). Fields are public; start from [`ServerConfig::default`]
/// (a permissive PBX) or [`ServerConfig::asterisk_corpus`] (the PBX of the
/// captures) and change what the test needs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ami_testkit::{Destination, Dialplan, Queue, ServerConfig, User};
///
/// let config = ServerConfig {
///     auth_failure_delay: Duration::ZERO,
///     channels: 20,
///     ..ServerConfig::default()
/// }
/// .with_user("limited", User::new("limited123").read("system").write("system"))
/// .with_dialplan(
///     Dialplan::new()
///         .destination("100@dialer", Destination::answer_after(Duration::from_secs(1), Duration::from_secs(5)))
///         .destination("200@dialer", Destination::Busy),
/// )
/// .with_queue(Queue::new("support").member("Agent One", "PJSIP/201", 0))
/// .with_command("sip show peers", &["Name/username  Host", "0 sip peers"]);
/// assert!(config.users.contains_key("admin"));
/// ```
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Accounts by user name. Default: `admin` / `amp111`, reading and
    /// writing everything (the credentials of the corpus captures).
    pub users: BTreeMap<String, User>,
    /// Accept any user name and secret (plain logins only, with every
    /// permission), like the bench harness server. Default `false`.
    pub accept_any_login: bool,
    /// The banner line without its line end. Default
    /// `Asterisk Call Manager/11.0.0` (Asterisk 22).
    pub banner: String,
    /// How long a failed login waits before `Authentication failed` and the
    /// close. Asterisk waits about 1 s (the default); tests set zero.
    pub auth_failure_delay: Duration,
    /// The nonce answered to `Action: Challenge`. Default: seeded.
    pub md5_challenge: ChallengeNonce,
    /// Answer `Command` the Asterisk <= 13 way (`Response: Follows`, raw text,
    /// `--END COMMAND--`) instead of one `Output:` header per line.
    pub legacy_command: bool,
    /// Output lines by command text (exact match after trimming). Checked
    /// before the built-in `core show channels` and `core show version`;
    /// anything else is an unknown command.
    pub command_outputs: BTreeMap<String, Vec<String>>,
    /// How many channels are up when the server starts: calls to
    /// `long@test` (two Local halves each, running `Wait(60)` and staying
    /// until hung up; the last one has only its `;1` when the count is
    /// odd), as in `10-coreshowchannels-20.raw`. Default 0.
    pub channels: usize,
    /// The sequence number of the next Local channel (the `0000000e` of
    /// `Local/long@test-0000000e;1`); Asterisk counts them from its start.
    /// Default 0.
    pub channel_seq: u32,
    /// The dialplan and devices: what each destination does. `None` (the
    /// default) is a permissive PBX where every destination behaves as
    /// [`ServerConfig::originate`] says; `Some` behaves as Asterisk does
    /// (per-destination outcomes; a missing destination fails).
    pub dialplan: Option<Dialplan>,
    /// Originate timing and outcome for every destination, used only
    /// without a dialplan.
    pub originate: OriginateBehavior,
    /// The call queues (`QueueStatus`, `QueueSummary`, the `Queue` application).
    pub queues: Vec<Queue>,
    /// Global variables when the server starts (`[globals]`).
    pub globals: BTreeMap<String, String>,
    /// AstDB entries when the server starts, by full key (`/family/key`).
    pub astdb: BTreeMap<String, String>,
    /// Unix time the server's clock starts at (`Timestamp:`, `EventTV`,
    /// Uniqueids). Default 1795727781.0, the corpus capture time.
    pub epoch: f64,
    /// Seconds the fake Asterisk has been up when the server starts (`Uptime`).
    pub uptime: u64,
    /// Seed for the MD5 challenges' and the simulators' randomness.
    pub seed: u64,
    /// Canned answers by action name (lower case), given to a logged-in
    /// session before the action is looked up (any name can be scripted)
    /// and without a permission check. Default: none.
    pub replies: BTreeMap<String, ScriptedReply>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert("admin".to_string(), User::new("amp111"));
        ServerConfig {
            users,
            accept_any_login: false,
            banner: "Asterisk Call Manager/11.0.0".to_string(),
            auth_failure_delay: Duration::from_secs(1),
            md5_challenge: ChallengeNonce::Seeded(0x5eed),
            legacy_command: false,
            command_outputs: BTreeMap::new(),
            channels: 0,
            channel_seq: 0,
            dialplan: None,
            originate: OriginateBehavior::default(),
            queues: Vec::new(),
            globals: BTreeMap::new(),
            astdb: BTreeMap::new(),
            epoch: 1_795_727_781.0,
            uptime: 6,
            seed: 1,
            replies: BTreeMap::new(),
        }
    }
}

impl ServerConfig {
    /// The PBX the corpus was captured from (Asterisk 22.10.1): users `admin`
    /// (everything) and `limited` (read and write `system`), the dialplan
    /// of [`Dialplan::asterisk_corpus`], queues `support` (ringall: Agent
    /// One at penalty 0, Agent Two at 5) and `sales` (leastrecent: Agent
    /// Three), global `TESTGLOBAL=hello-global` and AstDB key `/pbx/UUID`.
    pub fn asterisk_corpus() -> ServerConfig {
        ServerConfig::default()
            .with_user(
                "limited",
                User::new("limited123").read("system").write("system"),
            )
            .with_dialplan(Dialplan::asterisk_corpus())
            .with_queue(
                Queue::new("support")
                    .member("Agent One", "Local/agent1@agents", 0)
                    .member("Agent Two", "Local/agent2@agents", 5),
            )
            .with_queue(
                Queue::new("sales")
                    .strategy(crate::queues::Strategy::LeastRecent)
                    .member("Agent Three", "Local/agent3@agents", 0),
            )
            .with_global("TESTGLOBAL", "hello-global")
            .with_db("pbx", "UUID", "145faff7-c57a-41b1-8726-72524c326036")
    }

    /// Adds (or replaces) a user.
    pub fn with_user(mut self, name: &str, user: User) -> Self {
        self.users.insert(name.to_string(), user);
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

    /// Answers `action` (any case) with `reply` instead of carrying it out.
    ///
    /// # Examples
    ///
    /// ```
    /// use ami_testkit::{ScriptedReply, ServerConfig};
    ///
    /// let config = ServerConfig::default().with_reply(
    ///     "QueueReset",
    ///     ScriptedReply::Status { status: "Failure".into(), message: "No such queue".into() },
    /// );
    /// assert!(config.replies.contains_key("queuereset"));
    /// ```
    pub fn with_reply(mut self, action: &str, reply: ScriptedReply) -> Self {
        self.replies.insert(action.to_ascii_lowercase(), reply);
        self
    }

    /// Sets the dialplan (the server then behaves as Asterisk does for
    /// each destination).
    pub fn with_dialplan(mut self, dialplan: Dialplan) -> Self {
        self.dialplan = Some(dialplan);
        self
    }

    /// Adds a queue.
    pub fn with_queue(mut self, queue: Queue) -> Self {
        self.queues.retain(|q| q.name != queue.name);
        self.queues.push(queue);
        self
    }

    /// Sets a global variable.
    pub fn with_global(mut self, name: &str, value: &str) -> Self {
        self.globals.insert(name.to_string(), value.to_string());
        self
    }

    /// Sets an AstDB entry.
    pub fn with_db(mut self, family: &str, key: &str, value: &str) -> Self {
        self.astdb
            .insert(format!("/{family}/{key}"), value.to_string());
        self
    }
}
