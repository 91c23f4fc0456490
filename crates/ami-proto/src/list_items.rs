//! The items of a collected event list, kept as the receive chunks' bytes
//! and one small record per item.

use std::fmt;

use bytes::Bytes;

use crate::headers::Headers;
use crate::message::{Event, Message};
use crate::redact::RedactionPolicy;

/// The item events of an event list ([`crate::EventList::items`]), in
/// order. Each is made when asked for ([`ListItems::get`],
/// [`ListItems::iter`]): a slice of the bytes it was read into, as an
/// [`Event`] the decoder returns is, so [`Event::detach`] those kept for
/// long.
///
/// Performance: a 100k-item list is held as the runs of bytes its items
/// arrived in (one reference per run, a read's worth of items) and 8 bytes
/// per item (where it starts in its run, how long its headers are), not
/// as one 48-byte [`Event`] per item, each holding its own reference: 0.8
/// MB of records instead of a 4.8 MB vector that doubles as it grows (and
/// that the kernel faults in page by page), and no reference count taken
/// or dropped per item while the list is read.
///
/// # Examples
///
/// ```
/// use ami_proto::{Event, ListItems};
///
/// let item = Event::from_pairs([("Event", &b"PeerEntry"[..]), ("ObjectName", b"100")]);
/// let items: ListItems = [item]
///     .into_iter()
///     .collect();
/// assert_eq!(items.len(), 1);
/// for item in &items {
///     assert_eq!(item.get("ObjectName"), Some(&b"100"[..]));
/// }
/// ```
#[derive(Clone, Default)]
pub struct ListItems {
    /// The runs of bytes the items lie in, each with the index of its
    /// first item (increasing) and the policy its events print under.
    runs: Vec<Run>,
    /// Each item: where its headers start in its run, and their length.
    items: Vec<(u32, u32)>,
}

/// Bytes some of a list's items lie in, one after another.
#[derive(Clone)]
struct Run {
    /// The index of its first item.
    first: usize,
    bytes: Bytes,
    /// The policy its events print under.
    redaction: &'static RedactionPolicy,
    /// One item's bytes, whole ([`ListItems::push`]): its record is not
    /// read (an event pushed may be longer than a record can say).
    whole: bool,
}

impl ListItems {
    /// No items.
    pub fn new() -> Self {
        ListItems::default()
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<Event> {
        let &(start, len) = self.items.get(index)?;
        // The last run starting at or before `index`.
        let run = &self.runs[self.runs.partition_point(|run| run.first <= index) - 1];
        Some(run.event(start, len))
    }

    /// The first item, if any.
    pub fn first(&self) -> Option<Event> {
        self.get(0)
    }

    /// The items, in order.
    pub fn iter(&self) -> ListItemsIter<'_> {
        ListItemsIter {
            items: self,
            next: 0,
            run: 0,
        }
    }

    /// The items, in order, as a vector.
    pub fn to_vec(&self) -> Vec<Event> {
        self.iter().collect()
    }

    /// Appends an event.
    pub fn push(&mut self, event: Event) {
        let (bytes, redaction) = event.into_message().into_headers().into_parts();
        self.runs.push(Run {
            first: self.items.len(),
            bytes,
            redaction,
            whole: true,
        });
        // The run is the event's: its record is not read.
        self.items.push((0, 0));
    }

    /// Appends `len` bytes of headers at `start` of the run the next call
    /// of [`ListItems::end_run`] gives: the item that follows the last.
    pub(crate) fn push_record(&mut self, start: u32, len: u32) {
        self.items.push((start, len));
    }

    /// The bytes of the items pushed since item `first`
    /// ([`ListItems::push_record`]); nothing if there are none.
    pub(crate) fn end_run(
        &mut self,
        first: usize,
        bytes: Bytes,
        redaction: &'static RedactionPolicy,
    ) {
        if self.items.len() > first {
            self.runs.push(Run {
                first,
                bytes,
                redaction,
                whole: false,
            });
        }
    }

    /// Drops every item.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.items.clear();
    }
}

impl Run {
    fn event(&self, start: u32, len: u32) -> Event {
        let (start, len) = (start as usize, len as usize);
        let bytes = match self.whole {
            true => self.bytes.clone(),
            false => self.bytes.slice(start..start + len),
        };
        Event::new(Message::new(Headers::stamped(bytes, self.redaction), None))
    }
}

/// The items of a [`ListItems`], in order ([`ListItems::iter`]).
#[derive(Clone, Debug)]
pub struct ListItemsIter<'a> {
    items: &'a ListItems,
    next: usize,
    /// The run of the item at `next`, or one before it.
    run: usize,
}

impl Iterator for ListItemsIter<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let &(start, len) = self.items.items.get(self.next)?;
        let runs = &self.items.runs;
        while runs
            .get(self.run + 1)
            .is_some_and(|run| run.first <= self.next)
        {
            self.run += 1;
        }
        self.next += 1;
        Some(runs[self.run].event(start, len))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.items.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for ListItemsIter<'_> {}

impl<'a> IntoIterator for &'a ListItems {
    type Item = Event;
    type IntoIter = ListItemsIter<'a>;

    fn into_iter(self) -> ListItemsIter<'a> {
        self.iter()
    }
}

impl IntoIterator for ListItems {
    type Item = Event;
    type IntoIter = std::vec::IntoIter<Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.to_vec().into_iter()
    }
}

impl FromIterator<Event> for ListItems {
    fn from_iter<I: IntoIterator<Item = Event>>(events: I) -> Self {
        let mut items = ListItems::new();
        events.into_iter().for_each(|event| items.push(event));
        items
    }
}

impl From<Vec<Event>> for ListItems {
    fn from(events: Vec<Event>) -> Self {
        events.into_iter().collect()
    }
}

/// No items: so that `completion.list_items().unwrap_or_default()` reads a
/// completion that is not a list as an empty one, as it did when the items
/// were a slice.
impl Default for &ListItems {
    fn default() -> Self {
        static NONE: ListItems = ListItems {
            runs: Vec::new(),
            items: Vec::new(),
        };
        &NONE
    }
}

impl fmt::Debug for ListItems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> Event {
        let mut decoder = crate::Decoder::without_banner(1 << 20);
        decoder.push(text.as_bytes());
        match decoder.next_frame() {
            Some(Ok(crate::Frame::Event(event))) => event,
            other => panic!("{other:?}"),
        }
    }

    /// Items pushed one by one and as runs of records come back in order,
    /// by index and by iteration, with the bytes of their headers.
    #[test]
    fn items_come_back_in_order_from_runs_and_pushes() {
        let mut items = ListItems::new();
        items.push(event("Event: A\r\nN: 0\r\n\r\n"));
        let run = Bytes::from_static(b"Event: A\r\nN: 1\r\n\r\nEvent: A\r\nN: 2\r\n\r\n");
        let first = items.len();
        items.push_record(0, 16);
        items.push_record(18, 16);
        items.end_run(first, run, RedactionPolicy::default_ref());
        // A run with no item adds nothing.
        items.end_run(
            items.len(),
            Bytes::from_static(b"x"),
            RedactionPolicy::default_ref(),
        );
        items.push(event("Event: A\r\nN: 3\r\n\r\n"));
        assert_eq!(items.len(), 4);
        let by_index: Vec<_> = (0..4).map(|i| items.get(i).expect("in range")).collect();
        let iterated = items.to_vec();
        for (i, (a, b)) in by_index.iter().zip(&iterated).enumerate() {
            let n = i.to_string();
            assert_eq!(a.get("N"), Some(n.as_bytes()));
            assert_eq!(a.headers().raw(), b.headers().raw());
            assert_eq!(
                a.headers().raw(),
                format!("Event: A\r\nN: {i}\r\n").as_bytes()
            );
        }
        assert!(items.get(4).is_none());
        assert_eq!(items.iter().len(), 4);
        assert_eq!(
            items.first().map(|e| e.get("N").map(<[u8]>::to_vec)),
            Some(Some(b"0".to_vec()))
        );
        assert!(<&ListItems>::default().is_empty());
        let cloned = items.clone();
        items.clear();
        assert!(items.is_empty() && items.iter().next().is_none());
        assert_eq!(cloned.into_iter().count(), 4);
    }
}
