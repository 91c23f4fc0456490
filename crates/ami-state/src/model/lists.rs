//! List results: the server's own picture, item by item.

use ami_proto::{ActionError, Completion, Event};

use super::{EventKind, Model};
use crate::fields::{key, Fields};

/// The lists the model reads, by what completes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListKind {
    /// `CoreShowChannels`: every channel.
    Channels,
    /// `Status`: channels, perhaps only one (it takes a `Channel` filter),
    /// so it never counts as a complete listing.
    Status,
    /// `BridgeList`.
    Bridges,
    /// `QueueStatus`.
    Queues,
    /// `ExtensionStateList`.
    Extensions,
    /// `DeviceStateList`.
    Devices,
}

impl ListKind {
    /// The list a completing event closes (`CoreShowChannelsComplete`, ...).
    fn of_complete(name: &[u8]) -> Option<Self> {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        Some(if is("CoreShowChannelsComplete") {
            ListKind::Channels
        } else if is("StatusComplete") {
            ListKind::Status
        } else if is("BridgeListComplete") {
            ListKind::Bridges
        } else if is("QueueStatusComplete") {
            ListKind::Queues
        } else if is("ExtensionStateListComplete") {
            ListKind::Extensions
        } else if is("DeviceStateListComplete") {
            ListKind::Devices
        } else {
            return None;
        })
    }

    /// The list an item belongs to, for a list that came without its
    /// completing event.
    fn of_item(name: &[u8]) -> Option<Self> {
        Some(match EventKind::of(name) {
            EventKind::ChannelItem if name.eq_ignore_ascii_case(b"Status") => ListKind::Status,
            EventKind::ChannelItem => ListKind::Channels,
            EventKind::BridgeItem => ListKind::Bridges,
            EventKind::QueueParamsItem | EventKind::QueueMemberItem | EventKind::QueueEntryItem => {
                ListKind::Queues
            }
            EventKind::ExtensionStatus => ListKind::Extensions,
            EventKind::DeviceStateChange => ListKind::Devices,
            _ => return None,
        })
    }
}

/// `ExtensionStateList`'s answer when the server holds no hints
/// (`manager.c`): an error, where other lists send an empty list.
const NO_HINTS: &str = "No dialplan hints are available";

/// How many `ExtensionStateList` actions the model awaits at once: one per
/// resynchronisation is the use; the oldest is forgotten past this bound.
const HINT_LISTS: usize = 8;

impl Model {
    /// Notes an `ExtensionStateList` sent, to know its answer.
    pub(super) fn on_hint_list_sent(&mut self, id: &str) {
        if self.hint_lists.len() == HINT_LISTS {
            self.hint_lists.remove(0);
        }
        self.hint_lists.push(id.to_owned());
    }

    /// The end of an action: an `ExtensionStateList` refused for want of
    /// hints is applied as the empty list it stands for; any other refusal
    /// proves nothing.
    pub(super) fn on_hint_list_end(&mut self, id: &str, result: Result<&Completion, &ActionError>) {
        let Some(i) = self.hint_lists.iter().position(|h| h == id) else {
            return;
        };
        self.hint_lists.remove(i);
        if let Err(ActionError::Server { message }) = result {
            if message.trim().eq_ignore_ascii_case(NO_HINTS) {
                self.apply_items(ListKind::Extensions, &[]);
            }
        }
    }

    /// Applies a completed list's items. Lists the model does not read
    /// (`QueueSummary`, `ParkedCalls`, ...) are ignored.
    pub(super) fn apply_list(&mut self, items: &[Event], complete: Option<&Event>) {
        let kind = complete
            .and_then(|c| ListKind::of_complete(c.name()))
            .or_else(|| items.first().and_then(|i| ListKind::of_item(i.name())));
        if let Some(kind) = kind {
            self.apply_items(kind, items);
        }
    }

    /// Applies the items of a complete list of `kind`.
    fn apply_items(&mut self, kind: ListKind, items: &[Event]) {
        self.stats.lists += 1;
        // Members listed, in order, to put each queue's in the server's order.
        let mut member_order: Vec<(String, String)> = Vec::new();
        for item in items {
            let f = Fields::of(item, &mut self.names);
            if let (EventKind::QueueMemberItem, Some(queue), Some(interface)) =
                (EventKind::of(item.name()), key(f.queue), key(f.interface))
            {
                member_order.push((queue.into_owned(), interface.into_owned()));
            }
            match EventKind::of(item.name()) {
                EventKind::ChannelItem => self.apply_channel_item(&f),
                EventKind::BridgeItem => self.apply_bridge_item(&f),
                EventKind::QueueParamsItem => self.apply_queue_params(&f),
                EventKind::QueueMemberItem => self.apply_member_item(&f),
                EventKind::QueueEntryItem => self.apply_caller_item(&f),
                EventKind::DeviceStateChange => self.on_device_state(&f),
                EventKind::ExtensionStatus => self.on_extension_status(&f),
                _ => {}
            }
        }
        self.order_members(&member_order);
        if let Some(resync) = &mut self.resync {
            resync.listed(kind);
        }
    }

    /// Puts the members of each queue in `order` first, in that order; the
    /// others keep theirs after them.
    fn order_members(&mut self, order: &[(String, String)]) {
        let mut queues: Vec<&str> = order.iter().map(|(q, _)| q.as_str()).collect();
        queues.dedup();
        for name in queues {
            let Some(queue) = self.queues.get_mut(name) else {
                continue;
            };
            let rank = |interface: &str| {
                order
                    .iter()
                    .filter(|(q, _)| q == name)
                    .position(|(_, i)| i == interface)
                    .unwrap_or(usize::MAX)
            };
            queue.members.sort_by_cached_key(|m| rank(&m.interface));
        }
    }
}
