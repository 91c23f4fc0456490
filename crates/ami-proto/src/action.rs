//! Actions: the request builder, its typed constructors and the Originate
//! builder with `Variable` escaping.
//!
//! An [`Action`] is a name and ordered headers; nothing is checked until it
//! is encoded by [`crate::Connection::send`], which refuses line breaks, long
//! lines and too many lines before queueing anything. The connection assigns
//! the `ActionID`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::completion::Strategy;
use crate::config::Secret;
use crate::lists::ListAction;
use crate::redact::RedactionPolicy;

/// One AMI request: a name and ordered headers, with optional overrides of
/// how it completes and how long it may take.
///
/// Build one with a typed constructor ([`Action::ping`],
/// [`Action::originate`], ...) or with [`Action::new`] and
/// [`Action::header`]. `Debug` hides secrets (see [`RedactionPolicy`]).
///
/// # Examples
///
/// ```
/// use ami_proto::Action;
///
/// let action = Action::new("Setvar")
///     .header("Channel", "PJSIP/100-00000001")
///     .header("Variable", "FOO")
///     .header("Value", "bar");
/// assert_eq!(action.name(), "Setvar");
/// assert_eq!(action.get("variable"), Some("FOO"));
/// ```
#[derive(Clone)]
pub struct Action {
    /// Borrowed for the actions this crate builds (no allocation per
    /// action: a dialer's Originates, the heartbeat's Pings).
    name: Cow<'static, str>,
    headers: Vec<(String, String)>,
    strategy: Option<Strategy>,
    timeout: Option<Duration>,
}

impl Action {
    /// An action named `name` (the `Action:` header) with no other headers.
    pub fn new(name: impl Into<String>) -> Self {
        Action::with_name(Cow::Owned(name.into()))
    }

    /// An action of a name known when this crate is built: a word of
    /// letters, which the encoder does not search for line breaks (see
    /// [`Action::built_name`]).
    pub(crate) fn named(name: &'static str) -> Self {
        debug_assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()));
        Action::with_name(Cow::Borrowed(name))
    }

    /// Whether the name is one of this crate's own ([`Action::named`]),
    /// known to be a word of letters; a caller's name
    /// ([`Action::new`]) is checked when it is encoded.
    pub(crate) fn built_name(&self) -> bool {
        matches!(self.name, Cow::Borrowed(_))
    }

    fn with_name(name: Cow<'static, str>) -> Self {
        Action {
            name,
            headers: Vec::new(),
            strategy: None,
            timeout: None,
        }
    }

    /// Appends a header. Order is kept; on duplicates the server uses the
    /// first, except for `Variable`, which adds up.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets header `name` to `value`: replaces the first header of that name
    /// (ASCII case ignored), else appends one. For builders whose setters
    /// may be called twice.
    pub(crate) fn set(&mut self, name: impl Into<String>, value: String) {
        let name = name.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some((_, old)) => *old = value,
            None => self.headers.push((name, value)),
        }
    }

    /// Appends `header: name=value` with `\`, `"` and `,` escaped, as the
    /// server's `astman_get_variables` splits and unquotes such a value.
    pub(crate) fn variable(self, header: &str, name: &str, value: &str) -> Self {
        let pair = format!("{}={}", escape_variable(name), escape_variable(value));
        self.header(header, pair)
    }

    /// Overrides how the action completes (default: [`Action::strategy`]'s
    /// guess from the name). Use it for list actions the guess misses.
    pub fn with_strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// Overrides the configured action timeout for this action.
    ///
    /// Any duration is accepted, unlike the configured defaults, which
    /// [`crate::Config::validate`] keeps within ranges because they apply to
    /// every action. Deadlines saturate, so `Duration::MAX` means the action
    /// never times out: it still ends with its answer, a cancel or the
    /// session's end, and while the server owes it an answer it holds one of
    /// the `max_pending` slots. `Duration::ZERO` times out at the next
    /// [`crate::Connection::handle_timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the action under ActionID `id` instead of one the connection
    /// generates: for an action whose outcome another process must match
    /// (a CRM that follows `OriginateResponse` events, a second dialer
    /// node). Replaces an earlier chosen id; an `ActionID` header added
    /// with [`Action::header`] is the same thing.
    ///
    /// [`Connection::send`](crate::Connection::send) checks it as it checks
    /// its own ids, before anything is queued: 1 to
    /// [`Config::max_action_id`](crate::Config::max_action_id) bytes (64 by
    /// default: old servers keep only about 67 bytes of an id in some
    /// events), each printable ASCII (`!` to `~`: no space, control
    /// character or line break, which the server would trim or split), and
    /// no other action of the connection pending under it (one that timed
    /// out counts until its late answer is absorbed). The typed refusals:
    /// [`SendError::InvalidActionId`](crate::SendError::InvalidActionId),
    /// [`SendError::ActionIdTooLong`](crate::SendError::ActionIdTooLong),
    /// [`SendError::DuplicateActionId`](crate::SendError::DuplicateActionId).
    ///
    /// Uniqueness beyond this connection is the caller's: a generated id
    /// has a random part drawn per connection, a chosen one has what the
    /// caller puts in it. Events with the id come back to every session of
    /// the server that receives them, so make it unique across processes
    /// (a node name and a counter, a database key).
    ///
    /// # Examples
    ///
    /// ```
    /// use ami_proto::{Action, Originate};
    ///
    /// let call = Action::originate(Originate::new("PJSIP/100").extension("sales", "200", 1))
    ///     .with_action_id("dialer-7.lead-1234");
    /// assert_eq!(call.action_id(), Some("dialer-7.lead-1234"));
    /// ```
    pub fn with_action_id(mut self, id: impl Into<String>) -> Self {
        self.set("ActionID", id.into());
        self
    }

    /// The ActionID the caller chose ([`Action::with_action_id`]), if any.
    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// The action's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The headers in order, `Action` excluded; a chosen `ActionID`
    /// ([`Action::with_action_id`]) included.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The first value of header `name` (ASCII case ignored).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The timeout override, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// How the action completes: the override from
    /// [`Action::with_strategy`], else from the name (ASCII case ignored) and
    /// headers:
    /// - `Command` is [`Strategy::Command`];
    /// - `Originate` with `Async` true, yes or 1 is [`Strategy::Originate`];
    /// - an action that answers every `Success` with an event list in
    ///   Asterisk 13 to 23 is [`Strategy::List`]: `CoreShowChannels`, `Status`,
    ///   `QueueStatus`, `DBGet`, `PJSIPShowEndpoints` and about forty more,
    ///   generated from `catalogue/` and checked in Asterisk's source; `Hangup`
    ///   only when its `Channel` is a `/regex/`;
    /// - anything else is [`Strategy::Single`].
    ///
    /// A [`Strategy::List`] action collects its items up to the list's end even
    /// when the server acknowledges it with a plain `Success` (1.8–11-era
    /// servers send no `EventList: start`). A `Single` action still collects a
    /// list its response opens with `EventList: start`; only a plain `Success`
    /// followed by items (an old server, an action this table lacks) needs
    /// `with_strategy(Strategy::List)`, else the items arrive as events.
    pub fn strategy(&self) -> Strategy {
        self.strategy_in(ListAction::find(&self.name))
    }

    /// [`strategy`](Self::strategy), `list` being the list table's entry
    /// for this action's name (`ListAction::find`), found already.
    pub(crate) fn strategy_in(&self, list: Option<&ListAction>) -> Strategy {
        if let Some(strategy) = self.strategy {
            return strategy;
        }
        let name = &*self.name;
        if name.eq_ignore_ascii_case("Command") {
            Strategy::Command
        } else if name.eq_ignore_ascii_case("Originate") && self.get("Async").is_some_and(is_true) {
            Strategy::Originate
        } else if list.is_some_and(|list| list.lists(self)) {
            Strategy::List
        } else {
            Strategy::Single
        }
    }

    /// The event that ends this action's list in Asterisk 13 to 23
    /// (`StatusComplete` for `Status`), when it answers with one; `None` for
    /// actions that do not (`Hangup` of one named channel among them).
    /// Whatever the name, the connection ends a list at `EventList: Complete`
    /// or at any event whose name ends in `Complete`.
    pub fn list_end_event(&self) -> Option<&'static str> {
        ListAction::find(&self.name)
            .filter(|list| list.lists(self))
            .map(|list| list.complete)
    }

    /// A `Debug` view that applies `policy` to every header value.
    pub fn redacted<'a>(&'a self, policy: &'a RedactionPolicy) -> impl fmt::Debug + 'a {
        RedactedAction {
            action: self,
            policy,
        }
    }

    /// `Login` with a clear-text `Secret`. `events` is `on`, `off` or a mask
    /// such as `call,system`. Prefer [`Action::login_md5`] unless the link
    /// is TLS or loopback.
    pub fn login(username: &str, secret: &Secret, events: &str) -> Self {
        Action::named("Login")
            .header("Username", username)
            .header("Secret", String::from_utf8_lossy(secret.expose()))
            .header("Events", events)
    }

    /// `Login` with `AuthType: MD5` and `Key`: the lowercase hex MD5 of the
    /// challenge followed by the secret, answering [`Action::challenge`].
    pub fn login_md5(username: &str, key_hex: &str, events: &str) -> Self {
        Action::named("Login")
            .header("AuthType", "MD5")
            .header("Username", username)
            .header("Key", key_hex)
            .header("Events", events)
    }

    /// `Challenge` with `AuthType: MD5`: asks for the nonce of an MD5 login.
    pub fn challenge() -> Self {
        Action::named("Challenge").header("AuthType", "MD5")
    }

    /// `Logoff`: the server answers `Goodbye` and closes the connection.
    pub fn logoff() -> Self {
        Action::named("Logoff")
    }

    /// `Ping`: the server answers `Pong`. Used for heartbeats.
    pub fn ping() -> Self {
        Action::named("Ping")
    }

    /// `Originate` from a builder, **async unless
    /// [`Originate::async_`]`(false)`**: the server acknowledges at once and
    /// the action completes with the `OriginateResponse` event (a
    /// [`Completion::Originate`](crate::Completion::Originate)), not the
    /// acknowledgement. A synchronous one completes with the server's
    /// response once the call is answered or has failed, and holds the
    /// session's other actions back meanwhile.
    ///
    /// That event is a `call`-class event: a session that logged in with an
    /// `Events` value without `call` (`off`, `system`, ...) or whose `Events`
    /// action the server accepted with such a mask never receives it, so
    /// [`Connection::send`](crate::Connection::send) refuses an async
    /// Originate there with [`SendError::NoCallEvents`](crate::SendError::NoCallEvents).
    /// What the session cannot know: the AMI user's `read` permissions and
    /// `eventfilter` lines in `manager.conf`, `Filter` actions, and an
    /// `Events` action whose answer never came. Where one of those keeps the
    /// event away, the action is sent and ends in `Timeout` after its dial
    /// timeout plus 5 s.
    pub fn originate(originate: Originate) -> Self {
        originate.into_action()
    }

    /// `Hangup` of `channel`, with an optional Q.850 cause code.
    pub fn hangup(channel: &str, cause: Option<u32>) -> Self {
        let action = Action::named("Hangup").header("Channel", channel);
        match cause {
            Some(cause) => action.header("Cause", cause.to_string()),
            None => action,
        }
    }

    /// `Redirect` (blind transfer) of `channel` to `context`, `exten` and
    /// `priority` (a number or a label).
    pub fn redirect(
        channel: &str,
        context: &str,
        exten: &str,
        priority: impl fmt::Display,
    ) -> Self {
        Action::named("Redirect")
            .header("Channel", channel)
            .header("Context", context)
            .header("Exten", exten)
            .header("Priority", priority.to_string())
    }

    /// `Getvar`: a channel variable, or a global one when `channel` is `None`.
    pub fn get_var(channel: Option<&str>, variable: &str) -> Self {
        with_opt(Action::named("Getvar"), "Channel", channel).header("Variable", variable)
    }

    /// `Setvar`: a channel variable, or a global one when `channel` is `None`.
    pub fn set_var(channel: Option<&str>, variable: &str, value: &str) -> Self {
        with_opt(Action::named("Setvar"), "Channel", channel)
            .header("Variable", variable)
            .header("Value", value)
    }

    /// `Command`: runs a CLI command; completes with its output lines.
    pub fn command(cmd: &str) -> Self {
        Action::named("Command").header("Command", cmd)
    }

    /// `Status` of one channel, or of all when `channel` is `None` (a list).
    pub fn status(channel: Option<&str>) -> Self {
        with_opt(Action::named("Status"), "Channel", channel)
    }

    /// `CoreShowChannels`: every active channel (a list).
    pub fn core_show_channels() -> Self {
        Action::named("CoreShowChannels")
    }

    /// `QueueStatus` of one queue, or of all when `queue` is `None` (a list).
    pub fn queue_status(queue: Option<&str>) -> Self {
        with_opt(Action::named("QueueStatus"), "Queue", queue)
    }

    /// `QueueSummary` of one queue, or of all when `queue` is `None` (a list).
    pub fn queue_summary(queue: Option<&str>) -> Self {
        with_opt(Action::named("QueueSummary"), "Queue", queue)
    }

    /// `DBGet`: one AstDB entry (answered as a list of one `DBGetResponse`).
    pub fn db_get(family: &str, key: &str) -> Self {
        Action::named("DBGet")
            .header("Family", family)
            .header("Key", key)
    }

    /// `DBPut`: stores one AstDB entry.
    pub fn db_put(family: &str, key: &str, value: &str) -> Self {
        Action::named("DBPut")
            .header("Family", family)
            .header("Key", key)
            .header("Val", value)
    }

    /// `UserEvent`: asks the server to emit a `UserEvent` named `name`
    /// carrying `headers`.
    pub fn user_event(name: &str, headers: &[(&str, &str)]) -> Self {
        headers.iter().fold(
            Action::named("UserEvent").header("UserEvent", name),
            |a, (n, v)| a.header(*n, *v),
        )
    }

    /// `Events` with `EventMask`: `on`, `off` or a class list such as
    /// `call,system`.
    pub fn events(mask: &str) -> Self {
        Action::named("Events").header("EventMask", mask)
    }

    /// `PJSIPShowEndpoint`: details of one endpoint (a list).
    pub fn pjsip_show_endpoint(name: &str) -> Self {
        Action::named("PJSIPShowEndpoint").header("Endpoint", name)
    }

    /// `PJSIPShowEndpoints`: every endpoint (a list).
    pub fn pjsip_show_endpoints() -> Self {
        Action::named("PJSIPShowEndpoints")
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(RedactionPolicy::default_ref()), f)
    }
}

/// `Debug` of an action with its header values passed through a policy.
struct RedactedAction<'a> {
    action: &'a Action,
    policy: &'a RedactionPolicy,
}

impl fmt::Debug for RedactedAction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.action;
        let headers = DebugHeaders {
            headers: &a.headers,
            policy: self.policy,
        };
        let mut s = f.debug_struct("Action");
        s.field("name", &self.policy.apply("Action", a.name.as_bytes()))
            .field("headers", &headers);
        if let Some(strategy) = a.strategy {
            s.field("strategy", &strategy);
        }
        if let Some(timeout) = a.timeout {
            s.field("timeout", &timeout);
        }
        s.finish()
    }
}

/// The header list inside [`RedactedAction`].
struct DebugHeaders<'a> {
    headers: &'a [(String, String)],
    policy: &'a RedactionPolicy,
}

impl fmt::Debug for DebugHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, value) in self.headers {
            let shown = self.policy.apply(name, value.as_bytes());
            list.entry(&format_args!("{name}: {shown}"));
        }
        list.finish()
    }
}

/// Appends `name: value` when `value` is given.
fn with_opt(action: Action, name: &str, value: Option<&str>) -> Action {
    match value {
        Some(value) => action.header(name, value),
        None => action,
    }
}

/// Whether an AMI boolean is true (`true`, `yes`, `1`; ASCII case ignored).
fn is_true(value: &str) -> bool {
    let value = value.trim();
    ["true", "yes", "1"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(value))
}

/// Escapes `\`, `"` and `,` with a backslash: the server splits a
/// `Variable` value on commas, strips quotes and consumes backslashes.
fn escape_variable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '"' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Where an originated call goes once the channel answers.
#[derive(Clone, Debug)]
enum Target {
    Extension {
        context: String,
        exten: String,
        priority: String,
    },
    Application {
        app: String,
        data: String,
    },
}

/// Builder of an `Originate` action; turn it into one with
/// [`Action::originate`] or `Action::from`. It is also
/// [`actions::Originate`](crate::actions::Originate): it covers every
/// parameter Asterisk 13 to 23 documents for `Originate`, as the generated
/// builders do for their actions (`cargo xtask codegen` checks that).
///
/// The call is **async by default** (`Async: true`): the server answers at
/// once and the action completes with the call's `OriginateResponse`, so a
/// ringing call does not hold the session's other actions back. Ask for a
/// synchronous one with [`Originate::async_`]`(false)`.
///
/// Each [`Originate::variable`] becomes its own `Variable: name=value`
/// header, escaped so that commas, quotes and backslashes survive the
/// server's re-splitting.
///
/// # Examples
///
/// ```
/// use ami_proto::{Action, Originate, Strategy};
///
/// let action = Action::originate(
///     Originate::new("PJSIP/100")
///         .extension("from-internal", "200", 1)
///         .caller_id("Bot <100>")
///         .timeout_ms(30_000)
///         .variable("GREETING", "hello, world"),
/// );
/// assert_eq!(action.get("Variable"), Some("GREETING=hello\\, world"));
/// assert_eq!(action.strategy(), Strategy::Originate);
/// ```
#[derive(Clone, Debug)]
pub struct Originate {
    channel: String,
    target: Option<Target>,
    caller_id: Option<String>,
    timeout_ms: Option<u64>,
    account: Option<String>,
    early_media: Option<bool>,
    codecs: Option<String>,
    channel_id: Option<String>,
    other_channel_id: Option<String>,
    pre_dial_go_sub: Option<String>,
    variables: Vec<(String, String)>,
    is_async: bool,
    extra: Vec<(String, String)>,
}

impl Originate {
    /// An Originate that calls `channel` (e.g. `PJSIP/100`). Then set a
    /// destination with [`Originate::extension`] or
    /// [`Originate::application`].
    pub fn new(channel: impl Into<String>) -> Self {
        Originate {
            channel: channel.into(),
            target: None,
            caller_id: None,
            timeout_ms: None,
            account: None,
            early_media: None,
            codecs: None,
            channel_id: None,
            other_channel_id: None,
            pre_dial_go_sub: None,
            variables: Vec::new(),
            is_async: true,
            extra: Vec::new(),
        }
    }

    /// Connects the answered channel to `context`, `exten`, `priority` (a
    /// number or a label). Replaces any earlier destination.
    pub fn extension(
        mut self,
        context: impl Into<String>,
        exten: impl Into<String>,
        priority: impl fmt::Display,
    ) -> Self {
        self.target = Some(Target::Extension {
            context: context.into(),
            exten: exten.into(),
            priority: priority.to_string(),
        });
        self
    }

    /// Runs dialplan application `app` with `data` (omitted when empty) on
    /// the answered channel. Replaces any earlier destination.
    pub fn application(mut self, app: impl Into<String>, data: impl Into<String>) -> Self {
        self.target = Some(Target::Application {
            app: app.into(),
            data: data.into(),
        });
        self
    }

    /// The caller ID, e.g. `"Alice" <100>`.
    pub fn caller_id(mut self, caller_id: impl Into<String>) -> Self {
        self.caller_id = Some(caller_id.into());
        self
    }

    /// How long the channel may ring, in milliseconds (the `Timeout` header;
    /// Asterisk's default is 30 s). The action may then take this long plus
    /// 5 s before it times out, if that is longer than the configured action
    /// timeout; [`Action::with_timeout`] overrides both.
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// The CDR account code.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Whether to connect the destination as soon as the call has early
    /// media (`EarlyMedia`), instead of when it is answered.
    pub fn early_media(mut self, early_media: bool) -> Self {
        self.early_media = Some(early_media);
        self
    }

    /// The codecs the outgoing channel may use, comma-separated
    /// (`Codecs`, e.g. `ulaw,alaw`).
    pub fn codecs(mut self, codecs: impl Into<String>) -> Self {
        self.codecs = Some(codecs.into());
        self
    }

    /// The `Uniqueid` the dialled channel gets (`ChannelId`): its events
    /// can then be followed before the `OriginateResponse` names it.
    pub fn channel_id(mut self, id: impl Into<String>) -> Self {
        self.channel_id = Some(id.into());
        self
    }

    /// The `Uniqueid` of the second channel of a `Local` channel pair
    /// (`OtherChannelId`).
    pub fn other_channel_id(mut self, id: impl Into<String>) -> Self {
        self.other_channel_id = Some(id.into());
        self
    }

    /// A dialplan subroutine (`context,exten,priority`) run on the dialled
    /// channel before it is called (`PreDialGoSub`; Asterisk 18 and later).
    pub fn pre_dial_go_sub(mut self, gosub: impl Into<String>) -> Self {
        self.pre_dial_go_sub = Some(gosub.into());
        self
    }

    /// Sets a channel variable; call once per variable. Each becomes one
    /// `Variable: name=value` header with `\`, `"` and `,` escaped.
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.variables.push((name.into(), value.into()));
        self
    }

    /// Whether the server answers at once and reports the call's outcome in
    /// an `OriginateResponse` event (`Async: true`, **the default** here),
    /// or answers only once the call is answered or has failed
    /// (`async_(false)`: no `Async` header, Asterisk's own default).
    ///
    /// Async is the default because a synchronous Originate holds the
    /// server's side of the session for the whole dial (up to its `Timeout`,
    /// 30 s by default): the session's other actions wait behind it, and
    /// the heartbeat's Ping with them. Choose synchronous only on a session
    /// that receives no call events (see [`Action::originate`]), where the
    /// outcome event would never come.
    pub fn async_(mut self, is_async: bool) -> Self {
        self.is_async = is_async;
        self
    }

    /// Appends a header the catalogue does not list (a newer server, a
    /// patched one), after the others.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// The action, headers in a fixed order.
    fn into_action(self) -> Action {
        let mut action = Action::named("Originate").header("Channel", self.channel);
        match self.target {
            Some(Target::Extension {
                context,
                exten,
                priority,
            }) => {
                action = action
                    .header("Context", context)
                    .header("Exten", exten)
                    .header("Priority", priority);
            }
            Some(Target::Application { app, data }) => {
                action = action.header("Application", app);
                if !data.is_empty() {
                    action = action.header("Data", data);
                }
            }
            None => {}
        }
        let flag = |on: bool| if on { "true" } else { "false" };
        let optional = [
            ("CallerID", self.caller_id),
            ("Timeout", self.timeout_ms.map(|ms| ms.to_string())),
            ("Account", self.account),
            ("EarlyMedia", self.early_media.map(|on| flag(on).to_owned())),
            ("Codecs", self.codecs),
            ("ChannelId", self.channel_id),
            ("OtherChannelId", self.other_channel_id),
            ("PreDialGoSub", self.pre_dial_go_sub),
        ];
        for (name, value) in optional {
            action = with_opt(action, name, value.as_deref());
        }
        for (name, value) in &self.variables {
            action = action.variable("Variable", name, value);
        }
        if self.is_async {
            action = action.header("Async", "true");
        }
        for (name, value) in self.extra {
            action = action.header(name, value);
        }
        action
    }
}

impl From<Originate> for Action {
    fn from(originate: Originate) -> Action {
        originate.into_action()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(action: &Action) -> Vec<(&str, &str)> {
        action.headers().collect()
    }

    #[test]
    fn builder_keeps_order_and_finds_case_insensitively() {
        let a = Action::new("Setvar")
            .header("Variable", "A")
            .header("variable", "B")
            .with_timeout(Duration::from_secs(3));
        assert_eq!(pairs(&a), vec![("Variable", "A"), ("variable", "B")]);
        assert_eq!(a.get("VARIABLE"), Some("A"));
        assert_eq!(a.get("Value"), None);
        assert_eq!(a.timeout(), Some(Duration::from_secs(3)));
        assert_eq!(Action::ping().timeout(), None);
    }

    #[test]
    fn strategy_from_name() {
        assert_eq!(Action::ping().strategy(), Strategy::Single);
        assert_eq!(
            Action::command("core show uptime").strategy(),
            Strategy::Command
        );
        assert_eq!(Action::new("command").strategy(), Strategy::Command);
        for name in [
            "CoreShowChannels",
            "status",
            "QUEUESTATUS",
            "DBGetTree",
            "SIPpeers",
        ] {
            assert_eq!(Action::new(name).strategy(), Strategy::List, "{name}");
        }
        for name in ["MailboxStatus", "QueueRule", "Getvar", "Login"] {
            assert_eq!(Action::new(name).strategy(), Strategy::Single, "{name}");
        }
        // From the generated table: lists the old hand-written one missed,
        // and the conditional ones.
        for name in ["BridgeInfo", "ParkinglotS", "PJSIPShowAors", "MWIGet"] {
            assert_eq!(Action::new(name).strategy(), Strategy::List, "{name}");
        }
        // These answer a plain `Success` when there is nothing to list.
        for name in ["VoicemailUsersList", "VoicemailUserStatus"] {
            assert_eq!(Action::new(name).strategy(), Strategy::Single, "{name}");
        }
        let regex = Action::new("Hangup").header("Channel", "/^Local\\//");
        assert_eq!(regex.strategy(), Strategy::List);
        assert_eq!(regex.list_end_event(), Some("ChannelsHungupListComplete"));
        let one = Action::hangup("PJSIP/100-00000001", None);
        assert_eq!(one.strategy(), Strategy::Single);
        assert_eq!(one.list_end_event(), None);
        assert_eq!(
            Action::status(None).list_end_event(),
            Some("StatusComplete")
        );
        assert_eq!(Action::ping().list_end_event(), None);
        let sync = Originate::new("PJSIP/1")
            .extension("c", "1", 1)
            .async_(false);
        assert_eq!(Action::originate(sync).strategy(), Strategy::Single);
        for value in ["true", "YES", "1", " True "] {
            let a = Action::new("originate").header("async", value);
            assert_eq!(a.strategy(), Strategy::Originate, "{value}");
        }
        for value in ["false", "no", "0", ""] {
            let a = Action::new("Originate").header("Async", value);
            assert_eq!(a.strategy(), Strategy::Single, "{value}");
        }
        let forced = Action::new("MyListAction").with_strategy(Strategy::List);
        assert_eq!(forced.strategy(), Strategy::List);
        let forced = Action::command("x").with_strategy(Strategy::Single);
        assert_eq!(forced.strategy(), Strategy::Single);
    }

    #[test]
    fn login_constructors() {
        let a = Action::login("admin", &Secret::from("hunter2"), "on");
        assert_eq!(a.name(), "Login");
        assert_eq!(
            pairs(&a),
            vec![
                ("Username", "admin"),
                ("Secret", "hunter2"),
                ("Events", "on")
            ]
        );
        let a = Action::login_md5("admin", "0123abcd", "off");
        assert_eq!(
            pairs(&a),
            vec![
                ("AuthType", "MD5"),
                ("Username", "admin"),
                ("Key", "0123abcd"),
                ("Events", "off")
            ]
        );
        assert_eq!(pairs(&Action::challenge()), vec![("AuthType", "MD5")]);
        assert_eq!(Action::logoff().name(), "Logoff");
        assert_eq!(Action::ping().headers().count(), 0);
    }

    #[test]
    fn other_constructors() {
        assert_eq!(
            pairs(&Action::hangup("PJSIP/1-1", Some(16))),
            vec![("Channel", "PJSIP/1-1"), ("Cause", "16")]
        );
        assert_eq!(pairs(&Action::hangup("PJSIP/1-1", None)).len(), 1);
        assert_eq!(
            pairs(&Action::redirect("PJSIP/1-1", "ctx", "200", 1)),
            vec![
                ("Channel", "PJSIP/1-1"),
                ("Context", "ctx"),
                ("Exten", "200"),
                ("Priority", "1")
            ]
        );
        assert_eq!(pairs(&Action::get_var(None, "G")), vec![("Variable", "G")]);
        assert_eq!(
            pairs(&Action::set_var(Some("c"), "V", "x")),
            vec![("Channel", "c"), ("Variable", "V"), ("Value", "x")]
        );
        assert_eq!(Action::status(None).headers().count(), 0);
        assert_eq!(Action::status(Some("c")).get("Channel"), Some("c"));
        assert_eq!(Action::core_show_channels().strategy(), Strategy::List);
        assert_eq!(Action::queue_status(Some("q")).get("Queue"), Some("q"));
        assert_eq!(Action::queue_summary(None).strategy(), Strategy::List);
        assert_eq!(Action::db_get("f", "k").strategy(), Strategy::List);
        assert_eq!(
            pairs(&Action::db_put("f", "k", "v")),
            vec![("Family", "f"), ("Key", "k"), ("Val", "v")]
        );
        assert_eq!(
            pairs(&Action::user_event("Hello", &[("A", "1"), ("B", "2")])),
            vec![("UserEvent", "Hello"), ("A", "1"), ("B", "2")]
        );
        assert_eq!(
            pairs(&Action::events("call,system")),
            vec![("EventMask", "call,system")]
        );
        assert_eq!(
            Action::pjsip_show_endpoint("100").get("Endpoint"),
            Some("100")
        );
        assert_eq!(Action::pjsip_show_endpoints().strategy(), Strategy::List);
    }

    #[test]
    fn originate_headers_and_escaping() {
        let a = Action::originate(
            Originate::new("PJSIP/100")
                .application("Playback", "hello-world")
                .caller_id("\"Bot\" <100>")
                .timeout_ms(30_000)
                .account("acct")
                .variable("A", "1,2")
                .variable("B", r#"say "hi" \o/"#)
                .async_(true),
        );
        assert_eq!(
            pairs(&a),
            vec![
                ("Channel", "PJSIP/100"),
                ("Application", "Playback"),
                ("Data", "hello-world"),
                ("CallerID", "\"Bot\" <100>"),
                ("Timeout", "30000"),
                ("Account", "acct"),
                ("Variable", r"A=1\,2"),
                ("Variable", r#"B=say \"hi\" \\o/"#),
                ("Async", "true"),
            ]
        );
        let a = Action::originate(Originate::new("Local/1@c").application("Wait", ""));
        assert_eq!(a.get("Data"), None);
    }

    #[test]
    fn originate_is_async_unless_asked_otherwise() {
        // A dialer's Originate must not hold the server's session while the
        // call rings: the builder's default is async.
        let default = Action::originate(Originate::new("PJSIP/100").extension("c", "200", 1));
        assert_eq!(default.get("Async"), Some("true"));
        assert_eq!(default.strategy(), Strategy::Originate);
        let from: Action = Originate::new("PJSIP/100").into();
        assert_eq!(from.strategy(), Strategy::Originate);
        // Synchronous only when asked: Asterisk's own default, so no header.
        let sync = Action::originate(Originate::new("PJSIP/100").async_(false));
        assert_eq!(sync.get("Async"), None);
        assert_eq!(sync.strategy(), Strategy::Single);
    }

    #[test]
    fn debug_never_prints_secrets() {
        let a = Action::login("admin", &Secret::from("hunter2"), "on");
        let shown = format!("{a:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Username: admin"), "{shown}");
        let a = Action::login_md5("admin", "deadbeef", "on");
        let shown = format!("{a:?}");
        assert!(!shown.contains("deadbeef"), "{shown}");
        assert!(shown.contains("AuthType: MD5"), "{shown}");
        let a = Action::command("database put auth password hunter2");
        assert!(!format!("{a:?}").contains("hunter2"));
        let open = format!("{:?}", a.redacted(&RedactionPolicy::none()));
        assert!(open.contains("hunter2"), "{open}");
    }
}
