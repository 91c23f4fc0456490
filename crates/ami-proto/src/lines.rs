//! Line ends and blank lines, found 64 bytes at a time.
//!
//! Each 64-byte block becomes bitmasks (one bit per byte: is it `\n`, is it
//! `\r`). Line ends are read off the first with `trailing_zeros`, a few
//! instructions per line; a blank line (only `\r`s before its `\n`) is found
//! with a few instructions per block, whatever the number of lines in it.
//! AMI lines are short (20-40 bytes), where a search call per line costs
//! more than the search itself.
//!
//! The search for a frame's end can note, in the same pass, where lines
//! with given names are (the two a connection routes frames by), with one
//! more mask per block ([`BlankLine::find_naming`]).
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

/// The names of `S` still sought whose line's colon is among `colons`
/// (see [`find_names`]), in a block of [`BlankLine::find_naming`];
/// each name's line end is noted too when it is in the block (it mostly
/// is). Returns the names still sought, as [`sought_masks`].
///
/// `S`'s names have no colon or `\n` (checked when debugging), so a colon
/// `len` bytes after a line start whose bytes before it are the name is
/// that line's first: the test [`find_names`] makes for other colons and
/// `\n`s in the name's bytes is not needed.
///
/// Performance: out of the search's loop (a list item reaches it once,
/// for its `ActionID`), which keeps its state in registers.
#[cold]
#[inline(never)]
fn names_of_block<const N: usize, S: NameSet<N>>(
    buf: &[u8],
    base: usize,
    found: &mut Found<N>,
    newlines: u64,
    colons: u64,
    starts: u64,
    last_starts: u64,
) -> [u64; N] {
    const { assert!(N <= 2, "two names at most: one call per name below") };
    let block = (buf, base, newlines, colons, starts, last_starts);
    name_of_block::<N, S, 0>(found, block);
    name_of_block::<N, S, 1>(found, block);
    sought_masks(found.missing())
}

/// Per name of `missing` (one bit each), all ones if it is missing, else
/// none.
fn sought_masks<const N: usize>(missing: u64) -> [u64; N] {
    std::array::from_fn(|i| 0u64.wrapping_sub(missing >> i & 1))
}

/// [`names_of_block`] for the `I`th name of `S` (none past the last):
/// built for each name, so that its length and bytes are constants.
#[inline(always)]
fn name_of_block<const N: usize, S: NameSet<N>, const I: usize>(
    found: &mut Found<N>,
    (buf, base, newlines, colons, starts, last_starts): (&[u8], usize, u64, u64, u64, u64),
) {
    let (Some(name), Some(None)) = (S::NAMES.get(I), found.colons.get(I)) else {
        return;
    };
    debug_assert!(!name.contains(&b':') && !name.contains(&b'\n'));
    let len = name.len();
    let mut ends = colons & (starts << len | last_starts >> (BLOCK - len));
    while ends != 0 {
        let at = ends.trailing_zeros() as usize;
        ends &= ends - 1;
        let colon = base + at;
        if crate::headers::same_name(&buf[colon - len..colon], name) {
            found.colons[I] = Some(offset(colon));
            let after = newlines & !(u64::MAX >> (BLOCK - 1 - at));
            found.line_ends[I] =
                (after != 0).then(|| offset(base + after.trailing_zeros() as usize));
            return;
        }
    }
}

/// An offset within a frame as a `u32`: it fits, as the decoder's limit
/// does.
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// Where a frame's first lines named after a [`NameSet`]'s names are, found
/// by the search for the frame's end as it passes their blocks
/// ([`BlankLine::find_naming`]): what [`find_set`] finds in the frame's
/// lines from where the search started, without a second pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found<const N: usize> {
    /// Per name, the offset of the colon that ends its first line.
    pub(crate) colons: [Option<u32>; N],
    /// Per name, the offset of that line's `\n`, if it was in the
    /// colon's block (else it is to be looked for).
    pub(crate) line_ends: [Option<u32>; N],
    /// The offset of the first `\n` from where the search started (for an
    /// event, the end of its first line, which holds its name).
    pub(crate) first_newline: Option<u32>,
    /// The offset of the `\n` after it, if it was in the same block (for
    /// a list item, the end of its `ActionID` line, its second).
    pub(crate) second_newline: Option<u32>,
}

/// A [`BlankLine::find_naming`] under way: what it found, and the line
/// starts of the last block it wholly searched, and whether that block
/// ended a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NameScan<const N: usize> {
    pub(crate) found: Found<N>,
    last_starts: u64,
    carry: bool,
}

impl<const N: usize> Found<N> {
    /// One bit per name not found yet.
    fn missing(&self) -> u64 {
        let bits = self.colons.iter().enumerate();
        bits.fold(0, |missing, (i, colon)| {
            missing | u64::from(colon.is_none()) << i
        })
    }
}

impl<const N: usize> NameScan<N> {
    /// A scan that starts with its search, at a line start.
    pub(crate) fn new() -> Self {
        NameScan {
            found: Found {
                colons: [None; N],
                line_ends: [None; N],
                first_newline: None,
                second_newline: None,
            },
            last_starts: 0,
            carry: true,
        }
    }
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
        self.find_portable(buf)
    }

    /// [`BlankLine::find`] without AVX2.
    ///
    /// Performance: out of line, so that the AVX2 build's callers (the
    /// decoder's loop) do not carry a second copy of the loop in line.
    #[inline(never)]
    fn find_portable(self, buf: &[u8]) -> Result<usize, BlankLine> {
        self.find_with(buf, block_mask)
    }

    /// [`BlankLine::find`], noting in `names` the lines named after
    /// `S::NAMES` that it passes (before the blank line), as [`find_set`]
    /// finds them in the lines from where `names` started.
    ///
    /// Performance: the connection routes each frame of a list by two
    /// names; a pass of its own over an item's blocks for them cost more
    /// than the search for its end, which reads the same blocks. Here a
    /// block costs one more mask and a few instructions per name.
    #[inline]
    #[allow(unsafe_code)] // Calls the AVX2 build, once AVX2 is known present.
    pub(crate) fn find_naming<const N: usize, S: NameSet<N>>(
        self,
        buf: &[u8],
        names: &mut NameScan<N>,
    ) -> Result<usize, BlankLine> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, as just checked.
            return unsafe { avx2::find_naming::<N, S>(self, buf, names) };
        }
        self.find_naming_portable::<N, S>(buf, names)
    }

    /// [`BlankLine::find_naming`] without AVX2, out of line (see
    /// [`BlankLine::find_portable`]).
    #[inline(never)]
    fn find_naming_portable<const N: usize, S: NameSet<N>>(
        self,
        buf: &[u8],
        names: &mut NameScan<N>,
    ) -> Result<usize, BlankLine> {
        self.find_naming_with::<N, S>(buf, names, block_mask)
    }

    /// [`BlankLine::find_naming`] with the masks made by `block_mask`: the
    /// loop of [`BlankLine::find_with`], with the colons' mask and the
    /// test of [`find_names`] for the colons a name may end, its state kept
    /// in registers.
    #[inline(always)]
    fn find_naming_with<const N: usize, S: NameSet<N>>(
        self,
        buf: &[u8],
        names: &mut NameScan<N>,
        block_mask: impl Fn(&[u8; BLOCK], u8) -> u64,
    ) -> Result<usize, BlankLine> {
        let BlankLine {
            mut at,
            blank_so_far,
        } = self;
        // The scan in registers: in a struct it went through memory at
        // every block.
        let NameScan {
            mut found,
            mut last_starts,
            carry,
        } = *names;
        // As bits (0 or 1), shifted straight into the next block's masks.
        let (mut blank_so_far, mut carry) = (u64::from(blank_so_far), u64::from(carry));
        // Per name, all ones while it is sought: the candidates' test
        // without a branch per name.
        let mut sought = sought_masks(found.missing());
        let result = loop {
            if at >= buf.len() {
                break Err(BlankLine {
                    at,
                    blank_so_far: blank_so_far == 1,
                });
            }
            let bytes = &buf[at..];
            let padded;
            let block = match bytes.first_chunk::<BLOCK>() {
                Some(block) => block,
                None => {
                    let mut block = [0u8; BLOCK];
                    block[..bytes.len()].copy_from_slice(bytes);
                    padded = block;
                    &padded
                }
            };
            let newlines = block_mask(block, b'\n');
            let crs = block_mask(block, b'\r');
            let block_colons = block_mask(block, b':');
            let starts = newlines << 1 | blank_so_far;
            let (past_runs, run_to_next_block) = crs.overflowing_add(starts & crs);
            let blank_ends = newlines & (starts | past_runs) & !crs;
            if found.first_newline.is_none() && newlines != 0 {
                found.first_newline = Some(offset(at + newlines.trailing_zeros() as usize));
                let after = newlines & (newlines - 1);
                found.second_newline =
                    (after != 0).then(|| offset(at + after.trailing_zeros() as usize));
            }
            // The colons a name still sought may end (see `find_names`):
            // most blocks have none, and cost only this test.
            let line_starts = newlines << 1 | carry;
            let mut candidates = 0;
            for (name, sought) in S::NAMES.iter().zip(sought) {
                let len = name.len();
                candidates |= (line_starts << len | last_starts >> (BLOCK - len)) & sought;
            }
            if block_colons & candidates != 0 {
                // Only the frame's lines: those before its blank line.
                let within = (blank_ends & blank_ends.wrapping_neg()).wrapping_sub(1);
                let colons = block_colons & within;
                sought = names_of_block::<N, S>(
                    buf,
                    at,
                    &mut found,
                    newlines,
                    colons,
                    line_starts,
                    last_starts,
                );
            }
            if blank_ends != 0 {
                break Ok(at + blank_ends.trailing_zeros() as usize);
            }
            if bytes.len() < BLOCK {
                // Searched again, whole, once more arrives: no edge kept.
                break Err(BlankLine {
                    at,
                    blank_so_far: blank_so_far == 1,
                });
            }
            (last_starts, carry) = (line_starts, newlines >> 63);
            blank_so_far = carry | u64::from(run_to_next_block);
            at += BLOCK;
        };
        *names = NameScan {
            found,
            last_starts,
            carry: carry == 1,
        };
        result
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

    /// [`BlankLine::find_naming`] built for AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn find_naming<const N: usize, S: super::NameSet<N>>(
        search: BlankLine,
        buf: &[u8],
        names: &mut super::NameScan<N>,
    ) -> Result<usize, BlankLine> {
        // SAFETY: this function runs only where AVX2 is present.
        search
            .find_naming_with::<N, S>(buf, names, |block, byte| unsafe { block_mask(block, byte) })
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

    /// Short names, so that random bytes hold many lines named so, and
    /// one a prefix of the other.
    struct Short;

    impl NameSet<2> for Short {
        const NAMES: [&'static [u8]; 2] = [b"a", b"aa"];
    }

    type NamingSearch = fn(BlankLine, &[u8], &mut NameScan<2>) -> Result<usize, BlankLine>;

    /// Every build of the search that notes names this machine can run.
    #[allow(unsafe_code)]
    fn naming_searches() -> Vec<(&'static str, NamingSearch)> {
        let mut builds: Vec<(&'static str, NamingSearch)> = vec![
            ("chosen at run time", |s, b, n| {
                s.find_naming::<2, Short>(b, n)
            }),
            ("portable", |s, b, n| {
                s.find_naming_with::<2, Short>(b, n, swar::block_mask)
            }),
            ("baseline", |s, b, n| {
                s.find_naming_with::<2, Short>(b, n, block_mask)
            }),
        ];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, as just checked.
            builds.push(("avx2", |s, b, n| unsafe {
                avx2::find_naming::<2, Short>(s, b, n)
            }));
        }
        builds
    }

    /// What a search from `from` (a line start) must find: the blank
    /// line's `\n`, and then, in the lines before it, each name's colon
    /// as a walk over those lines finds it and the `\n` after it; and the
    /// first `\n` from `from`.
    fn naming_by_lines(buf: &[u8], from: usize) -> Option<(usize, Found<2>)> {
        let nl = blank_by_lines(buf, from)?;
        let blank_start = buf[from..nl]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(from, |at| from + at + 1);
        let colons = Short::NAMES.map(|name| name_by_lines(&buf[from..blank_start], name));
        let found = Found {
            colons: colons.map(|colon| colon.map(|c| (from + c) as u32)),
            line_ends: colons.map(|colon| {
                colon.map(|c| {
                    (from + c + buf[from + c..].iter().position(|&b| b == b'\n').unwrap()) as u32
                })
            }),
            first_newline: byte_scan(buf, from).first().map(|&at| at as u32),
            second_newline: byte_scan(buf, from).get(1).map(|&at| at as u32),
        };
        Some((nl, found))
    }

    /// A line end is noted only when it is in its colon's block: else it
    /// must be looked for, and then it is the one the walk found.
    fn same_found(got: &Found<2>, want: &Found<2>) -> bool {
        got.colons == want.colons
            && got.first_newline == want.first_newline
            && (got.second_newline.is_none() || got.second_newline == want.second_newline)
            && got
                .line_ends
                .iter()
                .zip(want.line_ends)
                .all(|(got, want)| got.is_none() || *got == want)
    }

    /// The search for the blank line that notes names finds that line
    /// where the plain search does, and the names [`find_names`] finds in
    /// the lines before it: in every build, from line starts, and across
    /// growth (the short block searched again, names crossing blocks).
    #[test]
    fn naming_search_agrees_with_a_walk_over_the_lines() {
        let mut next = xorshift();
        for round in 0..3_000 {
            let len = (next() % 300) as usize;
            let mut buf = blank_prone_bytes(len, &mut next);
            // Fewer blank lines at times, so that frames span blocks.
            if round % 2 == 0 {
                buf.iter_mut().for_each(|b| {
                    if *b == b'\r' && !next().is_multiple_of(4) {
                        *b = b'a';
                    }
                });
            }
            let starts = std::iter::once(0).chain(byte_scan(&buf, 0).into_iter().map(|at| at + 1));
            for from in starts.take(6) {
                let want = naming_by_lines(&buf, from);
                let cut = from + (next() % (buf.len() - from + 1) as u64) as usize;
                for (build, find) in naming_searches() {
                    let mut scan = NameScan::new();
                    let got = find(BlankLine::from_line_start(from), &buf, &mut scan).ok();
                    assert_eq!(got, want.map(|(nl, _)| nl), "{build}: {buf:?} from {from}");
                    if let Some((_, want)) = want {
                        assert!(
                            same_found(&scan.found, &want),
                            "{build}: {buf:?} from {from}: {:?} {want:?}",
                            scan.found
                        );
                    }
                    // The same, the bytes arriving in two parts.
                    let mut scan = NameScan::new();
                    let got = match find(BlankLine::from_line_start(from), &buf[..cut], &mut scan) {
                        Ok(nl) => Some(nl),
                        Err(search) => find(search, &buf, &mut scan).ok(),
                    };
                    assert_eq!(
                        got,
                        want.map(|(nl, _)| nl),
                        "{build}: {buf:?} from {from} cut at {cut}"
                    );
                    if let Some((_, want)) = want {
                        assert!(
                            same_found(&scan.found, &want),
                            "{build}: {buf:?} from {from} cut at {cut}"
                        );
                    }
                }
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
