//! ActionIDs: the value type and the generator of unique, bounded ids.
//!
//! A generated id reads `<prefix>-<instance>-<seq>`: the configured prefix
//! (sanitised, shortened when long), eight base32 characters drawn from the
//! seed so that two processes or connections sharing a server do not collide,
//! and a decimal counter. Every id fits in the configured maximum length, at
//! most 64 bytes, because some server handlers copy ActionIDs into fixed
//! buffers and old servers keep only about 67 bytes of one in some events.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use bytes::Bytes;

use crate::error::{ConfigError, SendError};
use crate::rng::Rng;

/// The ActionID of an action: ASCII text when generated here, any bytes when
/// seen on the wire. Compares, orders, hashes and borrows as its bytes, so a
/// `HashMap<ActionId, _>` can be queried with a `&[u8]` from a frame.
#[derive(Clone)]
pub struct ActionId(Repr);

/// Bytes an id keeps in place: a generated id with a prefix of up to about
/// 16 characters and a sequence number of up to 10 digits.
const INLINE: usize = 38;

/// Where an id's bytes are.
///
/// Performance: a generated id is copied into the core's table three times
/// (map, FIFO, deadline heap) and into the adapter's; as a `Bytes` built
/// from a `Vec`, that cost an allocation for the id and another for the
/// shared header at its first clone (and two frees) per action sent. In
/// place, a clone is a copy of 40 bytes.
#[derive(Clone)]
enum Repr {
    /// A short id (every generated one with the default prefix).
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A longer id, or one seen on the wire (a slice of its frame).
    Shared(Bytes),
}

impl ActionId {
    /// An id of the first `len` bytes of `padded`, whose bytes after them
    /// are zero, at least to [`INLINE`] bytes in all: in place, it is a
    /// copy of those first [`INLINE`] bytes (of a fixed size: no `memset`
    /// and no copy of a variable length).
    fn of_padded(padded: &[u8], len: usize) -> Self {
        match padded.first_chunk::<INLINE>() {
            Some(bytes) if len <= INLINE => {
                debug_assert!(bytes[len..].iter().all(|&b| b == 0), "{padded:?}");
                ActionId(Repr::Inline {
                    len: len as u8,
                    bytes: *bytes,
                })
            }
            _ => ActionId(Repr::Shared(Bytes::copy_from_slice(&padded[..len]))),
        }
    }

    /// Wraps the bytes of an id seen on the wire (or built by hand).
    pub fn from_bytes(bytes: Bytes) -> Self {
        ActionId(Repr::Shared(bytes))
    }

    /// An id of `text`'s bytes, in place when they fit (the rest of the
    /// array zero, which [`ActionId`]'s `eq` rests on), for tests.
    #[cfg(test)]
    pub(crate) fn copy_of(text: &[u8]) -> Self {
        if text.len() > INLINE {
            return ActionId(Repr::Shared(Bytes::copy_from_slice(text)));
        }
        let mut bytes = [0u8; INLINE];
        bytes[..text.len()].copy_from_slice(text);
        ActionId(Repr::Inline {
            len: text.len() as u8,
            bytes,
        })
    }

    /// The id's bytes, as sent.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(bytes) => bytes,
        }
    }

    /// The id as text. Generated ids are ASCII; for an id from the wire that
    /// is not UTF-8 this is its longest valid UTF-8 prefix, so compare with
    /// [`ActionId::as_bytes`] when exactness matters.
    pub fn as_str(&self) -> &str {
        let bytes = self.as_bytes();
        match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }
}

impl PartialEq for ActionId {
    // Performance: two ids in place (every generated one) compare as
    // their whole arrays, zero past their length (see `ActionId::of_padded`):
    // a compare of fixed size, in line, where a slice compare called
    // `memcmp` (about 20 instructions, several times per action in the
    // pending tables).
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Inline { len, bytes }, Repr::Inline { len: l, bytes: b }) => {
                len == l && same_inline(bytes, b)
            }
            _ => self.as_bytes() == other.as_bytes(),
        }
    }
}

impl Eq for ActionId {}

/// Whether two in-place ids' arrays are equal, as five 8-byte words (the
/// last overlapping the fourth) without a branch: a compare of the whole
/// array called `memcmp`.
#[inline]
fn same_inline(a: &[u8; INLINE], b: &[u8; INLINE]) -> bool {
    const LAST: usize = INLINE - 8;
    // The five words lie in the array and cover it if it is 32 to 40 bytes.
    const { assert!(INLINE >= 32 && INLINE <= 40) };
    let word = |x: &[u8; INLINE], at: usize| {
        u64::from_ne_bytes(x[at..at + 8].try_into().expect("eight bytes"))
    };
    let differ = [0, 8, 16, 24, LAST]
        .into_iter()
        .fold(0, |acc, at| acc | (word(a, at) ^ word(b, at)));
    differ == 0
}

impl PartialOrd for ActionId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ActionId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for ActionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Hash exactly as `[u8]` does, as `Borrow<[u8]>` requires.
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for ActionId {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ActionId")
            .field(&String::from_utf8_lossy(self.as_bytes()))
            .finish()
    }
}

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

/// A map keyed by the ActionIDs a connection generated, hashed with
/// [`ActionIdHasher`]: what the core and the adapters keep per action in
/// flight.
pub type ActionIdMap<V> = HashMap<ActionId, V, BuildHasherDefault<ActionIdHasher>>;

/// A fast hasher for ActionIDs: a folded multiply per 8-byte word (the
/// 128-bit product's halves xored, as in foldhash and wyhash). Only for maps
/// whose keys this client generated: a server can only look such ids up, not
/// insert them, so flooding the map with colliding keys is not possible and
/// SipHash's cost buys nothing.
///
/// Why not FxHash (multiply-rotate), used here before: a multiply carries a
/// difference only upwards, so ids differing in a digit or two (`...-109`
/// and `...-184`) often got the same 64-bit hash: a fifth of 10,000
/// consecutive ids did. The folded multiply carries it both ways.
#[derive(Default)]
pub struct ActionIdHasher(u64);

impl ActionIdHasher {
    fn add(&mut self, word: u64) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let product = u128::from(self.0 ^ word) * u128::from(K);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for ActionIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let word = |eight: &[u8]| u64::from_le_bytes(eight.try_into().expect("eight bytes"));
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(word(chunk));
        }
        let rest = chunks.remainder();
        if rest.is_empty() {
            return;
        }
        // The last eight bytes, overlapping words already added (or the few
        // there are, zero-padded): unambiguous, as `[u8]` hashes its length
        // first, and no copy of a variable length.
        let tail = match bytes.len().checked_sub(8) {
            Some(start) => word(&bytes[start..]),
            None => rest.iter().rev().fold(0, |w, &b| w << 8 | u64::from(b)),
        };
        self.add(tail);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Smallest allowed `max_len`.
const MIN_LEN: usize = 16;
/// Largest allowed `max_len`. Some server handlers copy ActionIDs into
/// 80-byte buffers, and 1.8-era `OriginateResponse` events kept only about
/// 67 bytes of one: a longer id comes back cut and matches nothing, so the
/// async Originate waiting for it could only time out.
const MAX_LEN: usize = 64;
/// Characters of the instance part.
const INSTANCE_LEN: usize = 8;
/// The two `-` separators and the instance.
const FIXED_LEN: usize = INSTANCE_LEN + 2;
/// Decimal digits of `u64::MAX`.
const SEQ_DIGITS: usize = 20;
/// Hex characters of the prefix hash in a shortened prefix.
const HASH_HEX: usize = 6;

/// Makes the ActionIDs of one connection: `<prefix>-<instance>-<seq>`, each
/// at most `max_len` bytes and all distinct.
///
/// - The prefix keeps `[A-Za-z0-9._]`; any other byte becomes `_` (so an id
///   holds no `-` but the two separators), and an empty prefix becomes `ami`.
/// - The instance is eight lowercase base32 characters drawn from the seed.
/// - The sequence counts from 1.
///
/// The prefix gets at most `max_len - 30` bytes when `max_len >= 50`
/// (leaving room for every `u64` sequence number), else `(max_len - 10) / 2`.
/// A longer prefix is shortened to its first characters, `~` and six hex
/// characters of an FNV-1a hash of the whole original prefix (only `~` and
/// hex when there is no room for more), so distinct long prefixes stay
/// distinct. When a short `max_len` leaves too few digits for the next
/// sequence number, the generator draws a new instance from the seeded RNG
/// and restarts the sequence at 1.
///
/// # Examples
///
/// ```
/// use ami_proto::ActionIdGenerator;
///
/// let mut ids = ActionIdGenerator::new("pbx1", 42, 64).unwrap();
/// let first = ids.next();
/// assert!(first.as_str().starts_with("pbx1-"));
/// assert!(first.as_str().ends_with("-1"));
/// assert_ne!(first, ids.next());
/// ```
#[derive(Clone, Debug)]
pub struct ActionIdGenerator {
    prefix: String,
    /// The last id made, its first `len` bytes: `<prefix>-<instance>-`
    /// (what every id of the current instance starts with, `head_len`
    /// bytes) and the sequence number in decimal, counted up in place (see
    /// [`count_up`]); then zeros, to at least [`INLINE`] bytes and room
    /// for the longest number (see [`ActionId::of_padded`]).
    ///
    /// Performance: an id copied out of text of its own length cost a
    /// `memset` of its array and a copy of a variable length, about 35
    /// instructions per action.
    text: Vec<u8>,
    head_len: usize,
    len: usize,
    seq: u64,
    /// Largest sequence number that fits beside the prefix and instance.
    max_seq: u64,
    max_len: usize,
    rng: Rng,
}

impl ActionIdGenerator {
    /// A generator for one connection. Give each connection its own `seed`.
    ///
    /// Fails with [`ConfigError::OutOfRange`] unless `16 <= max_len <= 64`
    /// (servers cut longer ids; see the module doc).
    pub fn new(prefix: &str, seed: u64, max_len: usize) -> Result<Self, ConfigError> {
        if !(MIN_LEN..=MAX_LEN).contains(&max_len) {
            return Err(ConfigError::OutOfRange {
                name: "max_action_id",
                value: max_len as u64,
                min: MIN_LEN as u64,
                max: MAX_LEN as u64,
            });
        }
        let room = max_len - FIXED_LEN;
        let prefix_max = if room >= 2 * SEQ_DIGITS {
            room - SEQ_DIGITS
        } else {
            room / 2
        };
        let prefix = shorten(&sanitize(prefix), prefix, prefix_max);
        let seq_digits = (room - prefix.len()).min(SEQ_DIGITS);
        let max_seq = if seq_digits >= SEQ_DIGITS {
            u64::MAX
        } else {
            // `seq_digits` is at least 3 and below 20, so this cannot overflow.
            10u64.pow(seq_digits as u32) - 1
        };
        let mut rng = Rng::new(seed);
        let (text, head_len) = head(&prefix, &mut rng);
        Ok(ActionIdGenerator {
            prefix,
            head_len,
            len: head_len,
            text,
            seq: 0,
            max_seq,
            max_len,
            rng,
        })
    }

    /// The next id. Never repeats an id of this generator (see the type's
    /// doc for when the instance part changes).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> ActionId {
        if self.seq >= self.max_seq {
            (self.text, self.head_len) = head(&self.prefix, &mut self.rng);
            self.len = self.head_len;
            self.seq = 0;
        }
        self.seq += 1;
        // One id per action sent, so this is a hot path: no allocation
        // when the id fits in place (see `Repr`), and the number's digits
        // counted up where they are rather than written out afresh.
        self.len = count_up(&mut self.text, self.head_len, self.len);
        debug_assert_eq!(
            &self.text[self.head_len..self.len],
            self.seq.to_string().as_bytes()
        );
        let id = ActionId::of_padded(&self.text, self.len);
        debug_assert!(
            id.as_bytes().len() <= self.max_len,
            "{id:?} exceeds {}",
            self.max_len
        );
        id
    }

    /// The longest id this generator makes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}

/// Checks an ActionID a caller chose against what generated ids keep: 1 to
/// `max_len` bytes, each printable ASCII (`!` to `~`). A space would be
/// trimmed by the server, a line break would inject a line, and a byte
/// beyond `max_len` may be cut off in the events that carry the id back.
pub(crate) fn check_chosen(id: &str, max_len: usize) -> Result<(), SendError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SendError::InvalidActionId { id: id.into() });
    }
    if id.len() > max_len {
        return Err(SendError::ActionIdTooLong {
            len: id.len(),
            max: max_len,
        });
    }
    Ok(())
}

/// Replaces every byte outside `[A-Za-z0-9._]` with `_`; empty becomes `ami`.
fn sanitize(prefix: &str) -> String {
    if prefix.is_empty() {
        return "ami".to_owned();
    }
    prefix
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}

/// Fits the sanitised prefix into `max` bytes, hashing the original.
fn shorten(sanitized: &str, original: &str, max: usize) -> String {
    if sanitized.len() <= max {
        return sanitized.to_owned();
    }
    let hash = format!("{:016x}", fnv1a64(original.as_bytes()));
    if max > HASH_HEX + 1 {
        // `sanitized` is ASCII, so any byte index is a char boundary.
        let head = &sanitized[..max - HASH_HEX - 1];
        format!("{head}~{}", &hash[..HASH_HEX])
    } else {
        // `max` is at least 3 (see `new`), and at most 7 here.
        format!("~{}", &hash[..max.saturating_sub(1)])
    }
}

/// 64-bit FNV-1a: stable across runs, versions and platforms.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// `<prefix>-<instance>-`, the instance being eight lowercase base32
/// characters (40 bits) from the RNG, and its length; then zeros, to at
/// least [`INLINE`] bytes and room for the longest sequence number (see
/// [`count_up`]).
fn head(prefix: &str, rng: &mut Rng) -> (Vec<u8>, usize) {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bits = rng.next_u64();
    let room = INLINE.max(prefix.len() + FIXED_LEN + SEQ_DIGITS);
    let mut head = Vec::with_capacity(room);
    head.extend_from_slice(prefix.as_bytes());
    head.push(b'-');
    head.extend((0..INSTANCE_LEN).map(|i| ALPHABET[((bits >> (5 * i)) & 31) as usize]));
    head.push(b'-');
    let len = head.len();
    head.resize(room, 0);
    (head, len)
}

/// Adds one to the decimal number `text` holds from `head_len` to `len`
/// (none there counts as 0), and returns its new end: the last digit goes
/// up, the nines before it carry, a number of nines only gains a digit (a
/// `1` over the first of its zeros, and one more zero after them: `text`
/// has room for it).
fn count_up(text: &mut [u8], head_len: usize, len: usize) -> usize {
    let mut at = len;
    while at > head_len && text[at - 1] == b'9' {
        text[at - 1] = b'0';
        at -= 1;
    }
    if at > head_len {
        text[at - 1] += 1;
        return len;
    }
    text[len] = b'0';
    text[head_len] = b'1';
    len + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn ids_are_equal_exactly_when_their_bytes_are_in_place_or_not() {
        // Every length in place and one past it, each byte changed in turn.
        for len in 0..=INLINE + 1 {
            let text: Vec<u8> = (0..len as u8).map(|i| b'a' + i % 26).collect();
            let inline = ActionId::copy_of(&text);
            // The same id made from bytes padded with zeros, as generated.
            let mut padded = text.clone();
            padded.resize(INLINE.max(len), 0);
            assert_eq!(ActionId::of_padded(&padded, len), inline);
            assert_eq!(ActionId::of_padded(&padded, len).as_bytes(), &text[..]);
            assert_eq!(matches!(inline.0, Repr::Inline { .. }), len <= INLINE);
            let shared = ActionId::from_bytes(Bytes::from(text.clone()));
            assert_eq!(inline, shared);
            assert_eq!(shared, inline);
            assert_eq!(inline, ActionId::copy_of(&text));
            for at in 0..len {
                let mut other = text.clone();
                other[at] ^= 0x20;
                assert_ne!(inline, ActionId::copy_of(&other), "{len} {at}");
                assert_ne!(inline, ActionId::from_bytes(Bytes::from(other)));
            }
            // A prefix, and the id with a zero byte more, are other ids.
            if let Some(shorter) = text.len().checked_sub(1) {
                assert_ne!(inline, ActionId::copy_of(&text[..shorter]));
            }
            let mut longer = text.clone();
            longer.push(0);
            assert_ne!(inline, ActionId::copy_of(&longer));
        }
    }

    /// Sets the generator's sequence number, as if it had counted to `seq`.
    fn jump(g: &mut ActionIdGenerator, seq: u64) {
        g.seq = seq;
        let digits = seq.to_string();
        g.text[g.head_len..].fill(0);
        g.len = g.head_len + digits.len();
        g.text[g.head_len..g.len].copy_from_slice(digits.as_bytes());
    }

    fn parts(id: &ActionId) -> (String, String, u64) {
        let s = id.as_str();
        let mut it = s.rsplitn(3, '-');
        let seq = it.next().unwrap().parse().unwrap();
        let inst = it.next().unwrap().to_owned();
        let prefix = it.next().unwrap().to_owned();
        (prefix, inst, seq)
    }

    #[test]
    fn form() {
        let mut g = ActionIdGenerator::new("pbx1", 7, 64).unwrap();
        let (prefix, inst, seq) = parts(&g.next());
        assert_eq!(prefix, "pbx1");
        assert_eq!(inst.len(), 8);
        assert!(inst
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
        assert_eq!(seq, 1);
        assert_eq!(parts(&g.next()).2, 2);
        assert_eq!(g.max_len(), 64);
    }

    #[test]
    fn max_len_is_validated() {
        for bad in [0, 15, 65, 128, 129, 1000] {
            assert!(matches!(
                ActionIdGenerator::new("ami", 1, bad),
                Err(ConfigError::OutOfRange {
                    name: "max_action_id",
                    min: 16,
                    max: 64,
                    ..
                })
            ));
        }
        for good in [16, 40, 64] {
            assert!(ActionIdGenerator::new("ami", 1, good).is_ok());
        }
    }

    #[test]
    fn a_million_unique_and_bounded() {
        let long = "x".repeat(200);
        for (prefix, max_len) in [
            ("ami", 16),
            (long.as_str(), 16),
            ("ami", 64),
            (long.as_str(), 64),
        ] {
            let mut g = ActionIdGenerator::new(prefix, 99, max_len).unwrap();
            let mut seen = HashSet::with_capacity(1_000_000);
            for _ in 0..1_000_000 {
                let id = g.next();
                assert!(id.as_bytes().len() <= max_len, "{id} > {max_len}");
                assert!(seen.insert(id), "duplicate for {max_len}");
            }
        }
    }

    #[test]
    fn every_length_fits_the_largest_sequence() {
        let long = "p".repeat(300);
        for max_len in MIN_LEN..=MAX_LEN {
            for prefix in ["", "ami", long.as_str()] {
                let mut g = ActionIdGenerator::new(prefix, 3, max_len).unwrap();
                // Jump to the largest sequence number this length allows.
                let last = g.max_seq - 1;
                jump(&mut g, last);
                let id = g.next();
                assert!(id.as_bytes().len() <= max_len, "{id} > {max_len}");
                let rotated = g.next();
                assert!(rotated.as_bytes().len() <= max_len);
                if max_len >= 50 {
                    assert_eq!(g.max_seq, u64::MAX);
                }
            }
        }
    }

    #[test]
    fn sequence_exhaustion_rotates_the_instance() {
        let mut g = ActionIdGenerator::new("ami", 5, 16).unwrap();
        let first = parts(&g.next());
        let last = g.max_seq;
        jump(&mut g, last);
        let (prefix, inst, seq) = parts(&g.next());
        assert_eq!(prefix, "ami");
        assert_ne!(inst, first.1);
        assert_eq!(seq, 1);
    }

    #[test]
    fn id_map_finds_ids_by_their_wire_bytes_and_spreads_them() {
        use std::hash::BuildHasher;
        let mut g = ActionIdGenerator::new("pbx1", 3, 64).unwrap();
        let ids: Vec<ActionId> = (0..10_000).map(|_| g.next()).collect();
        let mut map = ActionIdMap::default();
        for (n, id) in ids.iter().enumerate() {
            map.insert(id.clone(), n);
        }
        for (n, id) in ids.iter().enumerate() {
            let wire = id.as_bytes().to_vec();
            assert_eq!(map.get(&wire[..]), Some(&n));
        }
        let hashes: HashSet<u64> = ids.iter().map(|id| map.hasher().hash_one(id)).collect();
        assert_eq!(hashes.len(), ids.len(), "consecutive ids collide");
        // hashbrown picks the bucket from the low bits and tags entries with
        // the top seven: both must vary. 10,000 random keys fill about 7,080
        // of 16,384 buckets.
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 0x3fff).collect();
        assert!(buckets.len() > 6_500, "{} buckets used", buckets.len());
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(tags.len(), 128);
        // Short and odd lengths (the tail zero-padded, or read overlapping).
        let short: [&[u8]; 7] = [b"", b"a", b"b", b"ab", b"ba", b"abcdefgh", b"abcdefghi"];
        let short: HashSet<u64> = short.iter().map(|k| map.hasher().hash_one(k)).collect();
        assert_eq!(short.len(), 7);
    }

    #[test]
    fn counting_up_matches_display() {
        let mut text = [0u8; 2 + SEQ_DIGITS];
        text[..2].copy_from_slice(b"h-");
        let mut len = 2;
        for n in 1..=1_200u64 {
            len = count_up(&mut text, 2, len);
            assert_eq!(&text[2..len], n.to_string().as_bytes());
            assert!(text[len..].iter().all(|&b| b == 0), "zeros after it");
        }
        for n in [9, 99, 12345, 10u64.pow(19) - 1, u64::MAX - 1] {
            let mut text = format!("h-{n}").into_bytes();
            let len = text.len();
            text.resize(2 + SEQ_DIGITS, 0);
            let len = count_up(&mut text, 2, len);
            assert_eq!(&text[2..len], (n + 1).to_string().as_bytes());
            assert_eq!(&text[..2], b"h-", "the head is kept");
            assert!(text[len..].iter().all(|&b| b == 0), "zeros after it");
        }
    }

    #[test]
    fn different_seeds_do_not_collide() {
        let mut seen = HashSet::new();
        for seed in 0..1000u64 {
            let mut g = ActionIdGenerator::new("ami", seed, 64).unwrap();
            for _ in 0..100 {
                assert!(seen.insert(g.next()), "collision with seed {seed}");
            }
        }
    }

    #[test]
    fn same_seed_is_reproducible() {
        let mut a = ActionIdGenerator::new("ami", 11, 64).unwrap();
        let mut b = ActionIdGenerator::new("ami", 11, 64).unwrap();
        for _ in 0..10 {
            assert_eq!(a.next(), b.next());
        }
    }

    #[test]
    fn hash_is_stable() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        let long = "a".repeat(100);
        let g = ActionIdGenerator::new(&long, 1, 64).unwrap();
        assert_eq!(g.prefix.len(), 34);
        let hash = format!("{:016x}", fnv1a64(long.as_bytes()));
        assert_eq!(g.prefix, format!("{}~{}", "a".repeat(27), &hash[..6]));
    }

    #[test]
    fn distinct_long_prefixes_stay_distinct() {
        let a = format!("{}-east", "node".repeat(40));
        let b = format!("{}-west", "node".repeat(40));
        for max_len in [16, 40, 50, 64] {
            let ga = ActionIdGenerator::new(&a, 1, max_len).unwrap();
            let gb = ActionIdGenerator::new(&b, 1, max_len).unwrap();
            assert_ne!(ga.prefix, gb.prefix, "max_len {max_len}");
            assert!(ga.prefix.contains('~'));
        }
    }

    #[test]
    fn prefixes_are_sanitized() {
        let g = ActionIdGenerator::new("pbx-1\r\nAction: x", 1, 64).unwrap();
        assert_eq!(g.prefix, "pbx_1__Action__x");
        let g = ActionIdGenerator::new("café.é", 1, 64).unwrap();
        assert_eq!(g.prefix, "caf__.__");
        let mut g = ActionIdGenerator::new("", 1, 64).unwrap();
        assert!(g.next().as_str().starts_with("ami-"));
        let mut g = ActionIdGenerator::new("a b-c", 1, 64).unwrap();
        let id = g.next();
        assert!(id.as_bytes().iter().all(|b| b.is_ascii_graphic()));
        assert_eq!(id.as_str().matches('-').count(), 2);
    }

    #[test]
    fn action_id_value() {
        let id = ActionId::from_bytes(Bytes::from_static(b"ami-abc-1"));
        assert_eq!(id.as_str(), "ami-abc-1");
        assert_eq!(id.to_string(), "ami-abc-1");
        assert_eq!(format!("{id:?}"), r#"ActionId("ami-abc-1")"#);
        let mut map = HashMap::new();
        map.insert(id.clone(), 5);
        assert_eq!(map.get(&b"ami-abc-1"[..]), Some(&5));
        assert_eq!(map.get(&b"ami-abc-2"[..]), None);
        let odd = ActionId::from_bytes(Bytes::from_static(b"ok\xffno"));
        assert_eq!(odd.as_str(), "ok");
        assert_eq!(odd.as_bytes(), b"ok\xffno");
    }

    /// Ids kept in place (short ones) and ids kept as `Bytes` (long ones,
    /// and ids from the wire) are the same value when their bytes are:
    /// equal, hashed and ordered alike, found by their bytes.
    #[test]
    fn ids_in_place_and_shared_are_one_value() {
        let mut short = ActionIdGenerator::new("pbx1", 7, 64).unwrap();
        let mut long = ActionIdGenerator::new(&"p".repeat(40), 7, 64).unwrap();
        for g in [&mut short, &mut long] {
            let id = g.next();
            let wire = ActionId::from_bytes(Bytes::copy_from_slice(id.as_bytes()));
            assert_eq!(id, wire);
            assert_eq!(id.cmp(&wire), std::cmp::Ordering::Equal);
            let mut map: ActionIdMap<u8> = ActionIdMap::default();
            map.insert(id.clone(), 1);
            assert_eq!(map.get(wire.as_bytes()), Some(&1));
            assert_eq!(map.get(&wire), Some(&1));
            let next = g.next();
            assert!(id < next, "{id:?} before {next:?}");
            assert_ne!(id, next);
        }
        assert!(long.next().as_bytes().len() > INLINE, "kept as Bytes");
        assert!(short.next().as_bytes().len() <= INLINE, "kept in place");
        let (a, b) = (ActionId::copy_of(b"abc"), ActionId::copy_of(b"abd"));
        assert!(a < b && a.as_bytes() == b"abc");
    }
}
