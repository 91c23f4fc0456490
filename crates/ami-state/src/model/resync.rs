//! Resynchronisation after a (re)connect: what no list shows is gone.
//!
//! Events missed while disconnected cannot be replayed. At
//! [`Model::begin_resync`] the model notes every key it holds as a
//! suspect; a list item naming one clears it, and so does an event showing
//! it alive in the window (a list is a moment's picture; an event after it
//! is newer). At [`Model::end_resync`], the suspects left in the kinds
//! whose lists completed are removed, each with a `Removed` change; kinds
//! not listed are left alone. What the lists show new or changed has
//! already come out as `Added` and `Updated`.

use std::collections::HashSet;

use super::calls::Hangup;
use super::lists::ListKind;
use super::pair::{pair_key, split_pair};
use super::Model;
use crate::change::{KeyRef, Op};

/// Keys held when the window opened and not listed since.
#[derive(Debug, Default)]
pub(super) struct Resync {
    pub(super) channels: HashSet<String>,
    pub(super) bridges: HashSet<String>,
    pub(super) queues: HashSet<String>,
    /// [`pair_key`] of queue and interface.
    pub(super) members: HashSet<String>,
    /// [`pair_key`] of queue and Uniqueid.
    pub(super) callers: HashSet<String>,
    pub(super) devices: HashSet<String>,
    /// Extension map keys ([`pair_key`] of extension and context).
    pub(super) extensions: HashSet<String>,
    /// The kinds whose complete lists were applied in the window.
    listed: Vec<ListKind>,
}

impl Resync {
    pub(super) fn listed(&mut self, kind: ListKind) {
        if kind != ListKind::Status && !self.listed.contains(&kind) {
            self.listed.push(kind);
        }
    }
}

impl Model {
    /// Opens a resynchronisation window: call it after each login, before
    /// sending the lists (see [`Model`]). Opening it again restarts it.
    pub fn begin_resync(&mut self) {
        let keys = |it: &mut dyn Iterator<Item = String>| it.collect::<HashSet<_>>();
        let mut members = HashSet::new();
        let mut callers = HashSet::new();
        for q in self.queues.values() {
            members.extend(q.members.iter().map(|m| pair_key(&q.name, &m.interface)));
            callers.extend(q.callers.iter().map(|c| pair_key(&q.name, &c.uniqueid)));
        }
        self.resync = Some(Resync {
            channels: keys(&mut self.channels.keys().map(|k| k.to_string())),
            bridges: keys(&mut self.bridges.keys().map(|k| k.to_string())),
            queues: keys(&mut self.queues.keys().map(|k| k.to_string())),
            members,
            callers,
            devices: keys(&mut self.devices.keys().map(|k| k.to_string())),
            extensions: keys(&mut self.extensions.keys().cloned()),
            listed: Vec::new(),
        });
    }

    /// Closes the window: removes what was held before it, is still held,
    /// and no complete list in the window showed. Channels removed so end
    /// their calls without a hangup cause. Without an open window, nothing
    /// happens.
    pub fn end_resync(&mut self) {
        let Some(resync) = self.resync.take() else {
            return;
        };
        let at = self.clock;
        for kind in &resync.listed {
            match kind {
                ListKind::Channels => {
                    for uid in &resync.channels {
                        self.remove_channel(uid, None::<Hangup<'_>>, at);
                    }
                }
                ListKind::Bridges => {
                    for id in &resync.bridges {
                        self.remove_bridge(id);
                    }
                }
                ListKind::Queues => {
                    for name in &resync.queues {
                        self.remove_queue(name);
                    }
                    for pair in &resync.members {
                        if let Some((queue, interface)) = split_pair(pair) {
                            self.remove_member(queue, interface);
                        }
                    }
                    for pair in &resync.callers {
                        if let Some((queue, uid)) = split_pair(pair) {
                            self.remove_caller(queue, uid);
                        }
                    }
                }
                ListKind::Devices => {
                    for device in &resync.devices {
                        if let Some((key, _)) = self.devices.remove_entry(device.as_str()) {
                            self.emit(Op::Removed, KeyRef::Device((&key).into()));
                        }
                    }
                }
                ListKind::Extensions => {
                    for map_key in &resync.extensions {
                        if let Some(state) = self.extensions.remove(map_key) {
                            let (exten, context) = (state.exten.as_str(), state.context.as_str());
                            self.emit(Op::Removed, KeyRef::Extension(exten.into(), context.into()));
                        }
                    }
                }
                ListKind::Status => {}
            }
        }
    }

    /// Whether a resynchronisation window is open.
    pub fn is_resyncing(&self) -> bool {
        self.resync.is_some()
    }
}
