//! What changed in the model, for views and bindings to follow.
//!
//! A change names what changed, never its new value: read that from the
//! model ([`crate::Model::channel`] and its siblings) when the change is
//! drained. Changes queue up to a bound; past it they are counted, and one
//! [`Change::Lost`] says "re-read everything" once the queue has drained.

use std::collections::VecDeque;
use std::sync::Arc;

/// One change to the model, drained with [`crate::Model::poll_change`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Something new appeared.
    Added(Key),
    /// Something known changed.
    Updated(Key),
    /// Something went away (a channel hung up, a member left a queue).
    Removed(Key),
    /// This many changes were dropped because nobody drained the queue:
    /// the model is still right, but a view that follows changes must
    /// re-read all of it.
    Lost(u64),
}

/// What a [`Change`] is about. The strings are shared (`Arc<str>`): a
/// channel's change costs no copy of its Uniqueid.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Key {
    /// A channel, by Uniqueid.
    Channel(Arc<str>),
    /// A bridge, by id.
    Bridge(Arc<str>),
    /// A queue: its parameters or counters, or the positions of its
    /// callers (they move up as one leaves), by queue name.
    Queue(Arc<str>),
    /// A queue member.
    Member {
        /// The queue.
        queue: Arc<str>,
        /// The member's interface.
        interface: Arc<str>,
    },
    /// A caller waiting in a queue (when others join or leave ahead of it,
    /// its queue is updated instead).
    Caller {
        /// The queue.
        queue: Arc<str>,
        /// The caller's channel Uniqueid.
        uniqueid: Arc<str>,
    },
    /// A device state, by device.
    Device(Arc<str>),
    /// An extension's hint state.
    Extension {
        /// The extension.
        exten: Arc<str>,
        /// Its context.
        context: Arc<str>,
    },
    /// An originated call, by its Originate's ActionID.
    Call(Arc<str>),
}

/// A string of a key: borrowed (copied if the change is kept), or the
/// model's own shared copy (kept for the price of a reference count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Text<'a> {
    Borrowed(&'a str),
    Shared(&'a Arc<str>),
}

impl<'a> Text<'a> {
    /// `shared` when the model holds it, else `text`.
    pub(crate) fn or(shared: &'a Option<Arc<str>>, text: &'a str) -> Self {
        match shared {
            Some(arc) => Text::Shared(arc),
            None => Text::Borrowed(text),
        }
    }

    fn as_str(self) -> &'a str {
        match self {
            Text::Borrowed(text) => text,
            Text::Shared(arc) => arc,
        }
    }

    fn to_arc(self) -> Arc<str> {
        match self {
            Text::Borrowed(text) => Arc::from(text),
            Text::Shared(arc) => Arc::clone(arc),
        }
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(text: &'a str) -> Self {
        Text::Borrowed(text)
    }
}

impl<'a> From<&'a Arc<str>> for Text<'a> {
    fn from(arc: &'a Arc<str>) -> Self {
        Text::Shared(arc)
    }
}

/// A [`Key`] by reference, so that a change can be dropped or merged
/// without building its strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyRef<'a> {
    Channel(Text<'a>),
    Bridge(Text<'a>),
    Queue(Text<'a>),
    Member(Text<'a>, Text<'a>),
    Caller(Text<'a>, Text<'a>),
    Device(Text<'a>),
    Extension(Text<'a>, Text<'a>),
    Call(Text<'a>),
}

impl KeyRef<'_> {
    fn to_key(self) -> Key {
        match self {
            KeyRef::Channel(u) => Key::Channel(u.to_arc()),
            KeyRef::Bridge(b) => Key::Bridge(b.to_arc()),
            KeyRef::Queue(q) => Key::Queue(q.to_arc()),
            KeyRef::Member(q, i) => Key::Member {
                queue: q.to_arc(),
                interface: i.to_arc(),
            },
            KeyRef::Caller(q, u) => Key::Caller {
                queue: q.to_arc(),
                uniqueid: u.to_arc(),
            },
            KeyRef::Device(d) => Key::Device(d.to_arc()),
            KeyRef::Extension(e, c) => Key::Extension {
                exten: e.to_arc(),
                context: c.to_arc(),
            },
            KeyRef::Call(a) => Key::Call(a.to_arc()),
        }
    }

    fn is(self, key: &Key) -> bool {
        let same = |a: Text<'_>, b: &Arc<str>| a.as_str() == &**b;
        match (self, key) {
            (KeyRef::Channel(a), Key::Channel(b))
            | (KeyRef::Bridge(a), Key::Bridge(b))
            | (KeyRef::Queue(a), Key::Queue(b))
            | (KeyRef::Device(a), Key::Device(b))
            | (KeyRef::Call(a), Key::Call(b)) => same(a, b),
            (KeyRef::Member(q, i), Key::Member { queue, interface }) => {
                same(q, queue) && same(i, interface)
            }
            (KeyRef::Caller(q, u), Key::Caller { queue, uniqueid }) => {
                same(q, queue) && same(u, uniqueid)
            }
            (KeyRef::Extension(e, c), Key::Extension { exten, context }) => {
                same(e, exten) && same(c, context)
            }
            _ => false,
        }
    }
}

/// The kind of a change, before its key is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Added,
    Updated,
    Removed,
}

/// The bounded queue of changes.
#[derive(Debug)]
pub(crate) struct Changes {
    queue: VecDeque<Change>,
    limit: usize,
    /// Changes dropped since the last [`Change::Lost`] was handed out.
    lost: u64,
}

impl Changes {
    pub(crate) fn new(limit: usize) -> Self {
        Changes {
            queue: VecDeque::new(),
            limit,
            lost: 0,
        }
    }

    /// Queues a change; whether it was dropped for lack of room.
    ///
    /// An update of what the last queued change already names is merged
    /// into it. Once a change is lost, every later one is too, until the
    /// consumer has drained the queue and been told: the `Lost` marker then
    /// covers all of them, and nothing queued after it predates it.
    pub(crate) fn push(&mut self, op: Op, key: KeyRef<'_>) -> bool {
        if op == Op::Updated {
            if let Some(Change::Added(last) | Change::Updated(last)) = self.queue.back() {
                if key.is(last) {
                    return false;
                }
            }
        }
        if self.lost > 0 || self.queue.len() >= self.limit {
            self.lost += 1;
            return true;
        }
        let key = key.to_key();
        self.queue.push_back(match op {
            Op::Added => Change::Added(key),
            Op::Updated => Change::Updated(key),
            Op::Removed => Change::Removed(key),
        });
        false
    }

    pub(crate) fn pop(&mut self) -> Option<Change> {
        if let Some(change) = self.queue.pop_front() {
            return Some(change);
        }
        (self.lost > 0).then(|| Change::Lost(std::mem::take(&mut self.lost)))
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_updates_merge_into_the_last_change() {
        let mut c = Changes::new(10);
        c.push(Op::Added, KeyRef::Channel("1".into()));
        c.push(Op::Updated, KeyRef::Channel("1".into()));
        c.push(Op::Updated, KeyRef::Channel("2".into()));
        c.push(Op::Updated, KeyRef::Channel("2".into()));
        c.push(Op::Removed, KeyRef::Channel("2".into()));
        let all: Vec<_> = std::iter::from_fn(|| c.pop()).collect();
        assert_eq!(
            all,
            [
                Change::Added(Key::Channel("1".into())),
                Change::Updated(Key::Channel("2".into())),
                Change::Removed(Key::Channel("2".into())),
            ]
        );
    }

    #[test]
    fn overflow_is_counted_and_reported_after_the_queue() {
        let mut c = Changes::new(2);
        assert!(!c.push(Op::Added, KeyRef::Device("a".into())));
        assert!(!c.push(Op::Added, KeyRef::Device("b".into())));
        assert!(c.push(Op::Added, KeyRef::Device("c".into())));
        assert_eq!(c.pop(), Some(Change::Added(Key::Device("a".into()))));
        // Room again, but a change after a loss is lost too.
        assert!(c.push(Op::Added, KeyRef::Device("d".into())));
        assert_eq!(c.pop(), Some(Change::Added(Key::Device("b".into()))));
        assert_eq!(c.pop(), Some(Change::Lost(2)));
        assert_eq!(c.pop(), None);
        assert!(!c.push(Op::Removed, KeyRef::Device("a".into())));
        assert_eq!(c.len(), 1);
    }
}
