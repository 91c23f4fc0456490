//! Queues (app_queue): parameters, members, callers waiting.

use crate::device::DeviceStatus;
use crate::fields::{assign, assign_copy, flag, number, Fields};
use crate::time::Timestamp;

/// A call queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Queue {
    /// The queue's name.
    pub name: String,
    /// Its parameters and counters.
    pub params: QueueParams,
    /// Its members, in the order the server listed or added them.
    pub members: Vec<Member>,
    /// The callers waiting, by position (the first is answered next).
    pub callers: Vec<Caller>,
}

/// A queue's parameters (`QueueParams`).
///
/// The counters move with events as app_queue moves them: `completed` with
/// each `AgentComplete`, `abandoned` with each `QueueCallerAbandon`, and
/// `hold_time`/`talk_time` by app_queue's exponential average of the
/// `HoldTime` of `AgentConnect` and the `TalkTime` of `AgentComplete`. The
/// service-level figures change only when the queue is listed again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueParams {
    /// Most callers allowed to wait (0: no limit).
    pub max: u32,
    /// The ring strategy (`ringall`, `rrmemory`, `leastrecent`, ...).
    pub strategy: String,
    /// Average seconds a caller waited before an answer.
    pub hold_time: u32,
    /// Average seconds of talk.
    pub talk_time: u32,
    /// Calls answered and completed.
    pub completed: u32,
    /// Callers who hung up while waiting.
    pub abandoned: u32,
    /// The service-level threshold, in seconds.
    pub service_level: u32,
    /// Percentage of completed calls answered within the service level, as
    /// the server writes it (`ServicelevelPerf`, e.g. `87.5`).
    pub service_level_perf: String,
    /// The same counting abandoned calls too (`ServicelevelPerf2`).
    pub service_level_perf2: String,
    /// The queue's weight against other queues sharing members.
    pub weight: u32,
}

/// A queue member (an agent), keyed in its queue by its interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// The interface rung (`PJSIP/agent1`, `Local/agent1@agents`): list
    /// items call it `Location`, events `Interface`.
    pub interface: String,
    /// The member's name: `Name` in list items, `MemberName` in events.
    pub name: String,
    /// Where its device state is read from.
    pub state_interface: String,
    /// `static`, `dynamic` or `realtime`.
    pub membership: String,
    /// The penalty.
    pub penalty: i32,
    /// Calls taken.
    pub calls_taken: u32,
    /// When it last took a call, in seconds since the epoch (0: never).
    pub last_call: u64,
    /// When it was last paused, in seconds since the epoch (0: never).
    pub last_pause: u64,
    /// When it logged in, in seconds since the epoch.
    pub login_time: u64,
    /// Whether it is on a queue call now.
    pub in_call: bool,
    /// Its device state.
    pub status: DeviceStatus,
    /// Whether it is paused.
    pub paused: bool,
    /// Why it was paused, if a reason was given.
    pub paused_reason: String,
    /// Whether it may be rung while in use (events only; `None` until one says).
    pub ringinuse: Option<bool>,
    /// Its wrap-up time, in seconds (0: the queue's).
    pub wrapup_time: u32,
}

/// A caller waiting in a queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caller {
    /// The caller's channel Uniqueid.
    pub uniqueid: String,
    /// The caller's channel name.
    pub channel: String,
    /// Its position, from 1.
    pub position: u32,
    /// When it joined the queue: the event's time when known, else for a
    /// listed caller the list's time less its `Wait`.
    pub wait_start: Option<Timestamp>,
}

/// What app_queue's `QueueSummary` reports for a queue, computed the same way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueSummary {
    /// Members whose device is neither unavailable nor invalid.
    pub logged_in: u32,
    /// Of those, the ones not paused and whose device is idle or unknown.
    pub available: u32,
    /// Callers waiting.
    pub callers: u32,
}

impl Queue {
    /// An empty queue named `name`.
    pub(crate) fn new(name: &str) -> Self {
        Queue {
            name: name.to_owned(),
            ..Queue::default()
        }
    }

    /// The member with interface `interface`.
    pub fn member(&self, interface: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.interface == interface)
    }

    /// The caller whose channel has Uniqueid `uniqueid`.
    pub fn caller(&self, uniqueid: &str) -> Option<&Caller> {
        self.callers.iter().find(|c| c.uniqueid == uniqueid)
    }

    /// Members free to take a call now: logged in, not paused, idle, not
    /// in a call.
    pub fn free_members(&self) -> impl Iterator<Item = &Member> + '_ {
        self.members
            .iter()
            .filter(|m| !m.paused && !m.in_call && m.status.is_available())
    }

    /// The summary app_queue's `QueueSummary` gives, from this model.
    pub fn summary(&self) -> QueueSummary {
        let logged_in = self.members.iter().filter(|m| m.status.is_logged_in());
        QueueSummary {
            logged_in: count(logged_in.clone()),
            available: count(logged_in.filter(|m| !m.paused && m.status.is_available())),
            callers: count(self.callers.iter()),
        }
    }

    /// Puts `caller` at its position, the callers from there on one back,
    /// as app_queue does; the indexes of the others whose position changed.
    pub(crate) fn insert_caller(&mut self, caller: Caller) -> Vec<usize> {
        let at = self
            .callers
            .partition_point(|c| c.position < caller.position);
        self.callers.insert(at, caller);
        self.renumber(Some(at))
    }

    /// Removes the caller at `index`, the callers behind it one up, as
    /// app_queue does; the indexes of those whose position changed.
    pub(crate) fn remove_caller_at(&mut self, index: usize) -> Vec<usize> {
        self.callers.remove(index);
        self.renumber(None)
    }

    /// Numbers the callers from 1 in their order; the indexes (but `new`'s)
    /// whose position changed.
    fn renumber(&mut self, new: Option<usize>) -> Vec<usize> {
        let mut moved = Vec::new();
        for (i, caller) in self.callers.iter_mut().enumerate() {
            let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if caller.position != position && Some(i) != new {
                moved.push(i);
            }
            caller.position = position;
        }
        moved
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

impl QueueParams {
    /// Applies a `QueueParams` list item; whether anything changed.
    pub(crate) fn update(&mut self, f: &Fields<'_>) -> bool {
        assign_copy(&mut self.max, number(f.max))
            | assign(&mut self.strategy, f.strategy)
            | assign_copy(&mut self.hold_time, number(f.hold_time))
            | assign_copy(&mut self.talk_time, number(f.talk_time))
            | assign_copy(&mut self.completed, number(f.completed))
            | assign_copy(&mut self.abandoned, number(f.abandoned))
            | assign_copy(&mut self.service_level, number(f.service_level))
            | assign(&mut self.service_level_perf, f.service_level_perf)
            | assign(&mut self.service_level_perf2, f.service_level_perf2)
            | assign_copy(&mut self.weight, number(f.weight))
    }

    /// Folds a new hold time into the average, as app_queue's
    /// `recalc_holdtime` does when an agent answers.
    pub(crate) fn add_hold_time(&mut self, secs: u32) {
        self.hold_time = if self.completed.saturating_add(self.abandoned) == 0 {
            secs
        } else {
            average(self.hold_time, secs)
        };
    }

    /// Counts a completed call and folds its talk time into the average, as
    /// app_queue's `update_queue` does.
    pub(crate) fn add_completed(&mut self, talk_secs: Option<u32>) {
        self.completed = self.completed.saturating_add(1);
        if let Some(secs) = talk_secs {
            self.talk_time = if self.completed == 1 {
                secs
            } else {
                average(self.talk_time, secs)
            };
        }
    }
}

/// app_queue's exponential average: `(3 * old + new) / 4`.
fn average(old: u32, new: u32) -> u32 {
    let sum = u64::from(old) * 3 + u64::from(new);
    u32::try_from(sum >> 2).unwrap_or(u32::MAX)
}

impl Member {
    /// A member with interface `interface`.
    pub(crate) fn new(interface: &str) -> Self {
        Member {
            interface: interface.to_owned(),
            ..Member::default()
        }
    }

    /// Applies a `QueueMember` list item or a `QueueMember*` event (both
    /// spellings of the name and interface); whether anything changed.
    pub(crate) fn update(&mut self, f: &Fields<'_>) -> bool {
        assign(&mut self.name, f.member_name)
            | assign(&mut self.state_interface, f.state_interface)
            | assign(&mut self.membership, f.membership)
            | assign_copy(&mut self.penalty, number(f.penalty))
            | assign_copy(&mut self.calls_taken, number(f.calls_taken))
            | assign_copy(&mut self.last_call, number(f.last_call))
            | assign_copy(&mut self.last_pause, number(f.last_pause))
            | assign_copy(&mut self.login_time, number(f.login_time))
            | assign_copy(&mut self.in_call, flag(f.in_call))
            | assign_copy(
                &mut self.status,
                number::<u8>(f.status).map(DeviceStatus::from_code),
            )
            | assign_copy(&mut self.paused, flag(f.paused))
            | assign(&mut self.paused_reason, f.paused_reason)
            | assign_copy(&mut self.ringinuse, flag(f.ringinuse).map(Some))
            | assign_copy(&mut self.wrapup_time, number(f.wrapup_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(interface: &str, status: DeviceStatus, paused: bool) -> Member {
        Member {
            status,
            paused,
            ..Member::new(interface)
        }
    }

    #[test]
    fn summary_counts_as_app_queue_does() {
        let mut q = Queue::new("support");
        q.members = vec![
            member("a", DeviceStatus::NotInUse, false),
            member("b", DeviceStatus::InUse, false),
            member("c", DeviceStatus::NotInUse, true),
            member("d", DeviceStatus::Unavailable, false),
            member("e", DeviceStatus::Unknown, false),
        ];
        q.callers.push(Caller::default());
        let s = q.summary();
        assert_eq!((s.logged_in, s.available, s.callers), (4, 2, 1));
        let free: Vec<_> = q.free_members().map(|m| m.interface.as_str()).collect();
        assert_eq!(free, ["a", "e"]);
    }

    #[test]
    fn averages_follow_app_queue() {
        let mut p = QueueParams::default();
        p.add_hold_time(8);
        assert_eq!(p.hold_time, 8, "the first call sets it");
        p.add_completed(Some(40));
        assert_eq!((p.completed, p.talk_time), (1, 40));
        p.add_hold_time(4);
        assert_eq!(p.hold_time, 7, "(3 * 8 + 4) / 4");
        p.add_completed(Some(0));
        assert_eq!(p.talk_time, 30, "(3 * 40 + 0) / 4");
    }

    #[test]
    fn callers_move_as_others_join_and_leave() {
        let caller = |uid: &str, position| Caller {
            uniqueid: uid.into(),
            position,
            ..Caller::default()
        };
        let order = |q: &Queue| -> Vec<(String, u32)> {
            q.callers
                .iter()
                .map(|c| (c.uniqueid.clone(), c.position))
                .collect()
        };
        let mut q = Queue::new("q");
        assert!(q.insert_caller(caller("a", 1)).is_empty());
        assert!(q.insert_caller(caller("c", 2)).is_empty());
        // A priority caller joins at position 2: `c` moves back.
        assert_eq!(q.insert_caller(caller("b", 2)), [2]);
        assert_eq!(
            order(&q),
            [("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]
        );
        // The first leaves: the others move up.
        assert_eq!(q.remove_caller_at(0), [0, 1]);
        assert_eq!(order(&q), [("b".into(), 1), ("c".into(), 2)]);
        // Gaps (a listed position past the end) close.
        assert!(q.insert_caller(caller("z", 9)).is_empty());
        assert_eq!(q.callers[2].position, 3);
    }
}
