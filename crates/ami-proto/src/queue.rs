//! The bounded event queue between the protocol core and the user.
//!
//! Every buffer in the core is bounded (invariant 5), and the event queue is
//! the one a flood fills first. When it is full, a [`QueuePolicy`] decides
//! what gives: the oldest event, the newest one, or the reader (back-pressure).
//! Each drop is counted and handed back to the caller so it can be logged with
//! its `queue_depth`; nothing disappears silently (PHP pitfall 7).
//!
//! This queue only ever holds events. Responses and list items of pending
//! actions live with their actions and are never evicted to make room here.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

/// What an [`EventQueue`] does when an event arrives and it is full.
///
/// Chosen per connection in the configuration; the default is
/// [`QueuePolicy::DropOldest`], because for monitoring and dialing the most
/// recent state of a channel matters more than a stale one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QueuePolicy {
    /// Evict the oldest queued event to make room for the new one.
    ///
    /// Use it when fresh events matter most; each eviction is counted.
    #[default]
    DropOldest,
    /// Refuse the new event and keep the queue as it is.
    ///
    /// Use it when the start of a burst matters more than its end; each
    /// refusal is counted.
    DropNewest,
    /// Queue nothing and lose nothing: the push is refused with
    /// [`Push::Full`] and the caller must stop reading from the socket until
    /// the consumer has popped events, then push the same event again.
    ///
    /// Use it when every event matters and the server may be slowed down.
    Backpressure,
}

impl QueuePolicy {
    /// The policy's name as accepted by [`FromStr`]: `drop-oldest`,
    /// `drop-newest` or `backpressure`.
    pub fn as_str(self) -> &'static str {
        match self {
            QueuePolicy::DropOldest => "drop-oldest",
            QueuePolicy::DropNewest => "drop-newest",
            QueuePolicy::Backpressure => "backpressure",
        }
    }
}

impl fmt::Display for QueuePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QueuePolicy {
    type Err = String;

    /// Parses `drop-oldest`, `drop-newest` or `backpressure` (exact, lower
    /// case), as written in configuration files and on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "drop-oldest" => Ok(QueuePolicy::DropOldest),
            "drop-newest" => Ok(QueuePolicy::DropNewest),
            "backpressure" => Ok(QueuePolicy::Backpressure),
            other => Err(format!(
                "unknown queue policy {other:?}: expected drop-oldest, drop-newest or backpressure"
            )),
        }
    }
}

/// The outcome of [`EventQueue::push`].
///
/// Every variant but `Queued` hands an item back, so the caller can log what
/// was lost (or, for `Full`, keep it and retry). Nothing is dropped unseen.
#[must_use = "a dropped or refused item must be logged, counted or retried"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Push<T> {
    /// The item was queued and nothing was lost.
    Queued,
    /// The item was queued; the queue was full, so the oldest item was
    /// evicted and is returned here ([`QueuePolicy::DropOldest`]).
    DroppedOldest(T),
    /// The queue was full and the new item was refused and is returned here
    /// ([`QueuePolicy::DropNewest`]). It counts as dropped.
    DroppedNewest(T),
    /// The queue is full and the item was NOT queued
    /// ([`QueuePolicy::Backpressure`]). It is not counted as dropped: the
    /// caller must stop reading input, let the consumer pop, and push this
    /// same item again.
    Full(T),
}

/// A FIFO queue that never holds more than its capacity.
///
/// Push events as they are parsed, pop them as the user consumes them. When
/// full, the queue's [`QueuePolicy`] decides the outcome, reported by
/// [`Push`]. It keeps the counters the stats need: how many items the policy
/// dropped and the deepest the queue has been.
///
/// # Examples
///
/// ```
/// use ami_proto::{EventQueue, Push, QueuePolicy};
///
/// let mut q = EventQueue::new(2, QueuePolicy::DropOldest);
/// assert_eq!(q.push("a"), Push::Queued);
/// assert_eq!(q.push("b"), Push::Queued);
/// assert_eq!(q.push("c"), Push::DroppedOldest("a"));
/// assert_eq!(q.pop(), Some("b"));
/// assert_eq!(q.dropped(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct EventQueue<T> {
    items: VecDeque<T>,
    capacity: usize,
    policy: QueuePolicy,
    high_water: usize,
    dropped: u64,
}

/// Memory reserved up front, at most; a queue configured for millions of
/// events grows only as deep as it actually gets.
const INITIAL_RESERVE: usize = 1024;

impl<T> EventQueue<T> {
    /// Creates an empty queue holding at most `capacity` items.
    ///
    /// A `capacity` of 0 is raised to 1, so that every policy can keep its
    /// promise (drop-oldest always has something to evict). The configuration
    /// refuses 0 before it gets here.
    pub fn new(capacity: usize, policy: QueuePolicy) -> Self {
        let capacity = capacity.max(1);
        EventQueue {
            items: VecDeque::with_capacity(capacity.min(INITIAL_RESERVE)),
            capacity,
            policy,
            high_water: 0,
            dropped: 0,
        }
    }

    /// Offers an item to the queue; when full, applies the policy.
    ///
    /// Log any non-`Queued` outcome with the queue depth. After
    /// [`Push::Full`], stop feeding input until [`pop`](Self::pop) made room,
    /// then push the returned item again.
    #[inline] // Once per event: the common `Queued` then costs no result to drop.
    pub fn push(&mut self, item: T) -> Push<T> {
        if self.items.len() < self.capacity {
            self.items.push_back(item);
            self.high_water = self.high_water.max(self.items.len());
            return Push::Queued;
        }
        self.full(item)
    }

    /// [`push`](Self::push) to a full queue: the policy applies.
    fn full(&mut self, item: T) -> Push<T> {
        match self.policy {
            QueuePolicy::DropOldest => match self.items.pop_front() {
                Some(oldest) => {
                    self.items.push_back(item);
                    self.dropped = self.dropped.saturating_add(1);
                    Push::DroppedOldest(oldest)
                }
                // Unreachable while capacity >= 1, but refusing is the safe
                // answer if it ever were.
                None => {
                    self.dropped = self.dropped.saturating_add(1);
                    Push::DroppedNewest(item)
                }
            },
            QueuePolicy::DropNewest => {
                self.dropped = self.dropped.saturating_add(1);
                Push::DroppedNewest(item)
            }
            QueuePolicy::Backpressure => Push::Full(item),
        }
    }

    /// Takes the oldest item, or `None` when the queue is empty.
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    /// Moves up to `max` of the oldest items, in order, to the end of
    /// `out`; returns how many.
    ///
    /// Taking every item into an empty `out` swaps the two buffers instead
    /// of moving the items one by one: `out` gets the queue's, the queue
    /// `out`'s (no buffer grows for it).
    pub fn pop_into(&mut self, out: &mut Vec<T>, max: usize) -> usize {
        let n = max.min(self.items.len());
        if n == 0 {
            // An empty queue, as after each answer of a ping loop: not
            // even an empty drain.
            return 0;
        }
        if n == self.items.len() && out.is_empty() {
            let spare = VecDeque::from(std::mem::take(out));
            *out = Vec::from(std::mem::replace(&mut self.items, spare));
            return n;
        }
        out.extend(self.items.drain(..n));
        n
    }

    /// Number of items queued now (the `queue_depth` of logs).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether the next push will apply the policy instead of just queueing.
    ///
    /// Under [`QueuePolicy::Backpressure`], an adapter checks this before
    /// reading more input.
    pub fn is_full(&self) -> bool {
        self.items.len() >= self.capacity
    }

    /// The most items the queue will ever hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The deepest the queue has been since it was created (for stats).
    pub fn high_water(&self) -> usize {
        self.high_water
    }

    /// Total items the policy dropped (evicted oldest or refused newest).
    ///
    /// [`Push::Full`] refusals are not drops: the caller still holds the item.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The policy applied when the queue is full.
    pub fn policy(&self) -> QueuePolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(capacity: usize, policy: QueuePolicy) -> EventQueue<u32> {
        let mut q = EventQueue::new(capacity, policy);
        for i in 0..capacity as u32 {
            assert_eq!(q.push(i), Push::Queued);
        }
        assert!(q.is_full());
        q
    }

    #[test]
    fn default_policy_is_drop_oldest() {
        assert_eq!(QueuePolicy::default(), QueuePolicy::DropOldest);
    }

    #[test]
    fn policy_parses_and_round_trips() {
        for p in [
            QueuePolicy::DropOldest,
            QueuePolicy::DropNewest,
            QueuePolicy::Backpressure,
        ] {
            assert_eq!(p.as_str().parse::<QueuePolicy>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
    }

    #[test]
    fn policy_parse_error_names_the_input_and_the_choices() {
        for bad in [
            "",
            "DropOldest",
            "drop_oldest",
            "Backpressure",
            "drop-oldest ",
        ] {
            let err = bad.parse::<QueuePolicy>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("drop-oldest, drop-newest or backpressure"));
        }
    }

    #[test]
    fn fifo_order_below_capacity() {
        let mut q = EventQueue::new(4, QueuePolicy::DropOldest);
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
        for i in 0..3 {
            assert_eq!(q.push(i), Push::Queued);
        }
        assert_eq!(q.len(), 3);
        assert!(!q.is_full());
        assert_eq!(
            (q.pop(), q.pop(), q.pop(), q.pop()),
            (Some(0), Some(1), Some(2), None)
        );
        assert!(q.is_empty());
        assert_eq!(q.dropped(), 0);
    }

    #[test]
    fn pop_into_appends_the_oldest_in_order() {
        let mut q = filled(5, QueuePolicy::Backpressure);
        let mut out = vec![99];
        assert_eq!(q.pop_into(&mut out, 3), 3);
        assert_eq!(out, [99, 0, 1, 2]);
        assert_eq!(q.pop_into(&mut out, 10), 2);
        assert_eq!(out, [99, 0, 1, 2, 3, 4]);
        assert_eq!(q.pop_into(&mut out, 10), 0);
        assert!(q.is_empty() && !q.is_full());
        // All of them into an empty list: the same, and the queue goes on.
        for i in 5..8 {
            assert_eq!(q.push(i), Push::Queued);
        }
        let mut all = Vec::new();
        assert_eq!(q.pop_into(&mut all, 3), 3);
        assert_eq!(all, [5, 6, 7]);
        assert_eq!(q.push(8), Push::Queued);
        assert_eq!(q.pop(), Some(8));
    }

    #[test]
    fn drop_oldest_evicts_and_returns_the_oldest() {
        let mut q = filled(3, QueuePolicy::DropOldest);
        assert_eq!(q.push(10), Push::DroppedOldest(0));
        assert_eq!(q.push(11), Push::DroppedOldest(1));
        assert_eq!(q.len(), 3);
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.high_water(), 3);
        let drained: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(drained, [2, 10, 11]);
    }

    #[test]
    fn drop_newest_refuses_and_keeps_the_queue() {
        let mut q = filled(3, QueuePolicy::DropNewest);
        assert_eq!(q.push(10), Push::DroppedNewest(10));
        assert_eq!(q.push(11), Push::DroppedNewest(11));
        assert_eq!(q.len(), 3);
        assert_eq!(q.dropped(), 2);
        let drained: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(drained, [0, 1, 2]);
    }

    #[test]
    fn backpressure_refuses_without_counting_and_accepts_after_pop() {
        let mut q = filled(2, QueuePolicy::Backpressure);
        assert_eq!(q.push(10), Push::Full(10));
        assert_eq!(q.push(10), Push::Full(10));
        assert_eq!(q.len(), 2);
        assert_eq!(q.dropped(), 0, "Full hands the item back; it is not lost");
        assert_eq!(q.pop(), Some(0));
        assert!(!q.is_full());
        assert_eq!(q.push(10), Push::Queued);
        let drained: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(drained, [1, 10]);
    }

    #[test]
    fn flood_never_grows_beyond_capacity_and_counts_every_drop() {
        for policy in [
            QueuePolicy::DropOldest,
            QueuePolicy::DropNewest,
            QueuePolicy::Backpressure,
        ] {
            let mut q = EventQueue::new(100, policy);
            let mut returned = 0u64;
            let mut full = 0u64;
            for i in 0..20_000u32 {
                match q.push(i) {
                    Push::Queued => {}
                    Push::DroppedOldest(_) | Push::DroppedNewest(_) => returned += 1,
                    Push::Full(_) => full += 1,
                }
                assert!(q.len() <= q.capacity());
            }
            assert_eq!(q.len(), 100);
            assert_eq!(q.high_water(), 100);
            assert_eq!(q.dropped(), returned, "{policy}");
            match policy {
                QueuePolicy::Backpressure => assert_eq!((returned, full), (0, 19_900)),
                _ => assert_eq!((returned, full), (19_900, 0)),
            }
            // Conservation: everything pushed is queued, dropped or refused.
            assert_eq!(q.len() as u64 + returned + full, 20_000);
        }
    }

    #[test]
    fn high_water_remembers_the_deepest_point() {
        let mut q = EventQueue::new(10, QueuePolicy::DropOldest);
        assert_eq!(q.high_water(), 0);
        for i in 0..6 {
            let _ = q.push(i);
        }
        for _ in 0..5 {
            q.pop();
        }
        let _ = q.push(7);
        assert_eq!(q.len(), 2);
        assert_eq!(q.high_water(), 6);
    }

    #[test]
    fn zero_capacity_is_raised_to_one() {
        let mut q = EventQueue::new(0, QueuePolicy::DropOldest);
        assert_eq!(q.capacity(), 1);
        assert_eq!(q.push(1), Push::Queued);
        assert_eq!(q.push(2), Push::DroppedOldest(1));
        assert_eq!(q.pop(), Some(2));
    }

    #[test]
    fn getters_report_configuration() {
        let q: EventQueue<()> = EventQueue::new(10_000_000, QueuePolicy::DropNewest);
        assert_eq!(q.capacity(), 10_000_000);
        assert_eq!(q.policy(), QueuePolicy::DropNewest);
        assert!(q.is_empty() && !q.is_full());
    }
}
