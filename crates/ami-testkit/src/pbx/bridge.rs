//! Bridges: channels talking to each other, and the `Bridge*` events.

use crate::pbx::{chan, ChanId, Event, PbxState};
use crate::perm::Classes;
use crate::wire::W;

/// A bridge: channels that talk to each other.
#[derive(Clone, Debug)]
pub(crate) struct Bridge {
    pub(crate) uniqueid: String,
    pub(crate) chans: Vec<ChanId>,
}

impl PbxState {
    /// The bridge snapshot headers (`BridgeUniqueid` ... `BridgeVideoSourceMode`).
    pub(crate) fn bridge_snapshot(&self, w: W, bridge: u64) -> W {
        let Some(b) = self.bridges.get(&bridge) else {
            return w;
        };
        w.h("BridgeUniqueid", &b.uniqueid)
            .h("BridgeType", "basic")
            .h("BridgeTechnology", "simple_bridge")
            .h("BridgeCreator", "<unknown>")
            .h("BridgeName", "<unknown>")
            .h("BridgeNumChannels", b.chans.len().to_string())
            .h("BridgeVideoSourceMode", "none")
    }

    /// Publishes a bridge event: bridge snapshot, then the channel's.
    fn bridge_event(&mut self, name: &str, bridge: u64, chan: Option<ChanId>) {
        let w = self.bridge_snapshot(
            W::event(name).h("Privilege", Classes::CALL.to_string()),
            bridge,
        );
        let w = match chan.and_then(|c| self.chans.get(&c)) {
            Some(c) => c.snapshot(w, ""),
            None => w,
        };
        self.deliver(Event {
            classes: Classes::CALL,
            text: w.done(),
        });
    }

    /// Puts `a` and `b` in a new basic bridge: `BridgeCreate`, then a
    /// `BridgeEnter` each (the second with both in).
    pub(crate) fn bridge(&mut self, a: ChanId, b: ChanId) -> u64 {
        self.next_bridge += 1;
        let id = self.next_bridge;
        let uniqueid = self.next_bridge_uuid();
        self.bridges.insert(
            id,
            Bridge {
                uniqueid,
                chans: Vec::new(),
            },
        );
        self.bridge_event("BridgeCreate", id, None);
        // A channel's Linkedid follows the bridge it enters (no event of its own).
        let linkedid = self
            .chans
            .get(&a)
            .map(|c| c.linkedid.clone())
            .unwrap_or_default();
        for c in [a, b] {
            if let Some(ch) = self.chans.get_mut(&c) {
                ch.linkedid = linkedid.clone();
                ch.exec = chan::Exec::Bridged(id);
            }
            if let Some(br) = self.bridges.get_mut(&id) {
                br.chans.push(c);
            }
            self.bridge_event("BridgeEnter", id, Some(c));
        }
        let (na, nb) = (self.name_of(a), self.name_of(b));
        if let Some(ch) = self.chans.get_mut(&a) {
            ch.cdr_peer = nb;
        }
        if let Some(ch) = self.chans.get_mut(&b) {
            ch.cdr_peer = na;
        }
        id
    }

    /// Takes `chan` out of its bridge (`BridgeLeave`); a bridge left with
    /// one channel ejects it too and is destroyed (`BridgeDestroy`).
    /// Returns the channels ejected that way.
    pub(crate) fn leave_bridge(&mut self, chan: ChanId) -> Vec<ChanId> {
        let Some(chan::Exec::Bridged(id)) = self.chans.get(&chan).map(|c| c.exec.clone()) else {
            return Vec::new();
        };
        let mut ejected = Vec::new();
        self.bridge_event("BridgeLeave", id, Some(chan));
        if let Some(b) = self.bridges.get_mut(&id) {
            b.chans.retain(|&c| c != chan);
        }
        if let Some(c) = self.chans.get_mut(&chan) {
            c.exec = chan::Exec::Held;
        }
        let rest = self
            .bridges
            .get(&id)
            .map(|b| b.chans.clone())
            .unwrap_or_default();
        if rest.len() <= 1 {
            for other in rest {
                if let Some(b) = self.bridges.get_mut(&id) {
                    b.chans.retain(|&c| c != other);
                }
                self.bridge_event("BridgeLeave", id, Some(other));
                if let Some(c) = self.chans.get_mut(&other) {
                    c.exec = chan::Exec::Held;
                }
                ejected.push(other);
            }
            self.bridge_event("BridgeDestroy", id, None);
            self.bridges.remove(&id);
        }
        ejected
    }

    pub(crate) fn name_of(&self, chan: ChanId) -> String {
        self.chans
            .get(&chan)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }
}
