//! Line ends and blank lines, found 64 bytes at a time.
//!
//! Each 64-byte block becomes bitmasks (one bit per byte: is it `\n`, is it
//! `\r`). Line ends are read off the first with `trailing_zeros`, a few
//! instructions per line; a blank line (only `\r`s before its `\n`) is found
//! with a few instructions per block, whatever the number of lines in it.
//! AMI lines are short (20-40 bytes), where a search call per line costs
//! more than the search itself.
//!
//! The masks come from SSE2 on x86_64 (part of its baseline, so always
//! present) and from word-at-a-time arithmetic elsewhere. The blank-line
//! search, the decoder's hot loop, is also built for AVX2 and takes that
//! build when the CPU has it (4-6% more frames/s). Every build is checked
//! against a byte-by-byte scan.

/// Bytes per block: one bit each in a `u64`.
const BLOCK: usize = 64;

/// Iterator over the offsets of the `\n`s in `buf`, from a given offset.
pub(crate) struct LineEnds<'a> {
    buf: &'a [u8],
    /// Offset of the block `newlines` describes.
    base: usize,
    /// Newlines of the block not yet returned.
    newlines: u64,
    /// Just past the last newline returned (or the start).
    after_last: usize,
}

impl<'a> LineEnds<'a> {
    /// Line ends in `buf` from offset `from` on.
    #[inline]
    pub(crate) fn new(buf: &'a [u8], from: usize) -> Self {
        LineEnds {
            buf,
            base: from,
            newlines: mask(buf.get(from..).unwrap_or_default(), b'\n'),
            after_last: from,
        }
    }

    /// Where scanning goes on once the buffer has grown, after `next` gave
    /// `None`: bytes before it hold no newline left to return.
    pub(crate) fn scanned(&self) -> usize {
        // The last block may be short; its bytes after the last newline
        // are scanned again when more arrive.
        self.base.max(self.after_last).min(self.buf.len())
    }
}

impl Iterator for LineEnds<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.newlines == 0 {
            if self.base + BLOCK > self.buf.len() {
                return None;
            }
            self.base += BLOCK;
            self.newlines = mask(&self.buf[self.base..], b'\n');
        }
        let nl = self.base + self.newlines.trailing_zeros() as usize;
        self.newlines &= self.newlines - 1;
        self.after_last = nl + 1;
        Some(nl)
    }
}

/// One line of a buffer: where it starts, where its `\n` is, and where its
/// first colon is, if it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) colon: Option<usize>,
}

/// Iterator over the lines of a buffer (bytes after its last `\n` are not
/// a line), each with its first colon.
///
/// The colons come from the same 64-byte blocks as the line ends, one more
/// mask per block: a header split costs a few instructions, where a search
/// call per line costs more than the line (names are 5-20 bytes).
pub(crate) struct Lines<'a> {
    buf: &'a [u8],
    /// Offset of the block the masks describe.
    base: usize,
    /// Newlines of the block not yet returned.
    newlines: u64,
    /// Colons of the block in the line not yet returned (and past it).
    colons: u64,
    /// Start of the line not yet returned.
    start: usize,
    /// Its first colon, when found in an earlier block.
    colon: Option<usize>,
}

impl<'a> Lines<'a> {
    /// The lines of `buf`.
    #[inline]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Lines {
            buf,
            base: 0,
            newlines: mask(buf, b'\n'),
            colons: mask(buf, b':'),
            start: 0,
            colon: None,
        }
    }
}

impl Iterator for Lines<'_> {
    type Item = Line;

    #[inline]
    fn next(&mut self) -> Option<Line> {
        while self.newlines == 0 {
            // The block's colons left all belong to the line going on.
            if self.colon.is_none() && self.colons != 0 {
                self.colon = Some(self.base + self.colons.trailing_zeros() as usize);
            }
            if self.base + BLOCK > self.buf.len() {
                return None;
            }
            self.base += BLOCK;
            let block = &self.buf[self.base..];
            self.newlines = mask(block, b'\n');
            self.colons = mask(block, b':');
        }
        let newline = self.newlines & self.newlines.wrapping_neg();
        self.newlines ^= newline;
        // The bits up to and including the newline's: this line's.
        let through = newline | (newline - 1);
        let here = self.colons & through;
        self.colons &= !through;
        let colon = self
            .colon
            .take()
            .or_else(|| (here != 0).then(|| self.base + here.trailing_zeros() as usize));
        let end = self.base + newline.trailing_zeros() as usize;
        let line = Line {
            start: self.start,
            end,
            colon,
        };
        self.start = end + 1;
        Some(line)
    }
}

/// The offset of the colon that ends the first line named `name` (1-63
/// bytes; ASCII case ignored), if any: a line whose bytes before its first
/// colon are `name`. The line may lack its `\n`: the caller checks.
#[inline]
pub(crate) fn find_name(buf: &[u8], name: &[u8]) -> Option<usize> {
    let [colon] = find_names(buf, [name]);
    colon
}

/// [`find_name`] for each of `names` (1-63 bytes each), in one pass over
/// `buf`, which ends once every name is found.
///
/// Performance: the connection routes a frame by two headers (`ActionID`,
/// `EventList`); one pass for both costs a block's masks once, where a
/// search per name made them twice.
///
/// Only the colons `name.len()` bytes after a line start are looked at: per
/// block, the line starts (the bits after the newlines, and the block's
/// first byte if the last block ended a line), shifted by the name's
/// length, meet the colons; the same masks tell whether the bytes before
/// such a colon hold another colon or a `\n` (then it ends no name), so a
/// name with either never matches. A walk over the lines compared every
/// line, and a list item has 20-30.
#[inline]
#[allow(unsafe_code)] // Calls the AVX2 build, once AVX2 is known present.
pub(crate) fn find_names<const N: usize>(buf: &[u8], names: [&[u8]; N]) -> [Option<usize>; N] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, as just checked.
        return unsafe { avx2::find_names(buf, names) };
    }
    find_names_with(buf, names, block_mask)
}

/// A set of names known when compiling, which [`find_set`] looks for.
pub(crate) trait NameSet<const N: usize> {
    /// 1-63 bytes each.
    const NAMES: [&'static [u8]; N];
}

/// [`find_names`] of `S::NAMES`, built for those names: their lengths and
/// bytes are constants in its loop.
///
/// Performance: the connection routes every frame of a list by two names;
/// built for them, a pass over a list item's blocks costs about half what
/// a pass for names given at run time does (shifts by a register, lengths
/// reloaded per block).
#[inline]
#[allow(unsafe_code)] // Calls the AVX2 build, once AVX2 is known present.
pub(crate) fn find_set<const N: usize, S: NameSet<N>>(buf: &[u8]) -> [Option<usize>; N] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, as just checked.
        return unsafe { avx2::find_set::<N, S>(buf) };
    }
    find_names_with(buf, S::NAMES, block_mask)
}

/// [`find_names`] with the masks of whole blocks made by `block_mask`.
#[inline(always)]
fn find_names_with<const N: usize>(
    buf: &[u8],
    names: [&[u8]; N],
    block_mask: impl Fn(&[u8; BLOCK], u8) -> u64,
) -> [Option<usize>; N] {
    debug_assert!((1..=64).contains(&N));
    debug_assert!(names.iter().all(|name| (1..BLOCK).contains(&name.len())));
    let mask = |at, byte| mask_at_with(buf, at, byte, &block_mask);
    let lens = names.map(<[u8]>::len);
    let mut found = [None; N];
    // One bit per name not found yet.
    let mut missing = u64::MAX >> (64 - N);
    let (mut base, mut carry, mut last_starts, mut last_stops) = (0, true, 0u64, 0u64);
    while missing != 0 && base < buf.len() {
        let (newlines, colons) = (mask(base, b'\n'), mask(base, b':'));
        let starts = newlines << 1 | u64::from(carry);
        let stops = newlines | colons;
        // Per name still sought: the colons `len` bytes after a start of
        // this block or the last one. Most blocks have none.
        let ends = std::array::from_fn::<u64, N, _>(|i| {
            let sought = 0u64.wrapping_sub(missing >> i & 1);
            colons & (starts << lens[i] | last_starts >> (BLOCK - lens[i])) & sought
        });
        if ends.iter().any(|&e| e != 0) {
            // This block's stops and the last one's, bit 64 being this
            // block's first byte.
            let both = u128::from(last_stops) | u128::from(stops) << BLOCK;
            for (i, mut ends) in ends.into_iter().enumerate() {
                let len = lens[i];
                while ends != 0 {
                    let at = ends.trailing_zeros() as usize;
                    ends &= ends - 1;
                    let colon = base + at;
                    // No colon or `\n` in the name's bytes: then the colon
                    // ends the whole name of its line, if they are `name`.
                    let name_bits = ((1u128 << len) - 1) << (BLOCK - len + at);
                    if both & name_bits == 0
                        && crate::headers::same_name(&buf[colon - len..colon], names[i])
                    {
                        found[i] = Some(colon);
                        missing &= !(1 << i);
                        break;
                    }
                }
            }
        }
        (last_starts, last_stops, carry) = (starts, stops, newlines >> 63 == 1);
        base += BLOCK;
    }
    found
}

/// A search for the first blank line, which can go on where it stopped once
/// more bytes arrive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlankLine {
    /// Offset the search goes on from: the start of a block not wholly seen.
    at: usize,
    /// Whether the bytes from the last line start up to `at` are all `\r`s,
    /// so that a `\n` at `at` would end a blank line.
    blank_so_far: bool,
}

impl BlankLine {
    /// A search starting at the start of a line.
    pub(crate) fn from_line_start(at: usize) -> Self {
        BlankLine {
            at,
            blank_so_far: true,
        }
    }

    /// The offset of the `\n` ending the first blank line of `buf` from
    /// here, or the search to go on with once `buf` has grown.
    ///
    /// Per block: `starts` marks bytes that start a line; adding the `\r`
    /// runs that begin at a line start to the `\r` mask carries each such
    /// run over to the byte just past it. A `\n` at a line start or just
    /// past such a run ends a blank line.
    #[inline]
    #[allow(unsafe_code)] // Calls the AVX2 build, once AVX2 is known present.
    pub(crate) fn find(self, buf: &[u8]) -> Result<usize, BlankLine> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, as just checked.
            return unsafe { avx2::find(self, buf) };
        }
        self.find_with(buf, block_mask)
    }

    /// The search, with the masks of whole blocks made by `block_mask`
    /// (inlined, so that each build gets its own loop).
    #[inline(always)]
    fn find_with(
        self,
        buf: &[u8],
        block_mask: impl Fn(&[u8; BLOCK], u8) -> u64,
    ) -> Result<usize, BlankLine> {
        let mask = |bytes: &[u8], byte| mask_with(bytes, byte, &block_mask);
        let BlankLine {
            mut at,
            mut blank_so_far,
        } = self;
        while at < buf.len() {
            let bytes = &buf[at..];
            let newlines = mask(bytes, b'\n');
            let crs = mask(bytes, b'\r');
            let starts = newlines << 1 | u64::from(blank_so_far);
            let (past_runs, run_to_next_block) = crs.overflowing_add(starts & crs);
            let blank_ends = newlines & (starts | past_runs) & !crs;
            if blank_ends != 0 {
                return Ok(at + blank_ends.trailing_zeros() as usize);
            }
            if bytes.len() < BLOCK {
                // A short block: its missing bytes are read as neither
                // `\n` nor `\r`, so it is searched again, whole, later.
                break;
            }
            blank_so_far = newlines >> 63 == 1 || run_to_next_block;
            at += BLOCK;
        }
        Err(BlankLine { at, blank_so_far })
    }
}

/// The mask of `byte` in the first 64 bytes of `bytes` (fewer at the end of
/// the buffer: missing bytes never match, as `byte` is not zero).
#[inline]
fn mask(bytes: &[u8], byte: u8) -> u64 {
    mask_with(bytes, byte, block_mask)
}

/// The mask of `byte` in the 64 bytes of `buf` from `at` (fewer at the end
/// of the buffer: bytes past it never match).
///
/// Performance: a short last block, when the buffer holds a whole one, is
/// read as the last 64 bytes shifted down to start at `at`: a name search
/// ends in one, and a copy into a zeroed block (a `memcpy` call) cost ~40
/// instructions per search.
#[inline(always)]
fn mask_at_with(
    buf: &[u8],
    at: usize,
    byte: u8,
    block_mask: impl Fn(&[u8; BLOCK], u8) -> u64,
) -> u64 {
    let rest = buf.get(at..).unwrap_or_default();
    if let Some(block) = rest.first_chunk::<BLOCK>() {
        return block_mask(block, byte);
    }
    if rest.is_empty() {
        return 0;
    }
    match buf.last_chunk::<BLOCK>() {
        Some(last) => block_mask(last, byte) >> (BLOCK - rest.len()),
        None => {
            debug_assert_ne!(byte, 0);
            let mut block = [0u8; BLOCK];
            block[..rest.len()].copy_from_slice(rest);
            block_mask(&block, byte)
        }
    }
}

/// The mask of `byte` in the first 64 bytes of `bytes`, a short last block
/// copied into a zeroed one (missing bytes never match, as `byte` is not
/// zero).
///
/// Performance: the blank-line search, which reaches a short block only at
/// the end of what has arrived, takes 20-30 fewer instructions per frame
/// with this than with [`mask_at_with`]; so do walks over the lines.
#[inline(always)]
fn mask_with(bytes: &[u8], byte: u8, block_mask: impl Fn(&[u8; BLOCK], u8) -> u64) -> u64 {
    debug_assert_ne!(byte, 0);
    match bytes.first_chunk::<BLOCK>() {
        Some(block) => block_mask(block, byte),
        None => {
            let mut block = [0u8; BLOCK];
            block[..bytes.len()].copy_from_slice(bytes);
            block_mask(&block, byte)
        }
    }
}

#[cfg(target_arch = "x86_64")]
use sse2::block_mask;

#[cfg(not(target_arch = "x86_64"))]
use swar::block_mask;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // Four unaligned 16-byte loads from a 64-byte array.
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };

    use super::BLOCK;

    #[inline]
    pub(super) fn block_mask(block: &[u8; BLOCK], byte: u8) -> u64 {
        let mut mask = 0u64;
        for (i, lane) in block.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is in the x86_64 baseline, so the intrinsics are
            // available; `lane` is 16 readable bytes and the load is unaligned.
            let bits = unsafe {
                let v = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8)))
            };
            mask |= u64::from(bits as u16) << (16 * i);
        }
        mask
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // AVX2 intrinsics, run only on CPUs that have AVX2.
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };

    use super::{BlankLine, BLOCK};

    /// [`BlankLine::find`] built for AVX2: two 32-byte compares per mask.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn find(search: BlankLine, buf: &[u8]) -> Result<usize, BlankLine> {
        // SAFETY: this function runs only where AVX2 is present.
        search.find_with(buf, |block, byte| unsafe { block_mask(block, byte) })
    }

    /// [`find_names`](super::find_names) built for AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn find_names<const N: usize>(
        buf: &[u8],
        names: [&[u8]; N],
    ) -> [Option<usize>; N] {
        // SAFETY: this function runs only where AVX2 is present.
        super::find_names_with(buf, names, |block, byte| unsafe { block_mask(block, byte) })
    }

    /// [`find_set`](super::find_set) built for AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn find_set<const N: usize, S: super::NameSet<N>>(
        buf: &[u8],
    ) -> [Option<usize>; N] {
        // SAFETY: this function runs only where AVX2 is present.
        super::find_names_with(buf, S::NAMES, |block, byte| unsafe {
            block_mask(block, byte)
        })
    }

    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn block_mask(block: &[u8; BLOCK], byte: u8) -> u64 {
        // SAFETY: AVX2 is present (the caller's contract); each load reads
        // 32 of the block's 64 bytes, unaligned.
        unsafe {
            let needle = _mm256_set1_epi8(byte as i8);
            let low = _mm256_loadu_si256(block.as_ptr().cast::<__m256i>());
            let high = _mm256_loadu_si256(block.as_ptr().add(32).cast::<__m256i>());
            let low = _mm256_movemask_epi8(_mm256_cmpeq_epi8(low, needle)) as u32;
            let high = _mm256_movemask_epi8(_mm256_cmpeq_epi8(high, needle)) as u32;
            u64::from(high) << 32 | u64::from(low)
        }
    }
}

/// The portable fallback (and the x86_64 build's cross-check in tests).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
mod swar {
    use super::BLOCK;

    const fn splat(byte: u8) -> u64 {
        u64::from_ne_bytes([byte; 8])
    }

    /// One bit per byte of the word: set where the byte is `byte`.
    fn word_mask(word: u64, byte: u8) -> u64 {
        let x = word ^ splat(byte);
        // High bit of each byte set iff the byte is zero, exactly (adding
        // to the low seven bits alone cannot carry across bytes).
        let zero = !(((x & splat(0x7f)) + splat(0x7f)) | x) & splat(0x80);
        // Gather the eight high bits into the low byte.
        (zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
    }

    pub(super) fn block_mask(block: &[u8; BLOCK], byte: u8) -> u64 {
        block
            .chunks_exact(8)
            .enumerate()
            .map(|(i, word)| {
                word_mask(
                    u64::from_le_bytes(word.try_into().expect("eight bytes")),
                    byte,
                ) << (8 * i)
            })
            .fold(0, |mask, bits| mask | bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn byte_scan(buf: &[u8], from: usize) -> Vec<usize> {
        (from..buf.len()).filter(|&i| buf[i] == b'\n').collect()
    }

    fn random_bytes(len: usize, next: &mut impl FnMut() -> u64) -> Vec<u8> {
        // Bytes one bit away from `\n`, and the high-bit ones, to catch a
        // mask that is off by a bit or a byte.
        let alphabet = [b'a', b':', b'\n', b'\r', 0x0b, 0x08, 0x8a, 0x80, 0xff, 0x00];
        (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect()
    }

    fn xorshift() -> impl FnMut() -> u64 {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Every build of the blank-line search this machine can run.
    #[allow(unsafe_code)]
    fn blank_searches() -> Vec<(&'static str, Search)> {
        let mut builds: Vec<(&'static str, Search)> = vec![
            ("chosen at run time", |s, b| s.find(b)),
            ("portable", |s, b| s.find_with(b, swar::block_mask)),
            ("baseline", |s, b| s.find_with(b, block_mask)),
        ];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, as just checked.
            builds.push(("avx2", |s, b| unsafe { avx2::find(s, b) }));
        }
        builds
    }

    type Search = fn(BlankLine, &[u8]) -> Result<usize, BlankLine>;

    /// The first line of `buf` (the last one may lack its `\n`) whose bytes
    /// before its first colon are `name`, by a walk over the lines: the
    /// offset of that colon.
    fn name_by_lines(buf: &[u8], name: &[u8]) -> Option<usize> {
        let len = buf.len();
        let mut start = 0;
        for end in LineEnds::new(buf, 0).chain([len]) {
            let line = &buf[start.min(len)..end.max(start).min(len)];
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                if line[..colon].eq_ignore_ascii_case(name) {
                    return Some(start + colon);
                }
            }
            start = end + 1;
        }
        None
    }

    /// Every build of the name search finds the first line whose name,
    /// the bytes before its first colon, is the one sought; so does the
    /// search for several names at once, for each of them, names that are
    /// prefixes of each other included.
    #[test]
    #[allow(unsafe_code)]
    fn name_searches_agree_with_a_walk_over_the_lines() {
        const NAMES: [&[u8]; 7] = [b"a", b"aa", b"aaa", &[b'a'; 63], b"a:", b"a\n", b":"];
        let mut next = xorshift();
        for _ in 0..5_000 {
            let len = (next() % 200) as usize;
            let buf = random_bytes(len, &mut next);
            for name in NAMES {
                let want = name_by_lines(&buf, name);
                assert_eq!(
                    find_names_with(&buf, [name], swar::block_mask),
                    [want],
                    "{buf:?}"
                );
                assert_eq!(find_names_with(&buf, [name], block_mask), [want], "{buf:?}");
                assert_eq!(find_name(&buf, name), want, "{buf:?}");
            }
            // Three names at a time, repeats included.
            let pick =
                |next: &mut dyn FnMut() -> u64| NAMES[(next() % NAMES.len() as u64) as usize];
            let names = [pick(&mut next), pick(&mut next), pick(&mut next)];
            let want = names.map(|name| name_by_lines(&buf, name));
            assert_eq!(
                find_names_with(&buf, names, swar::block_mask),
                want,
                "{buf:?} {names:?}"
            );
            assert_eq!(
                find_names_with(&buf, names, block_mask),
                want,
                "{buf:?} {names:?}"
            );
            assert_eq!(find_names(&buf, names), want, "{buf:?} {names:?}");
        }
    }

    #[test]
    #[allow(unsafe_code)]
    fn masks_agree_with_a_byte_scan_in_every_implementation() {
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::is_x86_feature_detected!("avx2");
        let mut next = xorshift();
        for _ in 0..20_000 {
            let block: [u8; BLOCK] = random_bytes(BLOCK, &mut next).try_into().unwrap();
            for byte in [b'\n', b'\r'] {
                let want = block
                    .iter()
                    .enumerate()
                    .filter(|(_, &b)| b == byte)
                    .fold(0u64, |m, (i, _)| m | 1 << i);
                assert_eq!(swar::block_mask(&block, byte), want, "{block:?}");
                assert_eq!(block_mask(&block, byte), want, "{block:?}");
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: the CPU has AVX2, as checked above.
                    let got = unsafe { avx2::block_mask(&block, byte) };
                    assert_eq!(got, want, "{block:?}");
                }
            }
        }
    }

    /// Lines made mostly of `\r`s and `\n`s, so that blank lines of every
    /// shape (`\n`, `\r\n`, `\r\r\n`) fall across block edges.
    fn blank_prone_bytes(len: usize, next: &mut impl FnMut() -> u64) -> Vec<u8> {
        let alphabet = [b'a', b'\r', b'\r', b'\n', b'\n', b'a', b':', 0x0d ^ 0x80];
        (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect()
    }

    /// The first blank line's `\n` after `from` (a line start), line by line.
    fn blank_by_lines(buf: &[u8], from: usize) -> Option<usize> {
        let mut start = from;
        for nl in byte_scan(buf, from) {
            if buf[start..nl].iter().all(|&b| b == b'\r') {
                return Some(nl);
            }
            start = nl + 1;
        }
        None
    }

    #[test]
    fn blank_line_agrees_with_a_line_by_line_search_from_every_start() {
        let mut next = xorshift();
        for _ in 0..2_000 {
            let len = (next() % 300) as usize;
            let mut buf = blank_prone_bytes(len, &mut next);
            // Long lines too, so that some searches cross several blocks.
            if next().is_multiple_of(2) {
                buf.iter_mut().for_each(|b| {
                    if *b == b'\n' && !next().is_multiple_of(8) {
                        *b = b'x';
                    }
                });
            }
            for (build, find) in blank_searches() {
                for from in 0..=buf.len() {
                    let got = find(BlankLine::from_line_start(from), &buf).ok();
                    let want = blank_by_lines(&buf, from);
                    assert_eq!(got, want, "{build}: {buf:?} from {from}");
                }
            }
        }
    }

    #[test]
    fn blank_line_search_goes_on_after_growth() {
        let mut next = xorshift();
        for _ in 0..20_000 {
            let len = (next() % 400) as usize;
            let buf = blank_prone_bytes(len, &mut next);
            let want = blank_by_lines(&buf, 0);
            let cut = (next() % (len as u64 + 1)) as usize;
            for (build, find) in blank_searches() {
                let got = match find(BlankLine::from_line_start(0), &buf[..cut]) {
                    Ok(nl) => Some(nl),
                    Err(scan) => {
                        assert!(scan.at <= cut && cut - scan.at < BLOCK, "{scan:?} of {cut}");
                        find(scan, &buf).ok()
                    }
                };
                assert_eq!(got, want, "{build}: {buf:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn line_ends_agree_with_a_byte_scan_from_every_start() {
        let mut next = xorshift();
        for _ in 0..2_000 {
            let len = (next() % 200) as usize;
            let buf = random_bytes(len, &mut next);
            for from in 0..=buf.len() {
                let got: Vec<_> = LineEnds::new(&buf, from).collect();
                assert_eq!(got, byte_scan(&buf, from), "{buf:?} from {from}");
            }
        }
    }

    #[test]
    fn lines_and_their_first_colons_agree_with_a_byte_scan() {
        let mut next = xorshift();
        for _ in 0..5_000 {
            let len = (next() % 300) as usize;
            let mut buf = random_bytes(len, &mut next);
            // Long lines too, so that a line's first colon can lie blocks
            // before its end, and other colons after it.
            if next().is_multiple_of(2) {
                buf.iter_mut().for_each(|b| {
                    if *b == b'\n' && !next().is_multiple_of(8) {
                        *b = b'x';
                    }
                });
            }
            let mut want = Vec::new();
            let mut start = 0;
            for end in byte_scan(&buf, 0) {
                let colon = buf[start..end].iter().position(|&b| b == b':');
                want.push(Line {
                    start,
                    end,
                    colon: colon.map(|c| start + c),
                });
                start = end + 1;
            }
            let got: Vec<_> = Lines::new(&buf).collect();
            assert_eq!(got, want, "{buf:?}");
        }
    }

    #[test]
    fn going_on_after_growth_finds_what_a_fresh_scan_finds() {
        let mut next = xorshift();
        for _ in 0..5_000 {
            let len = (next() % 300) as usize;
            let buf = random_bytes(len, &mut next);
            let cut = (next() % (len as u64 + 1)) as usize;
            let mut ends = LineEnds::new(&buf[..cut], 0);
            let mut got: Vec<_> = ends.by_ref().collect();
            let scanned = ends.scanned();
            assert!(
                scanned <= cut && cut - scanned < BLOCK,
                "{scanned} of {cut}"
            );
            got.extend(LineEnds::new(&buf, scanned));
            assert_eq!(got, byte_scan(&buf, 0), "{buf:?} cut at {cut}");
        }
    }
}
