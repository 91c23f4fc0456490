//! List results: the server's own picture, item by item.

use ami_proto::{Action, ActionError, Completion, ListItems};

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

/// How many list actions the model awaits at once; the oldest is forgotten
/// past this bound (one `ExtensionStateList` per resynchronisation, and a
/// caller's filtered lists, are the use).
const AWAITED: usize = 16;

/// A list action whose answer alone does not say what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Awaited {
    /// `ExtensionStateList`: a server with no hints refuses it
    /// ([`NO_HINTS`]) instead of listing none.
    Hints,
    /// A list narrowed by a filter (`QueueStatus` with `Queue` or
    /// `Member`, `BridgeList` with `BridgeType`): it shows what it asked
    /// about, not what is gone.
    Filtered,
}

impl Awaited {
    /// What the model must remember of `action` until it is answered.
    pub(super) fn of(action: &Action) -> Option<Self> {
        let name = action.name();
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        let filter = |h: &str| action.get(h).is_some_and(|v| !v.is_empty());
        if is("ExtensionStateList") {
            Some(Awaited::Hints)
        } else if (is("QueueStatus") && (filter("Queue") || filter("Member")))
            || (is("BridgeList") && filter("BridgeType"))
        {
            Some(Awaited::Filtered)
        } else {
            None
        }
    }
}

impl Model {
    /// Notes a list action sent whose answer needs it.
    pub(super) fn await_list(&mut self, id: &str, what: Awaited) {
        if self.awaited.len() == AWAITED {
            self.awaited.remove(0);
        }
        self.awaited.push((id.to_owned(), what));
    }

    /// What was awaited of action `id`, now that it has ended.
    fn take_awaited(&mut self, id: &str) -> Option<Awaited> {
        let i = self.awaited.iter().position(|(a, _)| a == id)?;
        Some(self.awaited.remove(i).1)
    }

    /// A list action's end: a list's items are applied (a filtered one
    /// never counts as the whole picture); an `ExtensionStateList` refused
    /// for want of hints is applied as the empty list it stands for; any
    /// other refusal proves nothing.
    pub(super) fn on_list_end(&mut self, id: &str, result: Result<&Completion, &ActionError>) {
        let awaited = match self.awaited.is_empty() {
            true => None,
            false => self.take_awaited(id),
        };
        match result {
            Ok(Completion::List(list)) => {
                let items = &list.items;
                let kind = list
                    .complete
                    .as_ref()
                    .and_then(|c| ListKind::of_complete(c.name()))
                    .or_else(|| items.first().and_then(|i| ListKind::of_item(i.name())));
                // Lists the model does not read (`QueueSummary`,
                // `ParkedCalls`, ...) are ignored.
                if let Some(kind) = kind {
                    self.apply_items(kind, items, awaited != Some(Awaited::Filtered));
                }
            }
            Err(ActionError::Server { message })
                if awaited == Some(Awaited::Hints)
                    && message.trim().eq_ignore_ascii_case(NO_HINTS) =>
            {
                self.apply_items(ListKind::Extensions, &ListItems::new(), true);
            }
            _ => {}
        }
    }

    /// Applies the items of a complete list of `kind`; a `whole` one (not
    /// filtered) shows, in a resynchronisation window, what is gone.
    fn apply_items(&mut self, kind: ListKind, items: &ListItems, whole: bool) {
        self.stats.lists += 1;
        // Members listed, in order, to put each queue's in the server's order.
        let mut member_order: Vec<(String, String)> = Vec::new();
        for item in items {
            let f = Fields::of(&item, &mut self.names);
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
        if let (true, Some(resync)) = (whole, &mut self.resync) {
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
