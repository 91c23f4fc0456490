//! The decoder: bytes in any chunking in, frames out.
//!
//! Lines end in `\n` with optional `\r`s before it; a blank line ends a frame.
//! The first line of the stream, when it has no colon, is the banner. A legacy
//! `Response: Follows` frame runs to `--END COMMAND--` instead, blank lines and
//! all. Past the first line, which gives the frame's kind, the decoder only
//! looks for the blank line, 64 bytes at a time ([`crate::lines`]): a frame
//! is a slice of the receive buffer, and its lines are found only when its
//! headers are read ([`Headers`]). Bytes already searched are not searched
//! again when more arrive.
//!
//! Limits are per frame: frames starting with `Response:` may use a larger
//! limit (set by the connection while a Command awaits its answer). A frame
//! past its limit is skipped to its end with bounded memory and reported as
//! [`DecodeError::FrameTooLarge`]; a frame whose first line has no colon is
//! garbage, skipped to the next blank line and reported as
//! [`DecodeError::Garbage`]. Decoding always goes on.

use std::collections::VecDeque;
use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;
use crate::headers::{self, Headers};
use crate::lines::{BlankLine, LineEnds, NameScan};
use crate::message::{
    locate_action_id, Event, EventListName, Frame, Located, Message, Response, RoutingNames,
};
use crate::redact::RedactionPolicy;

const END_COMMAND: &[u8] = b"--END COMMAND--";

/// The largest limit a decoder accepts: offsets within a frame are `u32`.
const MAX_LIMIT: usize = u32::MAX as usize;

/// Growth step of the receive buffer.
const READ_CHUNK: usize = 64 << 10;

/// The least room [`Decoder::spare`] lends from the current chunk before it
/// makes more: a read of fewer bytes than asked costs less than zeroing a
/// chunk's worth for each small read (a Ping's answer is 60 bytes).
const MIN_SPARE: usize = 4 << 10;

/// Turns a byte stream from an AMI server into [`Frame`]s.
///
/// Feed bytes with [`Decoder::push`] (or read into [`Decoder::spare`], then
/// [`Decoder::commit`]; or into uninitialised room with
/// [`Decoder::read_with`]), then call [`Decoder::next_frame`] until it returns
/// `None` ("need more bytes", not an error).
///
/// **Memory:** frames are slices of receive chunks of 64 KiB or more. A
/// chunk left while frames cut from it are alive (a list being collected,
/// events queued) is pooled, and read into again once they are all
/// dropped; the pool holds at most `max_frame` bytes, oldest chunks leaving
/// first. So after a burst the decoder may keep up to `max_frame` bytes
/// that no frame uses, for the next one.
///
/// # Examples
///
/// ```
/// use ami_proto::{Decoder, Frame};
///
/// let mut decoder = Decoder::new(4 << 20);
/// decoder.push(b"Asterisk Call Manager/11.0.0\r\nEvent: Hangup\r\nChannel: PJSIP/1-0");
/// assert!(matches!(decoder.next_frame(), Some(Ok(Frame::Banner(_)))));
/// assert!(decoder.next_frame().is_none()); // the event is not complete yet
/// decoder.push(b"\r\n\r\n");
/// let Some(Ok(Frame::Event(event))) = decoder.next_frame() else { panic!() };
/// assert_eq!(event.name(), b"Hangup");
/// assert_eq!(event.get("channel"), Some(&b"PJSIP/1-0"[..]));
/// ```
#[derive(Debug)]
pub struct Decoder {
    /// Bytes received and not yet returned as frames.
    buf: BytesMut,
    /// Room for the next read, just after `buf` in the same chunk, so that
    /// bytes read into it join `buf` without a copy: its bytes, zeroed, for
    /// [`Decoder::spare`]; its capacity, uninitialised, for
    /// [`Decoder::read_with`].
    room: BytesMut,
    /// The size of the chunk `buf` and `room` lie in, if the decoder made
    /// it (0 for a buffer handed over or grown by [`Decoder::push`]).
    chunk_size: usize,
    /// Chunks left while frames cut from them were alive, oldest first,
    /// with their sizes: taken again once all their frames are dropped (a
    /// list's items, once the list is), instead of fresh memory that the
    /// kernel faults in page by page. At most `max_frame` bytes in all.
    pool: VecDeque<(BytesMut, usize)>,
    pool_bytes: usize,
    /// How much of `room` the last [`Decoder::spare`] lent, not committed yet.
    lent: usize,
    max_frame: usize,
    max_response: usize,
    banner_seen: bool,
    /// Whether frames that start from now on are searched for their
    /// routing headers too ([`Decoder::locate`]).
    locate: bool,
    /// What the search for the end of the frame at the head of the buffer
    /// (or, once it is returned, of that frame) found of its routing
    /// headers, if `scanning`: set as its first line is read, if it is an
    /// event or a response and [`Decoder::locate`] is on.
    scan: NameScan<2>,
    /// Performance: a flag beside the scan, not an `Option`, so that a
    /// frame not located costs one store, not the scan's bytes.
    scanning: bool,
    partial: Partial,
    skip: Option<Skip>,
    /// Stamped on every frame, for its `Debug`.
    redaction: &'static RedactionPolicy,
}

/// Progress through the frame at the head of `buf`.
#[derive(Debug, Default)]
struct Partial {
    /// Offset of the line after the first (once the kind is known); in a
    /// legacy Follows frame, of the next line to read.
    line: usize,
    kind: Kind,
    /// Offset where the legacy Follows body starts.
    body: Option<usize>,
    /// While the first line is unfinished: how far it was searched.
    first_scanned: usize,
    /// The search for the blank line, from the second line on (from the
    /// first for an event).
    blank: BlankLine,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Kind {
    #[default]
    Unknown,
    Response,
    Follows,
    Event,
    Other,
}

/// A frame (or garbage) being discarded line by line.
#[derive(Debug)]
struct Skip {
    why: SkipWhy,
    skipped: usize,
    /// Length of the current line so far (CRs excluded), to spot blank lines.
    line_len: usize,
    /// The current line's last bytes, to spot a glued `--END COMMAND--`.
    tail: [u8; END_COMMAND.len()],
    /// Until `--END COMMAND--` (legacy Follows) rather than a blank line.
    follows: bool,
}

#[derive(Debug)]
enum SkipWhy {
    TooLarge {
        limit: usize,
        response: bool,
        action_id: Option<Bytes>,
    },
    Garbage,
}

impl Decoder {
    /// A decoder whose frames may be at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Decoder {
            buf: BytesMut::new(),
            room: BytesMut::new(),
            chunk_size: 0,
            pool: VecDeque::new(),
            pool_bytes: 0,
            lent: 0,
            max_frame: max_frame.min(MAX_LIMIT),
            max_response: max_frame.min(MAX_LIMIT),
            banner_seen: false,
            locate: false,
            scan: NameScan::new(),
            scanning: false,
            partial: Partial::default(),
            skip: None,
            redaction: RedactionPolicy::default_ref(),
        }
    }

    /// Prints the frames it decodes (their `Debug`, and so every log line
    /// that shows them) under `policy` instead of the default policy.
    ///
    /// Each frame carries a plain reference to the policy, interned for the
    /// life of the process (see [`RedactionPolicy`]): the per-frame cost is
    /// the same under any policy.
    pub fn with_redaction(mut self, policy: &RedactionPolicy) -> Self {
        self.redaction = policy.interned();
        self
    }

    /// A decoder for a stream with no banner (client bytes, mid-stream captures).
    pub fn without_banner(max_frame: usize) -> Self {
        Decoder {
            banner_seen: true,
            ..Decoder::new(max_frame)
        }
    }

    /// Sets the limit for frames that start with `Response:`. The connection
    /// sets it to the Command output limit while a Command is next in line
    /// (above or below `max_frame`), and back to `max_frame` after.
    pub fn set_response_limit(&mut self, limit: usize) {
        self.max_response = limit.min(MAX_LIMIT);
    }

    /// Appends bytes received from the server (a copy: [`Decoder::spare`]
    /// lets a socket read into the decoder's buffer instead).
    pub fn push(&mut self, data: &[u8]) {
        // While skipping, `next_frame` discards these as it passes them.
        if let Some(room) = self.room.get_mut(..data.len()) {
            room.copy_from_slice(data);
            return self.take_room(data.len());
        }
        // Appended after the buffered bytes, in room that needs no zeroing.
        self.room = BytesMut::new();
        self.lent = 0;
        self.chunk_size = 0;
        // Room for a whole read at a time: frames handed out keep their
        // chunk alive, so a fresh chunk is cheaper than many small growths.
        if self.buf.capacity() - self.buf.len() < data.len() {
            self.buf.reserve(data.len().max(READ_CHUNK));
        }
        self.buf.extend_from_slice(data);
    }

    /// Room for the next read, at most `max` bytes, at the end of the
    /// receive buffer. Read into it, then [`commit`](Decoder::commit) the
    /// count read; the bytes are then decoded where they lie, so a read
    /// costs one copy (the kernel's) instead of two. Bytes left uncommitted
    /// are ignored (and lent again by the next call).
    ///
    /// The room is what the current receive chunk has left, if that is
    /// `max` bytes or at least 4 KiB; else the same chunk again if no frame
    /// cut from it is still alive, else the oldest pooled chunk if none of
    /// its frames is (either zeroed again), else a fresh zeroed chunk of at
    /// least 64 KiB, so that one allocation serves many small reads. Only
    /// the unfinished frame at the end of the buffer, if any, moves to the
    /// new chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use ami_proto::{Decoder, Frame};
    ///
    /// let mut socket: &[u8] = b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n";
    /// let mut decoder = Decoder::without_banner(4 << 20);
    /// let n = socket.read(decoder.spare(64 << 10)).unwrap();
    /// decoder.commit(n);
    /// let Some(Ok(Frame::Event(event))) = decoder.next_frame() else { panic!() };
    /// assert_eq!(event.name(), b"FullyBooted");
    /// ```
    pub fn spare(&mut self, max: usize) -> &mut [u8] {
        if self.room.len() < max.min(MIN_SPARE) {
            self.make_room(max, true);
        }
        self.lent = max.min(self.room.len());
        &mut self.room[..self.lent]
    }

    /// Appends the first `n` bytes of the room last lent by
    /// [`Decoder::spare`], which a read filled.
    ///
    /// # Panics
    ///
    /// If `n` is more than that room (or the room was committed already).
    pub fn commit(&mut self, n: usize) {
        assert!(
            n <= self.lent,
            "committed {n} bytes of a room of {} lent",
            self.lent
        );
        self.take_room(n);
    }

    /// Reads once with `read` straight into the receive buffer, as
    /// [`Decoder::spare`] and [`Decoder::commit`] do, but into room that is
    /// not zeroed first: a chunk read into again (a list's, once its items
    /// are dropped) costs no pass over its bytes before the read. Returns
    /// the count read, or `read`'s error (then nothing is appended).
    ///
    /// `read` gets the room, at most `max` bytes (the same room
    /// [`Decoder::spare`] would lend), as uninitialised memory, and returns
    /// the bytes it filled: the room's first bytes, as a socket read into
    /// uninitialised memory returns them (`rustix::net::recv`). That slice
    /// is what proves to the decoder that those bytes are initialised. An
    /// empty slice appends nothing.
    ///
    /// # Panics
    ///
    /// If `read` returns bytes that do not start at the room's start, or
    /// more bytes than the room: a bug of the caller's, not of the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use ami_proto::{Decoder, Frame};
    ///
    /// let socket: &[u8] = b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n";
    /// let mut decoder = Decoder::without_banner(4 << 20);
    /// // A socket read into uninitialised memory returns the bytes it filled.
    /// let n = decoder.read_with(64 << 10, |room| {
    ///     let n = room.len().min(socket.len());
    ///     Ok::<_, std::io::Error>(room[..n].write_copy_of_slice(&socket[..n]))
    /// });
    /// assert_eq!(n.unwrap(), socket.len());
    /// let Some(Ok(Frame::Event(event))) = decoder.next_frame() else { panic!() };
    /// assert_eq!(event.name(), b"FullyBooted");
    /// ```
    #[allow(unsafe_code)] // `BytesMut::set_len` over the bytes `read` proved initialised.
    pub fn read_with<E>(
        &mut self,
        max: usize,
        read: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<&mut [u8], E>,
    ) -> Result<usize, E> {
        if self.room.capacity() < max.min(MIN_SPARE) {
            self.make_room(max, false);
        }
        // Zeroed bytes a `spare` left are lent as uninitialised all the
        // same: `read` tells which bytes it initialised.
        self.room.clear();
        self.lent = 0;
        let len = max.min(self.room.capacity());
        let room = &mut self.room.spare_capacity_mut()[..len];
        let start = room.as_ptr();
        let filled = read(room)?;
        let n = filled.len();
        if n == 0 {
            return Ok(0);
        }
        assert!(
            filled.as_ptr() == start.cast::<u8>() && n <= len,
            "read_with: the read returned {n} bytes that are not the first bytes of the {len} lent"
        );
        // SAFETY: `filled`, a `&mut [u8]`, covers exactly the first `n`
        // bytes of the room's spare capacity (checked just above: same
        // start, no longer than the part lent). A `&mut [u8]` only ever
        // points at initialised bytes, so those `n` bytes are initialised,
        // and `n` is within the capacity: `BytesMut::set_len`'s contract.
        unsafe { self.room.set_len(n) };
        self.take_room(n);
        Ok(n)
    }

    /// Moves the first `n` bytes of `room` to `buf`.
    #[inline]
    fn take_room(&mut self, n: usize) {
        self.lent = 0;
        // The room follows `buf` in its chunk: joining them is O(1).
        self.buf.unsplit(self.room.split_to(n));
    }

    /// Makes `room` for a read of `len` bytes (see [`Decoder::spare`]): the
    /// current chunk again if only the decoder holds it (the buffered tail
    /// moves to its front); else, for a tail of a chunk or more, that chunk
    /// grown; else the oldest pooled chunk, if only the pool holds it; else
    /// a fresh one of at least [`READ_CHUNK`] bytes. `zero`: the room is
    /// zeroed, up to a chunk's worth ([`Decoder::spare`] lends bytes);
    /// else it is only capacity ([`Decoder::read_with`] lends it
    /// uninitialised).
    fn make_room(&mut self, len: usize, zero: bool) {
        let tail = self.buf.len();
        let mut chunk = std::mem::take(&mut self.buf);
        chunk.unsplit(std::mem::take(&mut self.room));
        chunk.truncate(tail);
        // Reclaimed, a chunk has room to its end: perhaps less than `len`,
        // never less than the least lent.
        let least = len.min(MIN_SPARE);
        if chunk.try_reclaim(least) {
            // The same chunk, whole again.
        } else if tail >= READ_CHUNK {
            // A frame longer than a chunk: its buffer grows as a `Vec`
            // does, doubling, so that its bytes move a few times, not once
            // per read. Not pooled: it is not a chunk's size.
            chunk.reserve(len.max(tail));
            self.chunk_size = 0;
        } else {
            let size = self.chunk_size;
            let mut next = self.pooled(tail + least).unwrap_or_else(|| {
                self.chunk_size = READ_CHUNK.max(tail + len);
                BytesMut::with_capacity(self.chunk_size)
            });
            next.extend_from_slice(&chunk);
            self.retire(chunk, size);
            chunk = next;
        }
        if zero {
            // Up to a chunk's worth past the tail (a buffer handed over may
            // be far larger).
            let end = chunk.capacity().min(tail + READ_CHUNK.max(len));
            chunk.resize(end, 0);
        }
        self.room = chunk.split_off(tail);
        self.buf = chunk;
    }

    /// The oldest pooled chunk, if no frame of it is alive and it has room
    /// for `len` bytes.
    fn pooled(&mut self, len: usize) -> Option<BytesMut> {
        let (oldest, _) = self.pool.front_mut()?;
        if !oldest.try_reclaim(len) {
            return None;
        }
        let (chunk, size) = self.pool.pop_front()?;
        self.pool_bytes -= size;
        self.chunk_size = size;
        Some(chunk)
    }

    /// Pools a chunk of `size` bytes the decoder made, dropping the oldest
    /// ones past `max_frame` bytes in all (their memory goes when their
    /// frames do).
    fn retire(&mut self, mut chunk: BytesMut, size: usize) {
        if size == 0 || size > self.max_frame {
            return;
        }
        // A handle with no bytes of its own: only a reclaim of the whole
        // chunk, once it is the only handle left, gives it room.
        drop(chunk.split_off(0));
        self.pool.push_back((chunk, size));
        self.pool_bytes += size;
        while self.pool_bytes > self.max_frame {
            let Some((_, size)) = self.pool.pop_front() else {
                break;
            };
            self.pool_bytes -= size;
        }
    }

    /// Appends bytes the caller already holds in a [`Bytes`]. When nothing
    /// is buffered and `data` is the only handle to its memory, the decoder
    /// takes it over without a copy, and the frames it yields are slices of
    /// it (a whole capture, or a buffer a socket was read into), so a
    /// frame kept alive keeps all of `data` alive. Otherwise the bytes are
    /// copied, as by [`Decoder::push`].
    pub fn push_bytes(&mut self, data: Bytes) {
        if !self.buf.is_empty() {
            return self.push(&data);
        }
        match data.try_into_mut() {
            Ok(data) => {
                // The room followed the old buffer; `data` is elsewhere.
                self.room = BytesMut::new();
                self.lent = 0;
                self.chunk_size = 0;
                self.buf = data;
            }
            Err(shared) => self.push(&shared),
        }
    }

    /// Whether the search for the end of each event or response that
    /// starts from now on also notes where its routing headers are
    /// (`ActionID`, `EventList`), for [`Decoder::located`].
    ///
    /// Performance: a connection routes list items by those headers; found
    /// in the search for the frame's end they cost a few instructions per
    /// 64 bytes, where a pass of their own cost more than that search. A
    /// flood, which nothing routes, is not searched for them.
    pub(crate) fn locate(&mut self, on: bool) {
        self.locate = on;
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, an error for bytes that were skipped, or
    /// `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, DecodeError>> {
        loop {
            if self.skip.is_some() {
                return self.skip_bytes().map(Err);
            }
            if self.partial.kind == Kind::Unknown && self.partial.line == 0 {
                self.drop_blank_lines();
                if !self.banner_seen {
                    return self.banner();
                }
            }
            match self.parse() {
                Step::Frame(frame) => return Some(Ok(frame)),
                Step::NeedMore => return None,
                Step::Skip => continue,
            }
        }
    }

    /// Cuts off the events at the head of the buffer that `take` takes, one
    /// after another, and returns their bytes as one run (empty if it took
    /// none). `take` gets each complete event's start in the run, its
    /// headers (as [`Decoder::next_frame`] would cut them) and where its
    /// routing headers are, and answers whether it took it; the first it
    /// does not take stays at the head, for [`Decoder::next_frame`].
    ///
    /// It stops, leaving the rest to [`Decoder::next_frame`], before a frame
    /// that is not an event, a blank line between frames, a frame past its
    /// limit, and once no more than `hold` bytes are buffered, if `hold` is
    /// given (back-pressure). Only while [`Decoder::locate`] is on, past the
    /// banner, and between frames; otherwise it takes nothing. The
    /// unfinished event at the end of the buffer is left searched as far as
    /// its bytes go, as [`Decoder::next_frame`] leaves it.
    ///
    /// Performance: a list's items are taken a run at a time: no frame,
    /// no `Option<Result<Frame>>` and no reference count per item, and one
    /// cut (one reference) for the whole run.
    pub(crate) fn take_run(
        &mut self,
        hold: Option<usize>,
        mut take: impl FnMut(u32, &[u8], &Located) -> bool,
    ) -> Bytes {
        let between_frames = self.partial.kind == Kind::Unknown && self.partial.line == 0;
        if !(self.locate && self.banner_seen && self.skip.is_none() && between_frames) {
            return Bytes::new();
        }
        let limit = self.limit_of(Kind::Event);
        // Offsets in a run are `u32`s, as in a frame.
        let end = self.buf.len().min(MAX_LIMIT);
        let mut base = 0;
        while hold.is_none_or(|hold| self.buf.len() - base > hold) {
            let frame = &self.buf[base..end];
            if !starts_with_event(frame) {
                break;
            }
            let mut scan = NameScan::new();
            match BlankLine::from_line_start(0).find_naming::<1, EventListName>(frame, &mut scan) {
                Ok(nl) if nl < limit => {
                    let headers = &frame[..trimmed_end(frame, 0, nl)];
                    if !take(
                        base as u32,
                        headers,
                        &locate_action_id(headers, &scan.found),
                    ) {
                        break;
                    }
                    base += nl + 1;
                }
                Ok(_) => break,
                Err(_) if end == self.buf.len() && frame.len() <= limit => {
                    // Where `next_frame` would have left it: searched for
                    // both names (once per run).
                    let mut scan = NameScan::new();
                    let search = BlankLine::from_line_start(0);
                    let found = search.find_naming::<2, RoutingNames>(frame, &mut scan);
                    if let Err(search) = found {
                        self.partial.kind = Kind::Event;
                        self.partial.blank = search;
                        self.scan = scan;
                        self.scanning = true;
                    }
                    break;
                }
                Err(_) => break,
            }
        }
        if base == 0 {
            return Bytes::new();
        }
        // The first line of the new head is searched afresh.
        self.partial.first_scanned = 0;
        self.buf.split_to(base).freeze()
    }

    /// The policy the frames it decodes print under.
    pub(crate) fn redaction(&self) -> &'static RedactionPolicy {
        self.redaction
    }

    /// Where the routing headers of the frame the last
    /// [`Decoder::next_frame`] returned are, if its search noted them
    /// ([`Decoder::locate`]).
    pub(crate) fn located(&self) -> Option<&Located> {
        self.scanning.then_some(&self.scan.found)
    }

    /// Removes blank lines between frames (stray `\r\n` from error paths).
    fn drop_blank_lines(&mut self) {
        let mut at = 0;
        while at < self.buf.len() {
            match self.buf[at] {
                b'\r' | b'\n' => at += 1,
                _ => break,
            }
        }
        // A lone trailing `\r` may start a `\r\n`; dropping it is harmless either way.
        if at > 0 {
            let _ = self.buf.split_to(at);
            self.partial.first_scanned = 0;
        }
    }

    fn banner(&mut self) -> Option<Result<Frame, DecodeError>> {
        let Some(nl) = memchr::memchr(b'\n', &self.buf) else {
            if self.buf.len() > self.max_frame {
                self.banner_seen = true;
                self.start_skip(SkipWhy::Garbage, false);
                return self.next_frame();
            }
            return None;
        };
        let line = trim_cr(&self.buf[..nl]);
        if memchr::memchr(b':', line).is_some() {
            // No banner: the stream starts with a frame.
            self.banner_seen = true;
            return self.next_frame();
        }
        self.banner_seen = true;
        let len = line.len();
        let mut line = self.buf.split_to(nl + 1).freeze();
        line.truncate(len);
        Some(Ok(Frame::Banner(line)))
    }

    fn limit(&self) -> usize {
        self.limit_of(self.partial.kind)
    }

    /// Goes on with the frame at the head of the buffer from where the last
    /// call stopped: its first line, then the blank line that ends it.
    fn parse(&mut self) -> Step {
        if self.partial.kind == Kind::Unknown {
            if let Err(step) = self.first_line() {
                return step;
            }
        }
        if self.partial.kind == Kind::Follows {
            return self.parse_follows();
        }
        let limit = self.limit();
        let blank = self.partial.blank;
        let found = match self.scanning {
            true => blank.find_naming::<2, RoutingNames>(&self.buf, &mut self.scan),
            false => blank.find(&self.buf),
        };
        match found {
            Ok(nl) if nl < limit => {
                let headers_end = trimmed_end(&self.buf, self.partial.line, nl);
                self.partial.line = nl + 1;
                Step::Frame(self.finish(headers_end, None))
            }
            Ok(nl) => {
                self.too_large(nl);
                Step::Skip
            }
            Err(search) => {
                self.partial.blank = search;
                self.need_more(self.buf.len())
            }
        }
    }

    /// More bytes are needed, unless those buffered already pass the
    /// frame's limit: then it is skipped, its ActionID looked for in the
    /// header lines before `headers_end`.
    fn need_more(&mut self, headers_end: usize) -> Step {
        if self.buf.len() > self.limit() {
            self.too_large(headers_end);
            return Step::Skip;
        }
        Step::NeedMore
    }

    /// Reads the frame's first line, which gives its kind (and so its limit).
    fn first_line(&mut self) -> Result<(), Step> {
        // An event, the usual frame, is known by its first six bytes: its
        // first line need not be found, and the search for the blank line
        // (which also applies the limit) starts at the frame's start.
        if starts_with_event(&self.buf) {
            self.partial.kind = Kind::Event;
            self.partial.blank = BlankLine::from_line_start(0);
            self.start_scan(self.locate);
            return Ok(());
        }
        let mut lines = LineEnds::new(&self.buf, self.partial.first_scanned);
        let Some(nl) = lines.next() else {
            self.partial.first_scanned = lines.scanned();
            return Err(self.need_more(self.buf.len()));
        };
        if nl >= self.limit() {
            self.too_large(nl);
            return Err(Step::Skip);
        }
        // Not blank: blank lines before a frame were dropped.
        let Some(kind) = kind_of(&self.buf[..nl]) else {
            // A frame must open with `Key: Value`: this is garbage.
            self.partial = Partial::default();
            self.start_skip(SkipWhy::Garbage, false);
            return Err(Step::Skip);
        };
        self.partial.kind = kind;
        self.partial.line = nl + 1;
        self.partial.blank = BlankLine::from_line_start(nl + 1);
        // The search starts at the second line: it finds the routing
        // headers only if the first line is not one (`Response:` is not).
        self.start_scan(self.locate && kind == Kind::Response);
        Ok(())
    }

    /// Starts the frame's search over: noting its routing headers if `on`.
    fn start_scan(&mut self, on: bool) {
        self.scanning = on;
        if on {
            self.scan = NameScan::new();
        }
    }

    /// The lines of a legacy Follows frame, to `--END COMMAND--`.
    fn parse_follows(&mut self) -> Step {
        loop {
            let start = self.partial.line;
            let headers_end = self.partial.body.unwrap_or(start);
            let Some(off) = memchr::memchr(b'\n', &self.buf[start..]) else {
                return self.need_more(headers_end);
            };
            let nl = start + off;
            if nl >= self.limit() {
                self.too_large(headers_end);
                return Step::Skip;
            }
            self.partial.line = nl + 1;
            let end = trimmed_end(&self.buf, start, nl);
            if let Some(frame) = self.follows_line(start, end) {
                return Step::Frame(frame);
            }
        }
    }

    /// One line of a legacy Follows frame: a header (`Privilege`, `ActionID`)
    /// before the body, a body line, or the line carrying `--END COMMAND--`.
    fn follows_line(&mut self, start: usize, end: usize) -> Option<Frame> {
        let line = &self.buf[start..end];
        if line.ends_with(END_COMMAND) {
            let body_start = self.partial.body.unwrap_or(start);
            return Some(self.finish(body_start, Some(body_start..end - END_COMMAND.len())));
        }
        if self.partial.body.is_none() {
            if let Some(colon) = memchr::memchr(b':', line) {
                let name = &line[..colon];
                if name.eq_ignore_ascii_case(b"Privilege") || name.eq_ignore_ascii_case(b"ActionID")
                {
                    // Header lines sit together after the first.
                    return None;
                }
            }
            self.partial.body = Some(start);
        }
        None
    }

    /// Cuts the frame (up to the current line end) out of the buffer; its
    /// headers are the lines before `headers_end`.
    fn finish(&mut self, headers_end: usize, body: Option<std::ops::Range<usize>>) -> Frame {
        let partial = std::mem::take(&mut self.partial);
        // A frame that is the whole buffer, to its last byte of room (a
        // read in place of one answer), is taken as it is: `split_to`
        // would count one more reference to the chunk for the empty rest.
        let mut frame = match self.buf.capacity() == partial.line {
            true => std::mem::take(&mut self.buf),
            false => self.buf.split_to(partial.line),
        }
        .freeze();
        let follows = body.map(|b| frame.slice(b));
        // Truncated, not sliced: a slice would cost a reference count round trip.
        frame.truncate(headers_end);
        let headers = Headers::stamped(frame, self.redaction);
        let message = Message::new(headers, follows);
        match partial.kind {
            Kind::Response | Kind::Follows => Frame::Response(Response::new(message)),
            Kind::Event => Frame::Event(Event::new(message)),
            Kind::Unknown | Kind::Other => Frame::Other(message),
        }
    }

    /// Starts skipping the frame at the head of the buffer, past its limit.
    /// Its header lines before `headers_end` give the error its ActionID.
    fn too_large(&mut self, headers_end: usize) {
        let partial = std::mem::take(&mut self.partial);
        let action_id =
            headers::find(&self.buf[..headers_end], "ActionID").map(Bytes::copy_from_slice);
        let why = SkipWhy::TooLarge {
            limit: self.limit_of(partial.kind),
            response: matches!(partial.kind, Kind::Response | Kind::Follows),
            action_id,
        };
        self.start_skip(why, partial.kind == Kind::Follows);
    }

    fn limit_of(&self, kind: Kind) -> usize {
        match kind {
            Kind::Response | Kind::Follows => self.max_response,
            // Not known yet: the larger of the two, decided at the first line.
            Kind::Unknown => self.max_response.max(self.max_frame),
            Kind::Event | Kind::Other => self.max_frame,
        }
    }

    /// Starts discarding the frame at the head of the buffer. Scanning restarts
    /// at its first byte; memory is released as lines are passed.
    fn start_skip(&mut self, why: SkipWhy, follows: bool) {
        self.skip = Some(Skip {
            why,
            skipped: 0,
            line_len: 0,
            tail: [0; END_COMMAND.len()],
            follows,
        });
    }

    /// Discards buffered bytes of a skipped frame; at its end, reports it.
    fn skip_bytes(&mut self) -> Option<DecodeError> {
        let skip = self
            .skip
            .as_mut()
            .expect("skip_bytes runs only while skipping");
        let mut at = 0;
        let mut done = false;
        while at < self.buf.len() {
            let Some(off) = memchr::memchr(b'\n', &self.buf[at..]) else {
                skip.note_bytes(&self.buf[at..]);
                at = self.buf.len();
                break;
            };
            skip.note_bytes(&self.buf[at..at + off]);
            at += off + 1;
            let blank = skip.line_len == 0;
            let end_marker = skip.tail == *END_COMMAND;
            skip.line_len = 0;
            skip.tail = [0; END_COMMAND.len()];
            if (skip.follows && end_marker) || (!skip.follows && blank) {
                done = true;
                break;
            }
        }
        skip.skipped += at;
        let _ = self.buf.split_to(at);
        if !done {
            return None;
        }
        let skip = self.skip.take().expect("still skipping");
        Some(match skip.why {
            SkipWhy::Garbage => DecodeError::Garbage {
                skipped: skip.skipped,
            },
            SkipWhy::TooLarge {
                limit,
                response,
                action_id,
            } => DecodeError::FrameTooLarge {
                size: skip.skipped,
                limit,
                response,
                action_id,
            },
        })
    }
}

impl Skip {
    /// Accounts for bytes of the current line (without its `\n`).
    fn note_bytes(&mut self, bytes: &[u8]) {
        let content = headers::trim_crs(bytes);
        // CRs only count when followed by more content on the same line.
        if bytes.len() != content.len() && !content.is_empty() {
            self.line_len += bytes.len();
        } else {
            self.line_len += content.len();
        }
        for &b in bytes.iter().filter(|&&b| b != b'\r') {
            self.tail.copy_within(1.., 0);
            self.tail[END_COMMAND.len() - 1] = b;
        }
    }
}

enum Step {
    Frame(Frame),
    NeedMore,
    Skip,
}

/// Whether `bytes` start with `Event:`, ASCII case ignored.
///
/// Performance: asked of every frame; as one word (the buffer almost
/// always holds eight bytes) it costs a few instructions, where a
/// byte-by-byte compare cost forty.
#[inline]
pub(crate) fn starts_with_event(bytes: &[u8]) -> bool {
    const EVENT: u64 = u64::from_le_bytes(*b"event:\0\0");
    const SIX: u64 = (1 << 48) - 1;
    const LETTERS: u64 = headers::LETTERS >> 24;
    match bytes.first_chunk::<8>() {
        // The five letters in any case, the colon exactly.
        Some(word) => headers::same_letters(u64::from_le_bytes(*word) & SIX, EVENT, LETTERS),
        None => bytes
            .get(..6)
            .is_some_and(|start| start.eq_ignore_ascii_case(b"Event:")),
    }
}

/// A frame's kind from its first line, or `None` if it has no colon.
fn kind_of(line: &[u8]) -> Option<Kind> {
    if let Some(value) = response_value(line) {
        return Some(match value.eq_ignore_ascii_case(b"Follows") {
            true => Kind::Follows,
            false => Kind::Response,
        });
    }
    // Any line named `Response` took the way above.
    let (name, _) = headers::split_header(line)?;
    Some(match name.eq_ignore_ascii_case(b"Event") {
        true => Kind::Event,
        false => Kind::Other,
    })
}

/// The value of a first line that starts with `Response:`, ASCII case
/// ignored, as [`headers::split_header`] gives it; `None` for any other line.
///
/// Performance: every answer starts so. Its name as one word costs a few
/// instructions, where the search for the colon and the compare cost ninety
/// (a tenth of decoding a Ping's answer).
#[inline]
fn response_value(line: &[u8]) -> Option<&[u8]> {
    const RESPONSE: u64 = u64::from_le_bytes(*b"response");
    let (name, rest) = line.split_first_chunk::<8>()?;
    let value = rest.strip_prefix(b":")?;
    // The colon right after the name is the line's first: the name has
    // none. `fold_case` lowers capitals only, so this is the name compared
    // with ASCII case ignored.
    (headers::fold_case(u64::from_le_bytes(*name)) == RESPONSE)
        .then(|| headers::strip_space(headers::trim_crs(value)))
}

/// End of the line content: `nl` minus any `\r`s before it, not before `start`.
fn trimmed_end(buf: &[u8], start: usize, nl: usize) -> usize {
    start + headers::trim_crs(&buf[start..nl]).len()
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

    /// Everything the decoder yields for `input` fed in `chunk`-byte pieces,
    /// rendered as comparable strings.
    fn decode(input: &[u8], chunk: usize, max: usize) -> Vec<String> {
        let mut d = Decoder::new(max);
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            d.push(piece);
            while let Some(item) = d.next_frame() {
                out.push(render(item));
            }
        }
        out
    }

    fn render(item: Result<Frame, DecodeError>) -> String {
        match item {
            Ok(Frame::Banner(b)) => format!("banner {}", String::from_utf8_lossy(&b)),
            Ok(Frame::Response(r)) => format!("response {}", fields(&r)),
            Ok(Frame::Event(e)) => format!("event {}", fields(&e)),
            Ok(Frame::Other(m)) => format!("other {}", fields(&m)),
            Err(e) => format!("error {e:?}"),
        }
    }

    fn fields(m: &Message) -> String {
        let mut s = String::new();
        for (n, v) in m.headers().iter() {
            s += &format!(
                "[{}={}]",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            );
        }
        if let Some(text) = m.follows_text() {
            s += &format!("<follows {:?}>", String::from_utf8_lossy(text));
        }
        s
    }

    /// Asserts that every chunk size gives the same frames as the whole input.
    fn same_at_every_split(input: &[u8], max: usize) -> Vec<String> {
        let whole = decode(input, input.len(), max);
        for chunk in 1..=input.len().min(64) {
            assert_eq!(decode(input, chunk, max), whole, "chunk size {chunk}");
        }
        // Two pieces, split at every byte, handed over as `Bytes`: taken
        // over when nothing is buffered, else copied.
        for cut in 0..=input.len() {
            let mut d = Decoder::new(max);
            let mut out = Vec::new();
            for piece in [&input[..cut], &input[cut..]] {
                d.push_bytes(Bytes::copy_from_slice(piece));
                while let Some(item) = d.next_frame() {
                    out.push(render(item));
                }
            }
            assert_eq!(out, whole, "split at {cut}");
        }
        // Read in place: each piece into a room lent larger than it, as a
        // socket read fills part of its buffer.
        for chunk in 1..=input.len().min(64) {
            let mut d = Decoder::new(max);
            let mut out = Vec::new();
            for piece in input.chunks(chunk) {
                d.spare(piece.len() + 7)[..piece.len()].copy_from_slice(piece);
                d.commit(piece.len());
                while let Some(item) = d.next_frame() {
                    out.push(render(item));
                }
            }
            assert_eq!(out, whole, "in place, chunk size {chunk}");
        }
        whole
    }

    /// Reads `bytes` into `d` in place.
    fn read_in(d: &mut Decoder, bytes: &[u8]) {
        d.spare(bytes.len()).copy_from_slice(bytes);
        d.commit(bytes.len());
    }

    fn next_event(d: &mut Decoder) -> Event {
        match d.next_frame() {
            Some(Ok(Frame::Event(event))) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// A run of a list's items buffered together is taken in one call,
    /// whatever their lengths (so wherever their lines fall against the
    /// search's 64-byte blocks), each item as `next_frame` cuts it; the
    /// unfinished one is left where `next_frame` goes on with it.
    #[test]
    fn a_run_of_items_is_taken_whole_wherever_its_lines_fall() {
        use crate::message::is_list_item;
        for pad in 0..70 {
            let item = |n: usize| {
                let pad = "x".repeat((pad + 13 * n) % 70);
                format!(
                    "Event: CoreShowChannel\r\nActionID: list-1\r\nPad: {pad}\r\nN: {n}\r\n\r\n"
                )
            };
            let items: String = (0..20).map(item).collect();
            let mut input = items.clone().into_bytes();
            input.extend_from_slice(b"Event: CoreShowChannel\r\nActionID: list-1\r\n");
            let mut d = Decoder::without_banner(1 << 20);
            d.locate(true);
            d.push(&input);
            let mut cut = Vec::new();
            let run = d.take_run(None, |start, headers, located| {
                cut.push(start as usize..start as usize + headers.len());
                is_list_item(headers, b"list-1", located)
            });
            assert_eq!(run, items.as_bytes(), "pad {pad}");
            let mut want = Decoder::without_banner(1 << 20);
            want.push(items.as_bytes());
            for (n, range) in cut.iter().enumerate() {
                let Some(Ok(Frame::Event(event))) = want.next_frame() else {
                    panic!("pad {pad}: item {n}")
                };
                assert_eq!(
                    &run[range.clone()],
                    event.headers().raw(),
                    "pad {pad}: item {n}"
                );
            }
            assert_eq!(cut.len(), 20, "pad {pad}");
            assert!(d.next_frame().is_none());
            d.push(b"N: 20\r\n\r\n");
            let Some(Ok(Frame::Event(last))) = d.next_frame() else {
                panic!("pad {pad}: the last item")
            };
            assert_eq!(last.get_str("N").as_deref(), Some("20"), "pad {pad}");
        }
    }

    #[test]
    fn bytes_read_in_place_are_decoded_where_they_lie() {
        let mut d = Decoder::without_banner(1 << 16);
        let room = d.spare(100).as_ptr_range();
        read_in(&mut d, b"Event: A\r\n\r\nEvent: B\r\n");
        let a = next_event(&mut d);
        assert!(room.contains(&a.headers().raw().as_ptr()), "not copied");
        // The next read continues the unfinished frame in the same chunk.
        read_in(&mut d, b"X: 1\r\n\r\n");
        let b = next_event(&mut d);
        assert_eq!(b.get("X"), Some(&b"1"[..]));
        assert!(room.contains(&b.headers().raw().as_ptr()), "same chunk");
        assert!(d.next_frame().is_none());
    }

    #[test]
    fn a_chunk_is_reused_once_its_frames_are_dropped_and_kept_while_one_lives() {
        for keep in [false, true] {
            let mut d = Decoder::without_banner(1 << 20);
            let chunk = d.spare(READ_CHUNK).as_ptr_range();
            let frame = b"Event: A\r\nX: 1\r\n\r\n";
            let mut kept = Vec::new();
            // Fill the chunk with whole frames and an unfinished one.
            let whole = READ_CHUNK / frame.len();
            let mut bytes = frame.repeat(whole);
            bytes.truncate(READ_CHUNK);
            let tail = READ_CHUNK - whole * frame.len();
            bytes.extend_from_slice(&frame[..tail.min(frame.len())]);
            bytes.truncate(READ_CHUNK);
            read_in(&mut d, &bytes);
            for _ in 0..whole {
                let event = next_event(&mut d);
                if keep {
                    kept.push(event);
                }
            }
            assert!(d.next_frame().is_none());
            assert_eq!(d.buffered(), tail);
            // The chunk is full: the next read needs room.
            let next = d.spare(1000).as_ptr();
            assert_eq!(chunk.contains(&next), !keep, "keep {keep}");
            read_in(&mut d, &frame[tail..]);
            let last = next_event(&mut d);
            assert_eq!(last.get("X"), Some(&b"1"[..]), "the tail moved whole");
            // Kept frames still read right.
            assert!(kept.iter().all(|e| e.get("X") == Some(&b"1"[..])));
        }
    }

    #[test]
    fn small_reads_share_a_chunk_until_less_than_4_kib_is_left() {
        let mut d = Decoder::without_banner(1 << 20);
        let chunk = d.spare(READ_CHUNK).as_ptr_range();
        let frame = b"Event: A\r\n\r\n";
        let mut filled = 0;
        // Rooms of less than asked while 4 KiB or more is left.
        while READ_CHUNK - filled >= MIN_SPARE + frame.len() {
            let room = d.spare(READ_CHUNK);
            assert_eq!(room.len(), READ_CHUNK - filled);
            assert!(chunk.contains(&room.as_ptr()));
            read_in(&mut d, frame);
            filled += frame.len();
            assert_eq!(next_event(&mut d).name(), b"A");
        }
        read_in(&mut d, frame);
        filled += frame.len();
        assert!(READ_CHUNK - filled < MIN_SPARE);
        // Then the chunk, no frame of it alive, is taken again whole, the
        // buffered frame moved to its front.
        let room = d.spare(READ_CHUNK);
        assert_eq!(room.len(), READ_CHUNK - frame.len());
        assert_eq!(room.as_ptr(), chunk.start.wrapping_add(frame.len()));
        assert_eq!(next_event(&mut d).name(), b"A");
    }

    /// Reads `bytes` into `d`'s room lent uninitialised, in as many reads
    /// as the room takes.
    fn read_uninit(d: &mut Decoder, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let read = d.read_with(bytes.len(), |room| {
                let n = room.len().min(bytes.len());
                Ok::<_, ()>(room[..n].write_copy_of_slice(&bytes[..n]))
            });
            let n = read.expect("no error");
            assert!(n > 0, "the room is never empty");
            bytes = &bytes[n..];
        }
    }

    /// Reads `frames` copies of a 20-byte event through `d` in reads of
    /// 1000 bytes (into uninitialised room if `uninit`), keeping every
    /// event decoded.
    fn read_kept(d: &mut Decoder, frames: usize, uninit: bool) -> Vec<Event> {
        let bytes = b"Event: A\r\nX: 123\r\n\r\n".repeat(frames);
        assert_eq!(bytes.len(), 20 * frames);
        let mut kept = Vec::new();
        for piece in bytes.chunks(1000) {
            match uninit {
                true => read_uninit(d, piece),
                false => read_in(d, piece),
            }
            while let Some(Ok(Frame::Event(event))) = d.next_frame() {
                kept.push(event);
            }
        }
        assert_eq!(kept.len(), frames);
        kept
    }

    /// Whether `event` lies in one of `chunks`.
    fn inside(chunks: &[std::ops::Range<usize>], event: &Event) -> bool {
        let at = event.headers().raw().as_ptr() as usize;
        chunks.iter().any(|c| c.contains(&at))
    }

    #[test]
    fn a_dropped_lists_chunks_are_read_into_again_up_to_max_frame_bytes() {
        for uninit in [false, true] {
            let max = 4 * READ_CHUNK + READ_CHUNK / 2;
            let mut d = Decoder::without_banner(max);
            // Ten chunks' worth of frames, all kept, as a list's items are.
            let first = read_kept(&mut d, 10 * READ_CHUNK / 20, uninit);
            assert!(d.pool_bytes <= max);
            assert_eq!(d.pool.len(), 4, "the newest four under the bound");
            // A pooled chunk's range: reclaimed whole, its handle starts at
            // the chunk's start (reclaiming less may leave it mid-chunk).
            let reusable = |d: &mut Decoder| {
                let pool = d.pool.iter_mut();
                pool.filter_map(|(c, size)| {
                    c.try_reclaim(*size)
                        .then(|| c.as_ptr() as usize..c.as_ptr() as usize + *size)
                })
                .collect::<Vec<_>>()
            };
            assert!(reusable(&mut d).is_empty(), "the items are alive");
            drop(first);
            let pooled = reusable(&mut d);
            assert_eq!(pooled.len(), 4);
            // The next list is read into them (and into fresh memory after).
            let second = read_kept(&mut d, 10 * READ_CHUNK / 20, uninit);
            for chunk in &pooled {
                assert!(
                    second
                        .iter()
                        .any(|e| inside(std::slice::from_ref(chunk), e)),
                    "uninit {uninit}"
                );
            }
            assert!(second.iter().all(|e| e.get("X") == Some(&b"123"[..])));
            assert!(d.pool_bytes <= max);
            assert!(reusable(&mut d).is_empty());
        }
    }

    #[test]
    fn a_pooled_chunk_with_a_frame_alive_is_not_written_over() {
        for uninit in [false, true] {
            let mut d = Decoder::without_banner(64 * READ_CHUNK);
            let mut first = read_kept(&mut d, 3 * READ_CHUNK / 20, uninit);
            // The first chunk starts with the first frame.
            let at = first[0].headers().raw().as_ptr() as usize;
            let chunk = at..at + READ_CHUNK;
            // One frame of the first chunk lives on; the rest are dropped.
            let kept = first.swap_remove(5);
            drop(first);
            let second = read_kept(&mut d, 3 * READ_CHUNK / 20, uninit);
            assert_eq!(kept.headers().raw(), &b"Event: A\r\nX: 123\r\n"[..]);
            assert!(
                !second
                    .iter()
                    .any(|e| inside(std::slice::from_ref(&chunk), e)),
                "the chunk of a live frame was reused"
            );
            assert!(second.iter().all(|e| e.get("X") == Some(&b"123"[..])));
        }
    }

    #[test]
    fn a_frame_that_ends_a_read_is_cut_as_others_are() {
        // `read_kept` reads 50 whole frames at a time: the 50th of each is
        // the whole buffer when it is cut, the others are not.
        for (uninit, at) in [(false, 49), (true, 49), (true, 99), (true, 48)] {
            let mut d = Decoder::without_banner(64 * READ_CHUNK);
            let mut first = read_kept(&mut d, 3 * READ_CHUNK / 20, uninit);
            let chunk = first[0].headers().raw().as_ptr() as usize;
            let chunk = chunk..chunk + READ_CHUNK;
            let kept = first.swap_remove(at);
            assert!(inside(std::slice::from_ref(&chunk), &kept));
            drop(first);
            // The kept frame holds its chunk: not read into again.
            let second = read_kept(&mut d, 3 * READ_CHUNK / 20, uninit);
            assert_eq!(kept.headers().raw(), &b"Event: A\r\nX: 123\r\n"[..]);
            assert!(second.iter().all(|e| e.get("X") == Some(&b"123"[..])));
            let used = |events: &[Event]| {
                events
                    .iter()
                    .any(|e| inside(std::slice::from_ref(&chunk), e))
            };
            assert!(!used(&second), "the chunk of a live frame was reused");
            // Once it goes, the chunk is read into again.
            drop((kept, second));
            let third = read_kept(&mut d, 6 * READ_CHUNK / 20, uninit);
            assert!(used(&third), "{uninit} {at}: the chunk was not reused");
        }
    }

    #[test]
    fn reads_into_uninitialised_room_decode_as_copied_bytes_do() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/corpus/asterisk-22"
        );
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .expect("the corpus")
            .map(|entry| entry.expect("a corpus file").path())
            .filter(|path| path.extension().is_some_and(|e| e == "raw"))
            .collect();
        paths.sort();
        // The transcripts back to back (each one's banner is garbage to
        // the decoder after the first: skipped alike either way).
        let mut input = Vec::new();
        for path in &paths {
            input.extend(std::fs::read(path).expect("a transcript"));
        }
        input = input.repeat(1 + 4 * READ_CHUNK / input.len());
        assert!(input.len() > 4 * READ_CHUNK, "several chunks");
        for piece in [1, 7, 100, 4095, 4096, 5000, READ_CHUNK + 1] {
            let mut d = Decoder::new(1 << 20);
            let mut out = Vec::new();
            for bytes in input.chunks(piece) {
                read_uninit(&mut d, bytes);
                while let Some(item) = d.next_frame() {
                    out.push(render(item));
                }
            }
            assert_eq!(out, decode(&input, piece, 1 << 20), "pieces of {piece}");
        }
    }

    #[test]
    fn with_nothing_buffered_there_is_no_frame_in_any_state() {
        // A connection asks for no frame with nothing buffered: every state
        // (before the banner, between frames, skipping an oversized frame
        // or garbage, a Follows body) must agree.
        let long = format!("Event: Big\r\nData: {}\r\n\r\n", "x".repeat(300));
        let mut input = BANNER.to_vec();
        input.extend_from_slice(b"\r\nResponse: Success\r\nActionID: 1\r\n\r\n");
        input.extend_from_slice(long.as_bytes());
        input.extend_from_slice(b"garbage line\r\nmore\r\n\r\n");
        input.extend_from_slice(
            b"Response: Follows\r\nActionID: 2\r\nout\r\n\r\n--END COMMAND--\r\n\r\n",
        );
        input.extend_from_slice(b"Event: A\r\n\r\n");
        for piece in [1, 2, 3, 5, 7, 13] {
            let mut d = Decoder::new(256);
            let (mut frames, mut empty) = (0, 0);
            for bytes in input.chunks(piece) {
                d.push(bytes);
                while let Some(item) = d.next_frame() {
                    frames += 1;
                    assert!(frames < 100, "{item:?}");
                }
                if d.buffered() == 0 {
                    empty += 1;
                    assert!(d.next_frame().is_none(), "pieces of {piece}");
                }
            }
            assert_eq!(frames, 6, "pieces of {piece}");
            assert!(empty > 2, "pieces of {piece}: {empty}");
        }
    }

    #[test]
    fn a_read_of_nothing_or_a_failed_read_appends_nothing() {
        let mut d = Decoder::without_banner(1 << 16);
        read_uninit(&mut d, b"Event: A\r\n");
        assert_eq!(d.read_with(100, |_| Ok::<_, ()>(&mut [])), Ok(0));
        // A read that wrote bytes and then failed: they are not appended.
        let failed = d.read_with(100, |room| {
            room[..4].write_copy_of_slice(b"X: 1");
            Err("reset")
        });
        assert_eq!(failed, Err("reset"));
        assert_eq!(d.buffered(), 10);
        read_uninit(&mut d, b"\r\n");
        let a = next_event(&mut d);
        assert_eq!(a.headers().raw(), &b"Event: A\r\n"[..]);
        assert!(d.next_frame().is_none());
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    #[should_panic(expected = "not the first bytes")]
    fn a_read_returning_bytes_outside_the_room_panics() {
        let mut d = Decoder::without_banner(1 << 16);
        let elsewhere: &'static mut [u8] = Box::leak(Box::new(*b"Event: A\r\n\r\n"));
        let _ = d.read_with(100, |_| Ok::<_, ()>(elsewhere));
    }

    #[test]
    #[should_panic(expected = "not the first bytes")]
    fn a_read_returning_bytes_past_the_rooms_start_panics() {
        let mut d = Decoder::without_banner(1 << 16);
        let _ = d.read_with(100, |room| {
            Ok::<_, ()>(room[1..3].write_copy_of_slice(b"\r\n"))
        });
    }

    #[test]
    fn spare_after_read_with_lends_zeroed_room_and_both_append_in_order() {
        let mut d = Decoder::without_banner(1 << 16);
        read_uninit(&mut d, b"Event: A\r\n");
        assert!(d.spare(300).iter().all(|&b| b == 0), "zeroed");
        read_in(&mut d, b"\r\nEvent: B\r\n");
        read_uninit(&mut d, b"\r\n");
        assert_eq!(next_event(&mut d).name(), b"A");
        assert_eq!(next_event(&mut d).name(), b"B");
        assert!(d.next_frame().is_none());
    }

    #[test]
    fn a_frame_longer_than_a_chunk_grows_its_buffer_by_doubling() {
        let mut d = Decoder::without_banner(16 << 20);
        let line = b"Output: some command output line that is long enough\r\n";
        let mut frame = b"Response: Success\r\n".to_vec();
        while frame.len() < 8 << 20 {
            frame.extend_from_slice(line);
        }
        frame.extend_from_slice(b"\r\n");
        // Count the reads whose room does not follow the last one: each
        // time, the unfinished frame moved to a new buffer.
        let (mut moves, mut end) = (0, 0);
        for piece in frame.chunks(READ_CHUNK) {
            let room = d.spare(READ_CHUNK);
            let n = piece.len().min(room.len());
            moves += usize::from(room.as_ptr() as usize != end);
            end = room.as_ptr() as usize + n;
            room[..n].copy_from_slice(&piece[..n]);
            d.commit(n);
            read_in(&mut d, &piece[n..]);
        }
        assert!(moves <= 12, "the frame moved {moves} times");
        let Some(Ok(Frame::Response(r))) = d.next_frame() else {
            panic!("the frame")
        };
        assert_eq!(r.output_lines().count(), (frame.len() - 21) / line.len());
    }

    #[test]
    fn uncommitted_room_is_ignored_and_push_after_spare_appends() {
        let mut d = Decoder::without_banner(1 << 16);
        d.spare(64).copy_from_slice(&[b'Z'; 64]);
        d.commit(0);
        d.push(b"Event: A\r\n");
        d.spare(5000)[..4].copy_from_slice(b"\r\nQQ");
        d.commit(2);
        d.push_bytes(Bytes::from_static(b"Event: B\r\n\r\n"));
        assert_eq!(next_event(&mut d).name(), b"A");
        assert_eq!(next_event(&mut d).name(), b"B");
        assert!(d.next_frame().is_none());
        assert_eq!(d.buffered(), 0);
        // Taken over whole, then read into in place after it.
        d.push_bytes(Bytes::from(b"Event: C\r\n".to_vec()));
        read_in(&mut d, b"\r\n");
        assert_eq!(next_event(&mut d).name(), b"C");
    }

    #[test]
    #[should_panic(expected = "committed")]
    fn committing_more_than_the_room_panics() {
        let mut d = Decoder::without_banner(1 << 16);
        // The chunk has more room than was lent: only what was lent counts.
        d.spare(10);
        d.commit(11);
    }

    #[test]
    fn push_bytes_takes_over_an_unshared_buffer_and_copies_a_shared_one() {
        let input = Bytes::from_static(b"Event: A\r\n\r\nEvent: B\r\nX: 1\r\n\r\nEvent: C\r\n");
        for shared in [false, true] {
            let owned = Bytes::from(input.to_vec());
            let range = owned.as_ptr_range();
            let kept = shared.then(|| owned.clone());
            let mut d = Decoder::without_banner(1 << 16);
            d.push_bytes(owned);
            let mut names = Vec::new();
            while let Some(Ok(Frame::Event(event))) = d.next_frame() {
                let inside = range.contains(&event.headers().raw().as_ptr());
                assert_eq!(inside, !shared, "shared {shared}");
                names.push(event.name().to_vec());
            }
            assert_eq!(names, [b"A".to_vec(), b"B".to_vec()]);
            // The unfinished frame is buffered: the next bytes join it.
            d.push_bytes(Bytes::from(b"\r\n".to_vec()));
            let Some(Ok(Frame::Event(event))) = d.next_frame() else {
                panic!("event C")
            };
            assert_eq!(event.name(), b"C");
            drop(kept);
        }
    }

    #[test]
    fn event_frames_are_known_by_their_first_six_bytes_in_any_case() {
        for (bytes, event) in [
            (&b"Event: X"[..], true),
            (b"EVENT:Y\r\n", true),
            (b"eVeNt:", true),
            (b"Event", false),
            (b"Events: on", false),
            (b"Event;: X", false),
            (b"Evenu: X", false),
            (b"Response: Success", false),
            (b"\xc5vent: X", false),
            (b"Event\xba X", false),
        ] {
            assert_eq!(starts_with_event(bytes), event, "{bytes:?}");
            let start = bytes.get(..6).unwrap_or(bytes);
            assert_eq!(start.eq_ignore_ascii_case(b"Event:"), event, "{bytes:?}");
        }
    }

    #[test]
    fn a_frames_kind_is_read_off_its_first_line_in_any_case_and_spacing() {
        use Kind::{Event as E, Follows as F, Other as O, Response as R};
        for (line, kind) in [
            (&b"Response: Success"[..], Some(R)),
            (b"Response: Success\r", Some(R)),
            (b"RESPONSE:Error\r\r", Some(R)),
            (b"rEsPoNsE:", Some(R)),
            (b"Response: Follows", Some(F)),
            (b"response:follows\r", Some(F)),
            (b"Response: FOLLOWS\r\r", Some(F)),
            (b"Response:  Follows", Some(R)),
            (b"Response: Follows ", Some(R)),
            (b"Response: Follows\rx", Some(R)),
            (b"Response: Followsx", Some(R)),
            (b"Response: Follow", Some(R)),
            (b"Response", None),
            (b"Response\r", None),
            (b"Responses: x", Some(O)),
            (b"Response : x", Some(O)),
            (b"Respons: x", Some(O)),
            (b"Respons\xc5: x", Some(O)),
            (b"\xd2esponse: x", Some(O)),
            (b"Response\x00: x", Some(O)),
            (b"Event: Hangup", Some(E)),
            (b"EVENT:x", Some(E)),
            (b"Action: Ping", Some(O)),
            (b"no colon", None),
            (b":", Some(O)),
        ] {
            assert_eq!(kind_of(line), kind, "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn banner_then_response_and_event() {
        let mut input = BANNER.to_vec();
        input.extend_from_slice(b"Response: Success\r\nActionID: a-1\r\nMessage: Pong\r\n\r\n");
        input.extend_from_slice(b"Event: Hangup\r\nCause-txt: Normal Clearing\r\n\r\n");
        let out = same_at_every_split(&input, 1 << 16);
        assert_eq!(
            out,
            vec![
                "banner Asterisk Call Manager/11.0.0",
                "response [Response=Success][ActionID=a-1][Message=Pong]",
                "event [Event=Hangup][Cause-txt=Normal Clearing]",
            ]
        );
    }

    #[test]
    fn bare_lf_stray_blank_lines_and_odd_headers() {
        let input = b"Asterisk Call Manager/2.8.0\n\
            Response: Error\nMessage: Missing action in request\n\r\n\r\n\
            \r\n\n\
            Event: X\r\nKey:value\r\nEmpty:\r\nEmpty2: \r\nColon: a: b=c\r\nno colon line\r\nTrail: x  \r\n\r\n";
        let out = same_at_every_split(input, 1 << 16);
        assert_eq!(
            out,
            vec![
                "banner Asterisk Call Manager/2.8.0",
                "response [Response=Error][Message=Missing action in request]",
                "event [Event=X][Key=value][Empty=][Empty2=][Colon=a: b=c][=no colon line][Trail=x  ]",
            ]
        );
    }

    #[test]
    fn blank_lines_of_several_crs_end_frames_and_lines_with_content_do_not() {
        let long = "v".repeat(150);
        let input = format!(
            "Event: A\r\nLong: {long}\r\nMid: x\ry\r\n\r\rX\r\nLast: 1\r\n\r\r\n\
             Event: B\n\r\r\r\n\
             Event: C\r\nK: {long}\n\n"
        );
        let out = same_at_every_split(input.as_bytes(), 1 << 16);
        assert_eq!(
            out,
            vec![
                format!("event [Event=A][Long={long}][Mid=x\ry][=\r\rX][Last=1]"),
                "event [Event=B]".to_owned(),
                format!("event [Event=C][K={long}]"),
            ]
        );
    }

    #[test]
    fn legacy_follows_with_blank_lines_colons_and_glued_end() {
        let input = b"Asterisk Call Manager/1.1\r\n\
            Response: Follows\r\nPrivilege: Command\r\nActionID: c-1\r\n\
            Channel: state\nline two\n\nafter blank\n--END COMMAND--\r\n\r\n\
            Response: Follows\r\nPrivilege: Command\r\nglued last line--END COMMAND--\r\n\r\n\
            Response: Follows\r\nPrivilege: Command\r\n--END COMMAND--\r\n\r\n\
            Event: After\r\n\r\n";
        let out = same_at_every_split(input, 1 << 16);
        assert_eq!(
            out,
            vec![
                "banner Asterisk Call Manager/1.1",
                "response [Response=Follows][Privilege=Command][ActionID=c-1]<follows \"Channel: state\\nline two\\n\\nafter blank\\n\">",
                "response [Response=Follows][Privilege=Command]<follows \"glued last line\">",
                "response [Response=Follows][Privilege=Command]<follows \"\">",
                "event [Event=After]",
            ]
        );
    }

    #[test]
    fn oversized_frame_is_skipped_and_the_next_one_works() {
        let max = 64 << 10;
        let mut input = BANNER.to_vec();
        input.extend_from_slice(b"Event: Big\r\nActionID: big-1\r\n");
        for _ in 0..2000 {
            input.extend_from_slice(b"Filler: 0123456789012345678901234567890123456789\r\n");
        }
        input.extend_from_slice(b"\r\nResponse: Success\r\nActionID: ok-1\r\n\r\n");
        let big_len =
            input.len() - BANNER.len() - b"Response: Success\r\nActionID: ok-1\r\n\r\n".len();
        for chunk in [1, 7, 4096, input.len()] {
            let out = decode(&input, chunk, max);
            assert_eq!(out.len(), 3, "chunk {chunk}: {out:?}");
            assert_eq!(
                out[1],
                format!(
                    "error FrameTooLarge {{ size: {big_len}, limit: {max}, response: false, action_id: Some(b\"big-1\") }}"
                ),
                "chunk {chunk}"
            );
            assert_eq!(out[2], "response [Response=Success][ActionID=ok-1]");
        }
    }

    #[test]
    fn oversized_line_without_newline_keeps_memory_bounded() {
        let max = 64 << 10;
        let mut d = Decoder::new(max);
        d.push(BANNER);
        assert!(matches!(d.next_frame(), Some(Ok(Frame::Banner(_)))));
        d.push(b"Event: Flood\r\nData: ");
        let block = vec![b'x'; 8192];
        for _ in 0..1000 {
            d.push(&block);
            assert!(d.next_frame().is_none());
            assert!(
                d.buffered() <= max + block.len(),
                "buffered {}",
                d.buffered()
            );
        }
        d.push(b"\r\n\r\nEvent: Next\r\n\r\n");
        assert!(matches!(
            d.next_frame(),
            Some(Err(DecodeError::FrameTooLarge {
                response: false,
                ..
            }))
        ));
        assert!(matches!(d.next_frame(), Some(Ok(Frame::Event(e))) if e.is("Next")));
    }

    #[test]
    fn oversized_legacy_follows_skips_to_end_command() {
        let max = 64 << 10;
        let mut input = BANNER.to_vec();
        input.extend_from_slice(b"Response: Follows\r\nPrivilege: Command\r\nActionID: c-9\r\n");
        for _ in 0..6000 {
            input.extend_from_slice(b"output line\n\n");
        }
        input.extend_from_slice(b"--END COMMAND--\r\n\r\nResponse: Success\r\n\r\n");
        for chunk in [3, 1000, input.len()] {
            let out = decode(&input, chunk, max);
            assert!(
                out[1].contains("response: true") && out[1].contains("c-9"),
                "{out:?}"
            );
            assert_eq!(out[2], "response [Response=Success]");
            assert_eq!(out.len(), 3);
        }
    }

    #[test]
    fn response_limit_admits_large_command_output() {
        let max = 64 << 10;
        let mut input = b"Response: Success\r\nActionID: c-1\r\n".to_vec();
        for _ in 0..10_000 {
            input.extend_from_slice(b"Output: some command output line\r\n");
        }
        input.extend_from_slice(b"\r\n");
        let mut d = Decoder::without_banner(max);
        d.set_response_limit(16 << 20);
        d.push(&input);
        let Some(Ok(Frame::Response(r))) = d.next_frame() else {
            panic!("expected a response")
        };
        assert_eq!(r.output_lines().count(), 10_000);
        // The same frame as an event is over the limit.
        let mut d = Decoder::without_banner(max);
        d.push(b"Event: X\r\n");
        d.push(&input[b"Response: Success\r\n".len()..]);
        assert!(matches!(
            d.next_frame(),
            Some(Err(DecodeError::FrameTooLarge { .. }))
        ));
    }

    #[test]
    fn garbage_resynchronises_at_next_blank_line() {
        let input = b"Asterisk Call Manager/11.0.0\r\n\
            \x00\x01garbage without colon\r\nmore: junk\r\n\r\n\
            Event: Ok\r\n\r\n";
        let out = same_at_every_split(input, 1 << 16);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[1], "error Garbage { skipped: 39 }");
        assert_eq!(out[2], "event [Event=Ok]");
    }

    #[test]
    fn stream_without_banner_starts_with_a_frame() {
        let out = decode(b"Action: Login\r\nUsername: u\r\n\r\n", 5, 1 << 16);
        assert_eq!(out, vec!["other [Action=Login][Username=u]"]);
    }

    #[test]
    fn frames_share_one_buffer_without_copies() {
        let mut d = Decoder::without_banner(1 << 16);
        d.push(b"Event: A\r\nX: 1\r\n\r\n");
        let Some(Ok(Frame::Event(e))) = d.next_frame() else {
            panic!()
        };
        let raw = e.headers().raw().clone();
        let value = e.headers().get_bytes("X").expect("X");
        assert_eq!(&value[..], b"1");
        let range = raw.as_ptr() as usize..raw.as_ptr() as usize + raw.len();
        assert!(
            range.contains(&(value.as_ptr() as usize)),
            "value is a slice of the frame"
        );
    }
}
