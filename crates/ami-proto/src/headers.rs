//! Ordered multimap of header lines in one shared `Bytes` buffer.
//!
//! Nothing is indexed ahead: lines are found when headers are read, 64 bytes
//! at a time ([`crate::lines`]), and a line is split into name and value
//! only when it is returned (its colon found in the same pass). A look-up by name needs no split at all: a line
//! holds `name` exactly when it starts with `name` followed by a colon.
//! Most events are only asked their name (the first line), or are dropped
//! unread, so the decoder does not pay for an index they never use; each
//! look-up walks the lines up to its match, about what building an index
//! costs once.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use crate::lines::{self, Line, LineEnds, Lines};
use crate::redact::RedactionPolicy;

/// The headers of one frame, in wire order, repeated names kept.
///
/// Look-ups compare names ASCII-case-insensitively (`Uniqueid` finds
/// `UniqueID`). Values are bytes; [`Headers::get_str`] gives a UTF-8 view.
/// A line without a colon is kept with an empty name. Cloning is cheap: the
/// bytes are shared, and from the decoder they are a slice of a receive
/// chunk (see [`crate::Message::detach`] before keeping them for long).
///
/// `Debug` hides secret values per the [`RedactionPolicy`] of the connection
/// (or decoder) that produced the headers, [`Headers::redaction`].
#[derive(Clone)]
pub struct Headers {
    /// Whole lines, each ending in `\n` (bytes after the last `\n` are not
    /// a line).
    buf: Bytes,
    /// The policy `Debug` applies: interned for the life of the process
    /// ([`RedactionPolicy::interned`]), so stamping a frame is a pointer
    /// copy and dropping one costs nothing, whatever the policy.
    redaction: &'static RedactionPolicy,
}

impl Default for Headers {
    fn default() -> Self {
        Headers::new(Bytes::new())
    }
}

impl Headers {
    /// Headers over the lines of `buf`, printed under the default policy.
    pub(crate) fn new(buf: Bytes) -> Self {
        Headers::stamped(buf, RedactionPolicy::default_ref())
    }

    /// Headers over the lines of `buf`, printed under `redaction`.
    pub(crate) fn stamped(buf: Bytes, redaction: &'static RedactionPolicy) -> Self {
        Headers { buf, redaction }
    }

    /// The same headers over `buf`, a copy of [`Headers::raw`].
    pub(crate) fn with_buf(&self, buf: Bytes) -> Self {
        debug_assert_eq!(buf, self.buf);
        Headers::stamped(buf, self.redaction)
    }

    /// The redaction policy these headers are printed under: the one
    /// configured on the connection (or [`crate::Decoder`]) that decoded
    /// them, else the default. Apply it when logging single values.
    pub fn redaction(&self) -> &RedactionPolicy {
        self.redaction
    }

    /// Builds headers from `(name, value)` pairs (tests, simulators, FFI),
    /// laid out as wire lines `name: value`.
    ///
    /// A pair with an empty name stands for a line without a colon.
    ///
    /// # Panics
    ///
    /// If a pair could not be read back from its line: a name with a colon,
    /// CR or LF, a value with CR or LF, or a colon in a colon-less line.
    pub fn from_pairs<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let mut buf = Vec::new();
        for (name, value) in pairs {
            let bad = |bytes: &[u8], also: &[u8]| {
                bytes
                    .iter()
                    .any(|b| matches!(b, b'\r' | b'\n') || also.contains(b))
            };
            assert!(
                !bad(name.as_bytes(), b":")
                    && !bad(value, if name.is_empty() { b":" } else { b"" }),
                "header {name:?} cannot be written as one line"
            );
            if !name.is_empty() {
                buf.extend_from_slice(name.as_bytes());
                buf.extend_from_slice(b": ");
            }
            buf.extend_from_slice(value);
            buf.push(b'\n');
        }
        Headers::new(Bytes::from(buf))
    }

    /// Number of lines (headers and colon-less lines), counted on each call.
    pub fn len(&self) -> usize {
        LineEnds::new(&self.buf, 0).count()
    }

    /// Whether there are no lines at all.
    pub fn is_empty(&self) -> bool {
        memchr::memchr(b'\n', &self.buf).is_none()
    }

    /// Every line in order as `(name, value)`; colon-less lines have an empty name.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        pairs(&self.buf)
    }

    /// The first value of `name`, compared ASCII-case-insensitively.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        find(&self.buf, name)
    }

    /// [`Headers::get`] of each of `S::NAMES`, found in one pass over the
    /// lines.
    #[inline]
    pub(crate) fn get_set<const N: usize, S: lines::NameSet<N>>(&self) -> [Option<&[u8]>; N] {
        find_set::<N, S>(&self.buf)
    }

    /// As [`Headers::get`] for a `name` that is usually the first line's
    /// (`Event`, `Response`): that line is tried before any search.
    #[inline(always)] // The name is a constant: its compare folds away.
    pub(crate) fn get_leading(&self, name: &str) -> Option<&[u8]> {
        debug_assert!(is_simple(name));
        let first = LineEnds::new(&self.buf, 0)
            .next()
            .map(|end| &self.buf[..end]);
        first
            .and_then(|line| value_of(line, name.as_bytes()))
            .or_else(|| self.get(name))
    }

    /// [`Headers::get_leading`] of `Event`.
    ///
    /// Performance: an event's first line starts with `Event:`, told by one
    /// word compare ([`crate::frame::starts_with_event`]), where comparing
    /// the name as a header name cost about 20 more instructions.
    #[inline]
    pub(crate) fn event_name(&self) -> Option<&[u8]> {
        if crate::frame::starts_with_event(&self.buf) {
            if let Some(end) = LineEnds::new(&self.buf, 0).next() {
                return Some(strip_space(trim_crs(&self.buf[6..end])));
            }
        }
        self.get_leading("Event")
    }

    /// The first value of `name` as text (lossy UTF-8).
    pub fn get_str(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(String::from_utf8_lossy)
    }

    /// The first value of `name` as a cheap shared `Bytes` slice.
    pub fn get_bytes(&self, name: &str) -> Option<Bytes> {
        self.get(name).map(|value| self.buf.slice_ref(value))
    }

    /// Every value of `name`, in order (e.g. `Output`, `Variable`).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        pairs(&self.buf)
            .filter_map(move |(n, v)| n.eq_ignore_ascii_case(name.as_bytes()).then_some(v))
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Lines that had no colon (kept, never fatal).
    pub fn lines_without_colon(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().filter(|(n, _)| n.is_empty()).map(|(_, v)| v)
    }

    /// The header lines as received (the blank line that ends them, and a
    /// legacy Follows body, excluded).
    pub fn raw(&self) -> &Bytes {
        &self.buf
    }

    /// The lines' bytes and the policy they print under.
    pub(crate) fn into_parts(self) -> (Bytes, &'static RedactionPolicy) {
        (self.buf, self.redaction)
    }

    /// An owned copy of exactly these lines, sharing no buffer with the
    /// frame they came from (see [`crate::Message::detach`]).
    pub fn detach(&self) -> Headers {
        self.with_buf(Bytes::copy_from_slice(&self.buf))
    }

    /// A `Debug` view that applies `policy` to every value.
    pub fn redacted<'a>(&'a self, policy: &'a RedactionPolicy) -> RedactedHeaders<'a> {
        RedactedHeaders {
            headers: self,
            policy,
        }
    }
}

/// The lines of `buf`, each without its `\n` (`\r`s kept: they are trimmed
/// off only what is returned, see [`trim_crs`]).
fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    LineEnds::new(buf, 0).map(move |end| {
        let line = &buf[start..end];
        start = end + 1;
        line
    })
}

/// `bytes` without the `\r`s that end it.
///
/// Performance: a line mostly ends in one `\r`, taken off without the
/// loop (asked twice of every list item).
#[inline]
pub(crate) fn trim_crs(mut bytes: &[u8]) -> &[u8] {
    if let [rest @ .., last, b'\r'] = bytes {
        if *last != b'\r' {
            return &bytes[..rest.len() + 1];
        }
    }
    while let [rest @ .., b'\r'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The first value of `name` among the lines of `buf`.
#[inline]
pub(crate) fn find<'a>(buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    match name.len() {
        1..64 => find_simple(buf, name.as_bytes()),
        _ => find_any(buf, name),
    }
}

/// [`find`] for any name: the lines walked one by one.
#[inline(never)]
fn find_any<'a>(buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    if !name.is_empty() {
        let found = lines(buf).find_map(|line| value_of(line, name.as_bytes()));
        // Checked only on a match: a name with a colon has none (see
        // `is_simple`), whatever line starts with it.
        if found.is_none() || is_simple(name) {
            return found;
        }
    }
    pairs(buf)
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v)
}

/// [`find`] of each of `S::NAMES`, in one pass built for them
/// ([`lines::find_set`]).
#[inline]
pub(crate) fn find_set<const N: usize, S: lines::NameSet<N>>(buf: &[u8]) -> [Option<&[u8]>; N] {
    lines::find_set::<N, S>(buf).map(|colon| value_after(buf, colon?))
}

/// [`find`] for a name of 1-63 bytes: only the colons
/// `name.len()` bytes after a line start are looked at
/// ([`lines::find_name`]).
///
/// Performance: telling a list's items from its end looks for
/// `EventList`, which items do not have; walking their 20-30 lines for it
/// was half of what collecting an item cost.
#[inline]
fn find_simple<'a>(buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    value_after(buf, lines::find_name(buf, name)?)
}

/// The value of the line whose name ends at `colon`, if that line is whole.
#[inline]
pub(crate) fn value_after(buf: &[u8], colon: usize) -> Option<&[u8]> {
    // Bytes after the last `\n` are not a line, and no line follows.
    let end = colon + 1 + memchr::memchr(b'\n', &buf[colon + 1..])?;
    Some(strip_space(trim_crs(&buf[colon + 1..end])))
}

/// Whether `name` can only match a line that starts with `name:` (every real
/// header name; an empty name matches colon-less lines, and a name with a
/// colon matches nothing, as the first colon ends a name).
fn is_simple(name: &str) -> bool {
    !name.is_empty() && !name.as_bytes().contains(&b':')
}

/// The value of `line` if its name is `name` (which has no colon).
#[inline]
fn value_of<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    match line.get(name.len()..)? {
        [b':', value @ ..] if same_name(&line[..name.len()], name) => {
            Some(strip_space(trim_crs(value)))
        }
        _ => None,
    }
}

/// `a.eq_ignore_ascii_case(b)`, eight bytes at a time: header names are
/// 5-20 bytes, where std's byte loop costs more than the rest of a look-up.
#[inline]
pub(crate) fn same_name(a: &[u8], b: &[u8]) -> bool {
    same_words(a, b, fold_case)
}

/// `a == b`, eight bytes at a time: an `ActionID` compared so costs a few
/// instructions, where `==` calls libc's `bcmp` (about 20).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    same_words(a, b, |word| word)
}

/// Whether `a` and `b` are the same, compared eight bytes at a time, each
/// word passed through `fold` first.
#[inline(always)]
fn same_words(a: &[u8], b: &[u8], fold: impl Fn(u64) -> u64) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        // Gathered byte by byte: a copy into a word would call `memcpy`.
        let word = |bytes: &[u8]| fold(bytes.iter().fold(0, |w, &b| w << 8 | u64::from(b)));
        return word(a) == word(b);
    }
    let word = |bytes: &[u8], at: usize| {
        let eight: [u8; 8] = bytes[at..at + 8].try_into().expect("eight bytes");
        fold(u64::from_le_bytes(eight))
    };
    let mut at = 0;
    while at + 8 <= n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    // The last bytes, in a word that overlaps ones already compared.
    at == n || word(a, n - 8) == word(b, n - 8)
}

/// Whether `word`'s bytes are `lower`'s with ASCII case ignored, where the
/// bytes `letters` marks (`0x20` each) are lowercase ASCII letters in
/// `lower`, and the others are compared exactly.
///
/// Performance: a byte ORed with `0x20` is a given lowercase letter only
/// if it is that letter or its capital, so for letters one OR does what
/// [`fold_case`] does in a dozen instructions. Asked of every list item
/// (its `Event:`, `ActionID` and `...Complete` names).
#[inline]
pub(crate) fn same_letters(word: u64, lower: u64, letters: u64) -> bool {
    debug_assert!(lower
        .to_le_bytes()
        .iter()
        .zip(letters.to_le_bytes())
        .all(|(&byte, letter)| letter == 0 || (letter == 0x20 && byte.is_ascii_lowercase())));
    word | letters == lower
}

/// [`same_letters`]' mask for eight letters.
pub(crate) const LETTERS: u64 = 0x2020_2020_2020_2020;

/// Eight bytes with their ASCII capitals lower-cased (and nothing else
/// changed), without a branch.
#[inline]
pub(crate) fn fold_case(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Each byte's low seven bits plus a constant sets its high bit exactly
    // when it is at least `A` (or more than `Z`); no sum carries into the
    // next byte.
    let low = word & (0x7f * ONES);
    let from_a = low + (0x80 - u64::from(b'A')) * ONES;
    let past_z = low + (0x80 - u64::from(b'Z') - 1) * ONES;
    let capitals = from_a & !past_z & !word & (0x80 * ONES);
    word | capitals >> 2
}

/// Every line of `buf` as `(name, value)`: split at its first colon, or
/// `("", line)`; trailing `\r`s trimmed, as [`split_header`] does.
#[inline]
fn pairs(buf: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    Lines::new(buf).map(move |Line { start, end, colon }| match colon {
        Some(colon) => (
            &buf[start..colon],
            strip_space(trim_crs(&buf[colon + 1..end])),
        ),
        None => (&b""[..], trim_crs(&buf[start..end])),
    })
}

/// A `Name: value` line (its ending `\r`s trimmed) split at the first
/// colon, or `None` if it has none.
pub(crate) fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = trim_crs(line);
    let colon = memchr::memchr(b':', line)?;
    Some((&line[..colon], strip_space(&line[colon + 1..])))
}

/// One space after the colon belongs to the syntax; more are the value's own
/// (Command output keeps its indentation).
#[inline]
pub(crate) fn strip_space(value: &[u8]) -> &[u8] {
    value.strip_prefix(b" ").unwrap_or(value)
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(self.redaction()), f)
    }
}

/// `Debug` of headers with secrets replaced, per a [`RedactionPolicy`].
pub struct RedactedHeaders<'a> {
    headers: &'a Headers,
    policy: &'a RedactionPolicy,
}

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_list();
        for (name, value) in self.headers.iter() {
            let name = String::from_utf8_lossy(name);
            let shown = self.policy.apply(&name, value);
            map.entry(&format_args!("{name}: {shown}"));
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Headers {
        Headers::from_pairs([
            ("Event", &b"Newchannel"[..]),
            ("UniqueID", b"1.0"),
            ("Output", b"a"),
            ("output", b""),
            ("", b"no colon here"),
            ("Secret", b"hunter2"),
        ])
    }

    #[test]
    fn lookup_is_ascii_case_insensitive_and_ordered() {
        let h = sample();
        assert_eq!(h.get("uniqueid"), Some(&b"1.0"[..]));
        assert_eq!(h.get("UNIQUEID"), Some(&b"1.0"[..]));
        let outputs: Vec<_> = h.get_all("Output").collect();
        assert_eq!(outputs, vec![&b"a"[..], b""]);
        assert_eq!(h.get("Missing"), None);
        assert_eq!(h.get_bytes("event").as_deref(), Some(&b"Newchannel"[..]));
    }

    /// `trim_crs` takes off every `\r` that ends the bytes, and only those,
    /// for every string of up to six bytes of `a`, `\r` and `\n`.
    #[test]
    fn trim_crs_takes_off_every_ending_cr() {
        let mut tried = 0;
        for len in 0..=6u32 {
            for n in 0..3usize.pow(len) {
                let bytes: Vec<u8> = (0..len)
                    .map(|i| [b'a', b'\r', b'\n'][n / 3usize.pow(i) % 3])
                    .collect();
                let keep = bytes
                    .iter()
                    .rposition(|&b| b != b'\r')
                    .map_or(0, |at| at + 1);
                assert_eq!(trim_crs(&bytes), &bytes[..keep], "{bytes:?}");
                tried += 1;
            }
        }
        assert_eq!(tried, 1093);
    }

    /// For every byte and every lowercase letter, `same_letters` is
    /// `eq_ignore_ascii_case`, in each byte of the word; bytes outside the
    /// mask compare exactly.
    #[test]
    fn same_letters_is_eq_ignore_ascii_case_for_letters() {
        for letter in b'a'..=b'z' {
            for byte in 0..=u8::MAX {
                for at in 0..8 {
                    let mut word = *b"abcdefgh";
                    let mut lower = *b"abcdefgh";
                    (word[at], lower[at]) = (byte, letter);
                    let got =
                        same_letters(u64::from_le_bytes(word), u64::from_le_bytes(lower), LETTERS);
                    assert_eq!(
                        got,
                        byte.eq_ignore_ascii_case(&letter),
                        "{byte:#x} for {letter}"
                    );
                }
            }
        }
        let event = u64::from_le_bytes(*b"event:\0\0");
        let five = LETTERS >> 24;
        for byte in 0..=u8::MAX {
            let word = u64::from_le_bytes([b'E', b'V', b'e', b'N', b't', byte, 0, 0]);
            assert_eq!(same_letters(word, event, five), byte == b':', "{byte:#x}");
        }
    }

    #[test]
    fn same_name_is_eq_ignore_ascii_case_and_same_bytes_is_eq() {
        // Every pair of bytes, capitals and their neighbours (`@`, `[`,
        // `` ` ``, `{`) and high bytes included, at every place in names of
        // every length up to 20 (words, a tail word, the short path).
        for len in 1..=20 {
            for at in 0..len {
                for x in 0..=255u8 {
                    for y in [x, x ^ 0x20, x ^ 0x80, b'a', b'A', b'@', b'`', 0] {
                        let mut a = vec![b'k'; len];
                        let mut b = a.clone();
                        a[at] = x;
                        b[at] = y;
                        assert_eq!(same_name(&a, &b), a.eq_ignore_ascii_case(&b), "{a:?} {b:?}");
                        assert_eq!(same_bytes(&a, &b), a == b, "{a:?} {b:?}");
                    }
                }
            }
        }
        assert!(!same_name(b"Event", b"Events"));
        assert!(same_name(b"", b""));
        assert!(!same_bytes(b"list-1", b"list-10"));
        assert!(same_bytes(b"", b""));
    }

    /// Names of several lengths, prefixes of each other, in mixed case.
    struct Sought;

    impl lines::NameSet<5> for Sought {
        const NAMES: [&'static [u8]; 5] = [b"ActionID", b"eventlist", b"ActionIDs", b"Ac", b"A"];
    }

    /// The look-up by colon position agrees with a walk over the lines, on
    /// random lines of names near the searched ones (every case, short
    /// lines, colons in values, `\r`s, a last line with no `\n`), across
    /// 64-byte blocks; so does the pass for several names at once.
    #[test]
    fn lookup_by_colon_position_agrees_with_a_walk_over_the_lines() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let names = [
            "ActionID",
            "actionid",
            "EventList",
            "Event",
            "A",
            "ActionIDs",
            "Ac",
        ];
        let long = "L".repeat(63);
        for _ in 0..5_000 {
            let mut buf = Vec::new();
            for _ in 0..next(12) {
                match next(4) {
                    0 => buf.extend_from_slice(names[next(names.len())].as_bytes()),
                    1 => buf.extend_from_slice(long.as_bytes()),
                    _ => (0..next(70)).for_each(|_| buf.push(b"aA:\r x\n"[next(7)])),
                }
                buf.extend_from_slice(&b": value:1\r\n"[next(3)..9 + next(3)]);
            }
            for name in names.iter().copied().chain([&long[..], "x", "a"]) {
                let walked = pairs(&buf)
                    .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                    .map(|(_, v)| v);
                assert_eq!(
                    find(&buf, name),
                    walked,
                    "{name:?} in {:?}",
                    String::from_utf8_lossy(&buf)
                );
            }
            // Several names in one pass: what one look-up per name finds.
            assert_eq!(
                find_set::<5, Sought>(&buf),
                <Sought as lines::NameSet<5>>::NAMES
                    .map(|name| find(&buf, std::str::from_utf8(name).unwrap())),
                "{:?}",
                String::from_utf8_lossy(&buf)
            );
        }
    }

    /// The shortcut for an event's name finds what the first-line look-up
    /// finds: any case, with or without spaces and `\r`s, and when the first
    /// line is not the event's name (or no line is whole).
    #[test]
    fn event_name_is_the_leading_event_header() {
        for raw in [
            &b"Event: Newchannel\r\nChannel: x\r\n"[..],
            b"EVENT:Hangup\n",
            b"event:   spaced \r\r\n",
            b"Event:\r\n",
            b"Events: no\r\nEvent: late\r\n",
            b"Response: Success\r\nEvent: second\r\n",
            b"Event: no line end",
            b"Event",
            b"",
        ] {
            let h = Headers::new(Bytes::from_static(raw));
            assert_eq!(h.event_name(), h.get_leading("Event"), "{raw:?}");
        }
    }

    #[test]
    fn colonless_lines_are_kept() {
        let h = sample();
        let lines: Vec<_> = h.lines_without_colon().collect();
        assert_eq!(lines, vec![&b"no colon here"[..]]);
        assert_eq!(h.len(), 6);
    }

    #[test]
    fn names_match_whole_names_only() {
        let h = sample();
        // A name is the text before the first colon, so one with a colon,
        // or a prefix of a real name, finds nothing.
        assert_eq!(h.get("Event:Newchannel"), None);
        assert_eq!(h.get("Even"), None);
        assert_eq!(h.get("EventX"), None);
        // The empty name is that of colon-less lines.
        assert_eq!(h.get(""), Some(&b"no colon here"[..]));
        assert_eq!(h.get_all("").count(), 1);
    }

    #[test]
    fn values_keep_all_but_one_leading_space_and_lose_trailing_crs() {
        let h = Headers::new(Bytes::from_static(
            b"A:  two\r\r\nB:\nC:x: y\n:lead\nno end",
        ));
        let pairs: Vec<_> = h.iter().collect();
        assert_eq!(
            pairs,
            vec![
                (&b"A"[..], &b" two"[..]),
                (b"B", b""),
                (b"C", b"x: y"),
                (b"", b"lead"),
            ]
        );
        assert_eq!(h.get("a"), Some(&b" two"[..]));
        assert_eq!(h.get_bytes("C").as_deref(), Some(&b"x: y"[..]));
    }

    #[test]
    #[should_panic(expected = "cannot be written as one line")]
    fn from_pairs_refuses_a_value_that_would_split_its_line() {
        Headers::from_pairs([("Variable", &b"a\r\nEvent: Fake"[..])]);
    }

    #[test]
    fn debug_redacts_secrets() {
        let text = format!("{:?}", sample());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("Newchannel"));
    }
}
