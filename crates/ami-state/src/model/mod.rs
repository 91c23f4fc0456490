//! The model: inputs, the change queue, queries.

use std::sync::Arc;

use ami_proto::{actions, Action, ActionError, ActionId, Completion, Event};

use crate::bridge::Bridge;
use crate::call::Call;
use crate::change::{Change, Changes, KeyRef, Op, Text};
use crate::channel::Channel;
use crate::device::{DeviceState, ExtensionState};
use crate::fields::{Dest, Fields, Names};
use crate::hash::Map;
use crate::limits::{Limits, Stats};
use crate::queue::Queue;
use crate::snapshot::Snapshot;
use crate::time::Timestamp;

mod calls;
mod channels;
mod lists;
mod pair;
mod queues;
mod resync;
mod states;
mod tombstones;

use calls::Calls;
use lists::Awaited;
use resync::Resync;
use tombstones::Tombstones;

/// The live model of one Asterisk server, kept current by its events.
///
/// It reads no socket and no clock and starts no thread: the adapter feeds
/// it what its `Connection` produced and drains what changed. The methods
/// are of four kinds:
/// - inputs: [`handle_event`](Self::handle_event) for each event,
///   [`handle_completion`](Self::handle_completion) for each finished
///   action (list results and Originate outcomes are what it reads),
///   [`handle_sent`](Self::handle_sent) for each action sent (it follows
///   Originates and some lists), and optionally [`handle_time`](Self::handle_time);
/// - the resynchronisation window: [`begin_resync`](Self::begin_resync),
///   [`end_resync`](Self::end_resync);
/// - output, drained until `None`: [`poll_change`](Self::poll_change);
/// - queries by reference ([`channel`](Self::channel),
///   [`queue`](Self::queue), ...) and an owned [`snapshot`](Self::snapshot).
///
/// **Building and rebuilding the picture.** Events only say what changed,
/// so after each login, the first included, the adapter calls
/// `begin_resync`, sends `CoreShowChannels`, `BridgeList`, `QueueStatus`,
/// `ExtensionStateList` and `DeviceStateList` (unfiltered:
/// [`resync_lists`](Self::resync_lists)), keeps feeding
/// events and completions as usual, and calls `end_resync` when the five
/// lists have completed. What was held before and appears in no list
/// completed in the window, nor in any event of the window, is then
/// removed, with a [`Change::Removed`] each; what the lists show new or
/// different came out as `Added` and `Updated` along the way. Lists outside
/// a window only add and update.
///
/// **Quirks it absorbs.** List items reuse event names and differ only by
/// an ActionID and no `Privilege`; `QueueMember` items say `Name` and
/// `Location` where events say `MemberName` and `Interface`; a channel's
/// Linkedid changes with no event of its own (the next event carrying the
/// channel shows it); a ringing agent gives two `DialEnd`s for one
/// `DialBegin`; `AgentConnect` comes before `BridgeEnter`;
/// `OriginateResponse`s come in any order; a list delivered after a channel
/// hung up cannot bring it back (see [`Limits::tombstones`]); a server with
/// no hints answers `ExtensionStateList` with an error (`No dialplan hints
/// are available`), taken as the empty list it stands for.
///
/// **Never a panic, always a bound.** Every collection is bounded by
/// [`Limits`]; what does not fit is refused and counted in [`Stats`], and
/// so is every event about something the model does not hold.
///
/// # Examples
///
/// ```
/// use ami_proto::{Decoder, Frame};
/// use ami_state::{Change, ChannelState, Key, Model};
///
/// let wire = b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/alice-00000001\r\n\
///     ChannelState: 4\r\nUniqueid: 1795727786.1\r\nLinkedid: 1795727786.1\r\n\r\n\
///     Event: Newstate\r\nPrivilege: call,all\r\nChannel: PJSIP/alice-00000001\r\n\
///     ChannelState: 6\r\nUniqueid: 1795727786.1\r\nLinkedid: 1795727786.1\r\n\r\n";
/// let mut decoder = Decoder::without_banner(1 << 20);
/// decoder.push(wire);
/// let mut model = Model::default();
/// while let Some(Ok(Frame::Event(event))) = decoder.next_frame() {
///     model.handle_event(&event);
/// }
/// let alice = model.channel("1795727786.1").unwrap();
/// assert_eq!(alice.state, ChannelState::Up);
/// assert_eq!(model.poll_change(), Some(Change::Added(Key::Channel("1795727786.1".into()))));
/// ```
#[derive(Debug)]
pub struct Model {
    limits: Limits,
    // Keyed by shared strings that changes reuse.
    channels: Map<Arc<str>, Channel>,
    /// Channels that hung up, kept to be built over (bounded).
    spare_channels: Vec<Channel>,
    bridges: Map<Arc<str>, Bridge>,
    queues: Map<Arc<str>, Queue>,
    devices: Map<Arc<str>, DeviceState>,
    /// Keyed by the pair of extension and context (`pair`).
    extensions: Map<String, ExtensionState>,
    /// Where an `ExtensionStatus`'s key is built to be looked up: a new
    /// string only for an extension the model does not hold yet.
    extension_key_buf: String,
    /// List actions sent whose answers need them ([`Awaited`]), by ActionID.
    awaited: Vec<(String, Awaited)>,
    calls: Calls,
    /// Uniqueids of channels that hung up, ids of bridges destroyed.
    gone_channels: Tombstones,
    gone_bridges: Tombstones,
    resync: Option<Resync>,
    /// The latest server time seen (or given to `handle_time`).
    clock: Option<Timestamp>,
    changes: Changes,
    stats: Stats,
    /// What the header names met so far mean.
    names: Names,
}

impl Default for Model {
    fn default() -> Self {
        Model::new(Limits::default())
    }
}

impl Model {
    /// An empty model bounded by `limits`.
    pub fn new(limits: Limits) -> Self {
        Model {
            channels: Map::default(),
            spare_channels: Vec::new(),
            bridges: Map::default(),
            queues: Map::default(),
            devices: Map::default(),
            extensions: Map::default(),
            extension_key_buf: String::new(),
            awaited: Vec::new(),
            calls: Calls::default(),
            gone_channels: Tombstones::new(limits.tombstones),
            gone_bridges: Tombstones::new(limits.tombstones),
            resync: None,
            clock: None,
            changes: Changes::new(limits.changes),
            stats: Stats::default(),
            names: Names::default(),
            limits,
        }
    }

    /// Applies one event. Events of no interest to the model cost a name
    /// comparison.
    pub fn handle_event(&mut self, event: &Event) {
        self.stats.events += 1;
        let kind = EventKind::of(event.name());
        if kind == EventKind::Other {
            return;
        }
        let mut f = Fields::default();
        f.fill(event, kind.dest(), &mut self.names);
        let at = self.event_time(&f);
        use EventKind::*;
        match kind {
            Newchannel => self.on_newchannel(&f, at),
            Hangup => self.on_hangup(&f, at),
            ChannelUpdate => self.on_channel_update(&f, at),
            Newexten => self.on_newexten(&f, at),
            DialEnd => self.on_dial_end(&f, at),
            BridgeCreate => self.on_bridge_create(&f),
            BridgeDestroy => self.on_bridge_destroy(&f),
            BridgeEnter => self.on_bridge_enter(&f, at),
            BridgeLeave => self.on_bridge_leave(&f, at),
            BridgeMerge => self.on_bridge_merge(&f),
            OriginateResponse => {
                let id = f.action_id.map(crate::fields::lossy);
                if let Some(id) = id {
                    self.on_originate_response(&id, &f, at);
                }
            }
            MemberUpsert => self.on_member_upsert(&f),
            MemberRemoved => self.on_member_removed(&f),
            CallerJoin => self.on_caller_join(&f, at),
            CallerLeave => self.on_caller_leave(&f, at),
            CallerAbandon => self.on_caller_abandon(&f, at),
            AgentConnect => self.on_agent_connect(&f, at),
            AgentComplete => self.on_agent_complete(&f, at),
            DeviceStateChange => self.on_device_state(&f),
            ExtensionStatus => self.on_extension_status(&f),
            // List items that reached the event stream: no list collected
            // them (another client's request, or a server that did not say
            // `EventList: start`). What they say is current; apply it.
            ChannelItem => self.apply_channel_item(&f),
            BridgeItem => self.apply_bridge_item(&f),
            QueueParamsItem => self.apply_queue_params(&f),
            QueueMemberItem => self.apply_member_item(&f),
            QueueEntryItem => self.apply_caller_item(&f),
            Other => {}
        }
    }

    /// Applies a finished action: list results build the picture, an
    /// Originate's outcome (or failure) moves its call record; anything
    /// else is ignored.
    pub fn handle_completion(&mut self, id: &ActionId, result: Result<&Completion, &ActionError>) {
        self.on_list_end(id.as_str(), result);
        match result {
            Ok(Completion::Originate(outcome)) => {
                let f = Fields::of(&outcome.event, &mut self.names);
                let at = self.event_time(&f);
                self.on_originate_response(id.as_str(), &f, at);
            }
            Ok(Completion::Response(response)) => {
                self.on_originate_answered(id.as_str(), !response.is_error())
            }
            Ok(_) => {}
            Err(error) => self.on_originate_error(id.as_str(), error),
        }
    }

    /// Notes an action the adapter sent: an `Originate` starts a [`Call`]
    /// record under its ActionID; an `ExtensionStateList` (a server with no
    /// hints refuses it instead of listing none) and a filtered
    /// `QueueStatus` or `BridgeList` (it shows only what it asked about)
    /// are awaited; other actions are ignored.
    pub fn handle_sent(&mut self, id: &ActionId, action: &Action) {
        if action.name().eq_ignore_ascii_case("Originate") {
            self.on_originate_sent(id.as_str(), action);
        } else if let Some(what) = Awaited::of(action) {
            self.await_list(id.as_str(), what);
        }
    }

    /// Whether [`handle_sent`](Self::handle_sent) does anything with
    /// `action`: an adapter that must copy an action to hand it over after
    /// sending it need copy only these.
    pub fn follows(action: &Action) -> bool {
        action.name().eq_ignore_ascii_case("Originate") || Awaited::of(action).is_some()
    }

    /// The five lists a resynchronisation sends, unfiltered, in the order
    /// an adapter sends them: `CoreShowChannels`, `BridgeList`,
    /// `QueueStatus`, `ExtensionStateList`, `DeviceStateList` (see
    /// [`Model`]).
    pub fn resync_lists() -> [Action; 5] {
        [
            Action::core_show_channels(),
            actions::BridgeList::new().into(),
            Action::queue_status(None),
            actions::ExtensionStateList::new().into(),
            actions::DeviceStateList::new().into(),
        ]
    }

    /// Tells the model the server's wall clock has reached `now`. Only
    /// needed without timestamped events (`timestampevents = yes`): it dates
    /// callers joining queues and answers. Earlier times are ignored.
    pub fn handle_time(&mut self, now: Timestamp) {
        self.clock = self.clock.max(Some(now));
    }

    /// The next change, or `None` when all have been drained. Drain after
    /// each batch of inputs; a consumer that never drains costs a counter.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop()
    }

    /// Changes waiting to be drained.
    pub fn pending_changes(&self) -> usize {
        self.changes.len()
    }

    /// The channel with Uniqueid `uniqueid`.
    pub fn channel(&self, uniqueid: &str) -> Option<&Channel> {
        self.channels.get(uniqueid)
    }

    /// Every channel, in no particular order.
    pub fn channels(&self) -> impl Iterator<Item = &Channel> + '_ {
        self.channels.values()
    }

    /// The bridge with id `id`.
    pub fn bridge(&self, id: &str) -> Option<&Bridge> {
        self.bridges.get(id)
    }

    /// Every bridge, in no particular order.
    pub fn bridges(&self) -> impl Iterator<Item = &Bridge> + '_ {
        self.bridges.values()
    }

    /// The queue named `name`, with its members and callers.
    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.get(name)
    }

    /// Every queue, in no particular order.
    pub fn queues(&self) -> impl Iterator<Item = &Queue> + '_ {
        self.queues.values()
    }

    /// The state of device `device`.
    pub fn device(&self, device: &str) -> Option<&DeviceState> {
        self.devices.get(device)
    }

    /// Every device state, in no particular order.
    pub fn devices(&self) -> impl Iterator<Item = &DeviceState> + '_ {
        self.devices.values()
    }

    /// The hint state of `exten` in `context`.
    pub fn extension(&self, exten: &str, context: &str) -> Option<&ExtensionState> {
        self.extensions.get(&pair::pair_key(exten, context))
    }

    /// Every extension state, in no particular order.
    pub fn extensions(&self) -> impl Iterator<Item = &ExtensionState> + '_ {
        self.extensions.values()
    }

    /// The call record of the Originate sent with ActionID `action_id`.
    pub fn call(&self, action_id: &str) -> Option<&Call> {
        self.calls.get(action_id)
    }

    /// Every call record, in no particular order.
    pub fn calls(&self) -> impl Iterator<Item = &Call> + '_ {
        self.calls.iter()
    }

    /// Removes and returns a call record (a finished call the caller has
    /// dealt with). Its channels are no longer followed.
    pub fn remove_call(&mut self, action_id: &str) -> Option<Call> {
        let call = self.calls.remove(action_id)?;
        self.emit(Op::Removed, KeyRef::Call(action_id.into()));
        Some(call)
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The latest server time the model has seen, if any.
    pub fn clock(&self) -> Option<Timestamp> {
        self.clock
    }

    /// Everything, copied into plain structures sorted by key.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::of(self)
    }

    /// The time of an event: its `Timestamp` header, which also moves the
    /// clock, else the clock.
    fn event_time(&mut self, f: &Fields<'_>) -> Option<Timestamp> {
        if let Some(t) = f.timestamp.and_then(Timestamp::parse) {
            self.handle_time(t);
        }
        self.clock
    }

    /// Queues a change (counted when lost).
    fn emit(&mut self, op: Op, key: KeyRef<'_>) {
        if self.changes.push(op, key) {
            self.stats.changes_lost += 1;
        }
    }

    /// Queues a change of channel `uid`, with the map's copy of its Uniqueid.
    fn emit_channel(&mut self, op: Op, uid: &str) {
        let shared = shared(&self.channels, uid);
        self.emit(op, KeyRef::Channel(Text::or(&shared, uid)));
    }

    /// Queues a change of bridge `id`.
    fn emit_bridge(&mut self, op: Op, id: &str) {
        let shared = shared(&self.bridges, id);
        self.emit(op, KeyRef::Bridge(Text::or(&shared, id)));
    }

    /// Queues a change of queue `name`.
    fn emit_queue(&mut self, op: Op, name: &str) {
        let shared = shared(&self.queues, name);
        self.emit(op, KeyRef::Queue(Text::or(&shared, name)));
    }

    /// Queues a change of member `interface` of `queue`.
    fn emit_member(&mut self, op: Op, queue: &str, interface: &str) {
        let shared = shared(&self.queues, queue);
        self.emit(
            op,
            KeyRef::Member(Text::or(&shared, queue), interface.into()),
        );
    }

    /// Queues a change of caller `uid` of `queue`.
    fn emit_caller(&mut self, op: Op, queue: &str, uid: &str) {
        let (q, u) = (shared(&self.queues, queue), shared(&self.channels, uid));
        self.emit(op, KeyRef::Caller(Text::or(&q, queue), Text::or(&u, uid)));
    }

    /// The change of an upsert that created (`added`) or changed something.
    fn upsert_op(added: bool, changed: bool) -> Option<Op> {
        if added {
            Some(Op::Added)
        } else if changed {
            Some(Op::Updated)
        } else {
            None
        }
    }
}

/// The map's own copy of `key`, if it holds it.
fn shared<V>(map: &Map<Arc<str>, V>, key: &str) -> Option<Arc<str>> {
    map.get_key_value(key).map(|(k, _)| Arc::clone(k))
}

/// The events the model reads, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventKind {
    Newchannel,
    Hangup,
    /// Any other event carrying a channel snapshot and nothing else the
    /// model needs.
    ChannelUpdate,
    Newexten,
    DialEnd,
    BridgeCreate,
    BridgeDestroy,
    BridgeEnter,
    BridgeLeave,
    BridgeMerge,
    OriginateResponse,
    /// Events carrying a whole queue member.
    MemberUpsert,
    MemberRemoved,
    CallerJoin,
    CallerLeave,
    CallerAbandon,
    AgentConnect,
    AgentComplete,
    DeviceStateChange,
    ExtensionStatus,
    ChannelItem,
    BridgeItem,
    QueueParamsItem,
    QueueMemberItem,
    QueueEntryItem,
    Other,
}

impl EventKind {
    /// What the model does with the `Dest` snapshot of this kind: reads
    /// the answering party of a dial or of a queue; elsewhere it repeats
    /// what that channel's own events say, and the channel updates need
    /// nothing after it.
    fn dest(self) -> Dest {
        match self {
            EventKind::DialEnd | EventKind::AgentConnect => Dest::Read,
            EventKind::ChannelUpdate => Dest::End,
            _ => Dest::Skip,
        }
    }

    fn of(name: &[u8]) -> Self {
        let mut lower = [0u8; 24];
        let Some(buf) = lower.get_mut(..name.len()) else {
            return EventKind::Other;
        };
        for (to, from) in buf.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        use EventKind::*;
        match &*buf {
            b"newchannel" => Newchannel,
            b"hangup" => Hangup,
            b"newstate" | b"newcallerid" | b"newconnectedline" | b"newaccountcode"
            | b"hanguprequest" | b"softhanguprequest" | b"dialbegin" | b"dialstate" | b"hold"
            | b"unhold" | b"agentcalled" | b"agentringnoanswer" | b"agentdump" => ChannelUpdate,
            b"newexten" => Newexten,
            b"dialend" => DialEnd,
            b"bridgecreate" => BridgeCreate,
            b"bridgedestroy" => BridgeDestroy,
            b"bridgeenter" => BridgeEnter,
            b"bridgeleave" => BridgeLeave,
            b"bridgemerge" => BridgeMerge,
            b"originateresponse" => OriginateResponse,
            b"queuememberadded"
            | b"queuememberstatus"
            | b"queuememberpause"
            | b"queuememberpenalty"
            | b"queuememberringinuse" => MemberUpsert,
            b"queuememberremoved" => MemberRemoved,
            b"queuecallerjoin" => CallerJoin,
            b"queuecallerleave" => CallerLeave,
            b"queuecallerabandon" => CallerAbandon,
            b"agentconnect" => AgentConnect,
            b"agentcomplete" => AgentComplete,
            b"devicestatechange" => DeviceStateChange,
            b"extensionstatus" => ExtensionStatus,
            b"coreshowchannel" | b"status" => ChannelItem,
            b"bridgelistitem" => BridgeItem,
            b"queueparams" => QueueParamsItem,
            b"queuemember" => QueueMemberItem,
            b"queueentry" => QueueEntryItem,
            _ => Other,
        }
    }
}
