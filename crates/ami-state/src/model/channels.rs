//! Channels and bridges: the events and list items that move them.

use std::sync::Arc;

use super::calls::Hangup;
use super::Model;
use crate::bridge::Bridge;
use crate::change::{KeyRef, Op};
use crate::channel::{Channel, ChannelState};
use crate::fields::{key, Fields, Snap};
use crate::time::Timestamp;

/// Channels that hung up kept for their storage (see `Model::new_channel`):
/// enough for the calls that start while others end.
const SPARE_CHANNELS: usize = 64;

impl Model {
    pub(super) fn on_newchannel(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        let Some(uid) = key(f.chan.uniqueid) else {
            self.stats.malformed += 1;
            return;
        };
        if self.gone_channels.contains(&uid) {
            self.stats.unplaced += 1;
            return;
        }
        if self.channels.contains_key(&*uid) {
            self.update_channel(&f.chan, at);
            return;
        }
        let born = Timestamp::from_uniqueid(uid.as_bytes());
        self.clock = self.clock.max(born);
        let created = f.timestamp.and_then(Timestamp::parse).or(born);
        let channel = self.new_channel(&uid, &f.chan, created);
        self.insert_channel(channel);
    }

    /// A channel from a snapshot, built in the storage of one that hung up
    /// when there is one: a call centre's channels come and go all day,
    /// and their strings need not be allocated anew each time.
    fn new_channel(&mut self, uid: &str, snap: &Snap<'_>, created: Option<Timestamp>) -> Channel {
        match self.spare_channels.pop() {
            Some(spare) => spare.renew(uid, snap, created),
            None => Channel::new(uid, snap, created),
        }
    }

    /// Adds a new channel, within the bound.
    fn insert_channel(&mut self, channel: Channel) {
        if self.channels.len() >= self.limits.channels {
            self.stats.overflow.channels += 1;
            return;
        }
        self.call_channel_added(&channel.uniqueid, &channel.linkedid);
        let key: Arc<str> = Arc::from(channel.uniqueid.as_str());
        self.channels.insert(Arc::clone(&key), channel);
        self.emit(Op::Added, KeyRef::Channel((&key).into()));
    }

    pub(super) fn on_hangup(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        let Some(uid) = key(f.chan.uniqueid) else {
            self.stats.malformed += 1;
            return;
        };
        if !self.remove_channel(&uid, Some(Hangup::of(f)), at) {
            self.stats.unplaced += 1;
            // Dead all the same: no later list may bring it in.
            self.gone_channels.insert(&uid);
        }
    }

    pub(super) fn on_channel_update(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.update_channel(&f.chan, at);
        self.update_channel(&f.dest, at);
    }

    pub(super) fn on_newexten(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.update_channel_with(&f.chan, at, |c| {
            c.set_application(f.application, f.app_data)
        });
    }

    pub(super) fn on_dial_end(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.on_channel_update(f, at);
        if f.dial_status
            .is_some_and(|s| s.eq_ignore_ascii_case(b"ANSWER"))
        {
            self.call_dial_answered(&f.chan, &f.dest);
        }
    }

    /// Applies a channel snapshot to the channel it names. A snapshot of a
    /// channel the model does not hold is counted; one without a Uniqueid
    /// (the caller side of an Originate's `DialBegin`) is nothing.
    pub(super) fn update_channel(&mut self, snap: &Snap<'_>, at: Option<Timestamp>) {
        self.update_channel_with(snap, at, |_| false);
    }

    /// As [`Model::update_channel`], then `more` on the channel.
    fn update_channel_with(
        &mut self,
        snap: &Snap<'_>,
        at: Option<Timestamp>,
        more: impl FnOnce(&mut Channel) -> bool,
    ) {
        let Some(uid) = key(snap.uniqueid) else {
            return;
        };
        let Some(channel) = self.channels.get_mut(&*uid) else {
            if !self.gone_channels.contains(&uid) {
                self.stats.unplaced += 1;
            }
            return;
        };
        if let Some(resync) = &mut self.resync {
            resync.channels.remove(&*uid);
        }
        let was_up = channel.state == ChannelState::Up;
        let changed = channel.update(snap) | more(channel);
        let answered = !was_up && channel.state == ChannelState::Up;
        if changed {
            self.emit_channel(Op::Updated, &uid);
        }
        if answered {
            self.call_channel_up(&uid, at);
        }
    }

    /// Removes a channel and every trace of it (bridge membership, queue
    /// position), and ends its call; whether it was there.
    pub(super) fn remove_channel(
        &mut self,
        uid: &str,
        hangup: Option<Hangup<'_>>,
        at: Option<Timestamp>,
    ) -> bool {
        let Some((key, channel)) = self.channels.remove_entry(uid) else {
            return false;
        };
        self.gone_channels.insert(uid);
        if let Some(bridge) = &channel.bridge {
            self.drop_bridge_member(bridge, uid);
        }
        if let Some(queue) = &channel.waiting_in {
            self.remove_caller(queue, uid);
        }
        self.emit(Op::Removed, KeyRef::Channel((&key).into()));
        self.call_channel_gone(uid, hangup, at);
        if self.spare_channels.len() < SPARE_CHANNELS {
            self.spare_channels.push(channel);
        }
        true
    }

    /// A `CoreShowChannel` or `Status` list item: the whole channel as the
    /// server holds it.
    pub(super) fn apply_channel_item(&mut self, f: &Fields<'_>) {
        let Some(uid) = key(f.chan.uniqueid) else {
            self.stats.malformed += 1;
            return;
        };
        if self.gone_channels.contains(&uid) {
            return;
        }
        if let Some(resync) = &mut self.resync {
            resync.channels.remove(&*uid);
        }
        match self.channels.get_mut(&*uid) {
            Some(channel) => {
                let changed =
                    channel.update(&f.chan) | channel.set_application(f.application, f.app_data);
                if changed {
                    self.emit_channel(Op::Updated, &uid);
                }
            }
            None => {
                let created = Timestamp::from_uniqueid(uid.as_bytes());
                let mut channel = self.new_channel(&uid, &f.chan, created);
                channel.set_application(f.application, f.app_data);
                self.insert_channel(channel);
            }
        }
        // `BridgeId` is empty for a channel in no bridge; absent, it says nothing.
        match (f.bridge_id, key(f.bridge_id)) {
            (_, Some(bridge)) => {
                if self.ensure_bridge(&bridge) {
                    self.join_bridge(&uid, &bridge);
                }
            }
            (Some(_), None) => self.leave_any_bridge(&uid),
            (None, None) => {}
        }
    }

    pub(super) fn on_bridge_create(&mut self, f: &Fields<'_>) {
        match key(f.bridge_uniqueid) {
            Some(id) => {
                self.upsert_bridge(&id, f);
            }
            None => self.stats.malformed += 1,
        }
    }

    pub(super) fn on_bridge_destroy(&mut self, f: &Fields<'_>) {
        let Some(id) = key(f.bridge_uniqueid) else {
            self.stats.malformed += 1;
            return;
        };
        if !self.remove_bridge(&id) && !self.gone_bridges.contains(&id) {
            self.stats.unplaced += 1;
            self.gone_bridges.insert(&id);
        }
    }

    /// A channel entered a bridge. Its snapshot is the only place its new
    /// Linkedid shows.
    pub(super) fn on_bridge_enter(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.update_channel(&f.chan, at);
        let (Some(id), Some(uid)) = (key(f.bridge_uniqueid), key(f.chan.uniqueid)) else {
            self.stats.malformed += 1;
            return;
        };
        if self.upsert_bridge(&id, f) && self.channels.contains_key(&*uid) {
            self.join_bridge(&uid, &id);
            self.call_bridged(&id, at);
        }
    }

    pub(super) fn on_bridge_leave(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.update_channel(&f.chan, at);
        let (Some(id), Some(uid)) = (key(f.bridge_uniqueid), key(f.chan.uniqueid)) else {
            self.stats.malformed += 1;
            return;
        };
        if self.bridges.contains_key(&*id) {
            self.drop_bridge_member(&id, &uid);
            self.clear_channel_bridge(&uid, &id);
        } else if !self.gone_bridges.contains(&id) {
            self.stats.unplaced += 1;
        }
    }

    /// Two bridges became one: the `From` bridge's channels move to the
    /// `To` bridge, and the `From` bridge is gone.
    pub(super) fn on_bridge_merge(&mut self, f: &Fields<'_>) {
        let (Some(to), Some(from)) = (key(f.to_bridge), key(f.from_bridge)) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(moving) = self.bridges.get(&*from).map(|b| b.channels.clone()) else {
            self.stats.unplaced += 1;
            return;
        };
        if self.ensure_bridge(&to) {
            for uid in &moving {
                self.join_bridge(uid, &to);
            }
        }
        self.remove_bridge(&from);
    }

    /// A `BridgeListItem`: the bridge as the server holds it (its members
    /// come from the channel list).
    pub(super) fn apply_bridge_item(&mut self, f: &Fields<'_>) {
        let Some(id) = key(f.bridge_uniqueid) else {
            self.stats.malformed += 1;
            return;
        };
        self.upsert_bridge(&id, f);
    }

    /// Creates or updates bridge `id` from a bridge snapshot; whether the
    /// model holds it now.
    fn upsert_bridge(&mut self, id: &str, f: &Fields<'_>) -> bool {
        if !self.ensure_bridge(id) {
            return false;
        }
        let changed = self.bridges.get_mut(id).is_some_and(|b| b.update(f));
        if changed {
            self.emit_bridge(Op::Updated, id);
        }
        true
    }

    /// Makes sure bridge `id` exists (a channel list can name a bridge
    /// before the bridge list describes it); whether the model holds it.
    fn ensure_bridge(&mut self, id: &str) -> bool {
        if let Some(resync) = &mut self.resync {
            resync.bridges.remove(id);
        }
        if self.bridges.contains_key(id) {
            return true;
        }
        if self.gone_bridges.contains(id) {
            return false;
        }
        if self.bridges.len() >= self.limits.bridges {
            self.stats.overflow.bridges += 1;
            return false;
        }
        let key: Arc<str> = Arc::from(id);
        self.bridges.insert(Arc::clone(&key), Bridge::new(id));
        self.emit(Op::Added, KeyRef::Bridge((&key).into()));
        true
    }

    /// Puts channel `uid` in bridge `id` (which exists), out of any other.
    fn join_bridge(&mut self, uid: &str, id: &str) {
        let Some(channel) = self.channels.get_mut(uid) else {
            return;
        };
        let previous = channel.bridge.replace(id.to_owned());
        if previous.as_deref() != Some(id) {
            self.emit_channel(Op::Updated, uid);
            if let Some(previous) = previous {
                self.drop_bridge_member(&previous, uid);
            }
        }
        let limit = self.limits.channels_per_bridge;
        let Some(bridge) = self.bridges.get_mut(id) else {
            return;
        };
        if bridge.channels.iter().any(|c| c == uid) {
            return;
        }
        if bridge.channels.len() >= limit {
            self.stats.overflow.bridge_channels += 1;
            return;
        }
        bridge.channels.push(uid.to_owned());
        self.emit_bridge(Op::Updated, id);
    }

    /// Takes channel `uid` out of whatever bridge it is in.
    fn leave_any_bridge(&mut self, uid: &str) {
        let bridge = self.channels.get(uid).and_then(|c| c.bridge.clone());
        if let Some(bridge) = bridge {
            self.drop_bridge_member(&bridge, uid);
            self.clear_channel_bridge(uid, &bridge);
        }
    }

    /// Removes `uid` from bridge `id`'s members.
    fn drop_bridge_member(&mut self, id: &str, uid: &str) {
        let Some(bridge) = self.bridges.get_mut(id) else {
            return;
        };
        let before = bridge.channels.len();
        bridge.channels.retain(|c| c != uid);
        if bridge.channels.len() != before {
            self.emit_bridge(Op::Updated, id);
        }
    }

    /// Clears channel `uid`'s bridge if it is `id`.
    fn clear_channel_bridge(&mut self, uid: &str, id: &str) {
        let Some(channel) = self.channels.get_mut(uid) else {
            return;
        };
        if channel.bridge.as_deref() == Some(id) {
            channel.bridge = None;
            self.emit_channel(Op::Updated, uid);
        }
    }

    /// Removes bridge `id`, taking its channels out of it; whether it was there.
    pub(super) fn remove_bridge(&mut self, id: &str) -> bool {
        let Some((key, bridge)) = self.bridges.remove_entry(id) else {
            return false;
        };
        self.gone_bridges.insert(id);
        for uid in &bridge.channels {
            self.clear_channel_bridge(uid, id);
        }
        self.emit(Op::Removed, KeyRef::Bridge((&key).into()));
        true
    }
}
