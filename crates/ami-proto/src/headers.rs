//! Ordered multimap of header ranges into one shared `Bytes` buffer.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use crate::redact::RedactionPolicy;

/// One `Name: value` line as offsets into the frame buffer.
///
/// A line without a colon keeps its text as the value and has an empty name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: (u32, u32),
    pub(crate) value: (u32, u32),
}

impl Field {
    /// A field of a decoded frame. The decoder keeps every frame under its
    /// limit, which it clamps to `u32::MAX`, so the casts cannot truncate.
    pub(crate) fn in_frame(name: Range<usize>, value: Range<usize>) -> Self {
        debug_assert!(name.end <= u32::MAX as usize && value.end <= u32::MAX as usize);
        Field {
            name: (name.start as u32, name.end as u32),
            value: (value.start as u32, value.end as u32),
        }
    }

    pub(crate) fn new(name: Range<usize>, value: Range<usize>) -> Self {
        // Frames are bounded far below 4 GiB (max_frame <= 256 MiB, output <= 1 GiB).
        let cast = |v: usize| u32::try_from(v).expect("frame offsets fit in u32");
        Field {
            name: (cast(name.start), cast(name.end)),
            value: (cast(value.start), cast(value.end)),
        }
    }
}

/// The headers of one frame, in wire order, repeated names kept.
///
/// Look-ups compare names ASCII-case-insensitively (`Uniqueid` finds
/// `UniqueID`). Values are bytes; [`Headers::get_str`] gives a UTF-8 view.
/// Cloning is cheap: the bytes are shared.
#[derive(Clone, Default)]
pub struct Headers {
    buf: Bytes,
    fields: Vec<Field>,
}

impl Headers {
    pub(crate) fn from_parts(buf: Bytes, fields: Vec<Field>) -> Self {
        Headers { buf, fields }
    }

    /// Builds headers from `(name, value)` pairs (tests, simulators, FFI).
    ///
    /// A pair with an empty name stands for a line without a colon.
    pub fn from_pairs<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let mut buf = Vec::new();
        let mut fields = Vec::new();
        for (name, value) in pairs {
            let n0 = buf.len();
            buf.extend_from_slice(name.as_bytes());
            let n1 = buf.len();
            buf.extend_from_slice(value);
            fields.push(Field::new(n0..n1, n1..buf.len()));
        }
        Headers {
            buf: Bytes::from(buf),
            fields,
        }
    }

    /// Number of lines (headers and colon-less lines).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no lines at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    fn slice(&self, (a, b): (u32, u32)) -> &[u8] {
        &self.buf[a as usize..b as usize]
    }

    /// Every line in order as `(name, value)`; colon-less lines have an empty name.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(move |f| (self.slice(f.name), self.slice(f.value)))
    }

    /// The first value of `name`, compared ASCII-case-insensitively.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.position(name)
            .map(|i| self.slice(self.fields[i].value))
    }

    fn position(&self, name: &str) -> Option<usize> {
        let name = name.as_bytes();
        self.fields.iter().position(|f| {
            let n = self.slice(f.name);
            n.len() == name.len() && n.eq_ignore_ascii_case(name)
        })
    }

    /// The first value of `name` as text (lossy UTF-8).
    pub fn get_str(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(String::from_utf8_lossy)
    }

    /// The first value of `name` as a cheap shared `Bytes` slice.
    pub fn get_bytes(&self, name: &str) -> Option<Bytes> {
        let f = self.fields[self.position(name)?];
        Some(self.buf.slice(f.value.0 as usize..f.value.1 as usize))
    }

    /// Every value of `name`, in order (e.g. `Output`, `Variable`).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let name = name.as_bytes();
        self.fields
            .iter()
            .filter(move |f| {
                let n = self.slice(f.name);
                n.len() == name.len() && n.eq_ignore_ascii_case(name)
            })
            .map(move |f| self.slice(f.value))
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Lines that had no colon (kept, never fatal).
    pub fn lines_without_colon(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().filter(|(n, _)| n.is_empty()).map(|(_, v)| v)
    }

    /// The frame's bytes as received (terminator excluded).
    pub fn raw(&self) -> &Bytes {
        &self.buf
    }

    /// A `Debug` view that applies `policy` to every value.
    pub fn redacted<'a>(&'a self, policy: &'a RedactionPolicy) -> RedactedHeaders<'a> {
        RedactedHeaders {
            headers: self,
            policy,
        }
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(RedactionPolicy::default_ref()), f)
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

    #[test]
    fn colonless_lines_are_kept() {
        let h = sample();
        let lines: Vec<_> = h.lines_without_colon().collect();
        assert_eq!(lines, vec![&b"no colon here"[..]]);
        assert_eq!(h.len(), 6);
    }

    #[test]
    fn debug_redacts_secrets() {
        let text = format!("{:?}", sample());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("Newchannel"));
    }
}
