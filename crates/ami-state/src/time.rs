//! Wall-clock instants as the server tells them.
//!
//! The model reads no clock. Times come from the events themselves: a
//! `Timestamp:` header (`timestampevents = yes` in `manager.conf`), or the
//! creation second every Uniqueid starts with. A caller without timestamped
//! events may pass its own wall clock to [`crate::Model::handle_time`].

use std::fmt;
use std::time::SystemTime;

/// An instant on the server's wall clock: microseconds since the Unix epoch.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The instant `micros` microseconds after the Unix epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros)
    }

    /// The instant `secs` seconds after the Unix epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000))
    }

    /// The instant a wall-clock reading stands for (the epoch if it is
    /// earlier; saturating): for an adapter's
    /// [`Model::handle_time`](crate::Model::handle_time). The model itself
    /// reads no clock.
    pub fn from_system_time(time: SystemTime) -> Self {
        let since = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }

    /// This instant `secs` seconds earlier (saturating at the epoch).
    pub const fn minus_secs(self, secs: u64) -> Self {
        Timestamp(self.0.saturating_sub(secs.saturating_mul(1_000_000)))
    }

    /// Parses `seconds[.fraction]`, the form of the `Timestamp:` header
    /// (`1795727786.123456`); digits past the sixth of the fraction are
    /// dropped.
    pub(crate) fn parse(text: &[u8]) -> Option<Self> {
        if let Some(t) = Timestamp::parse_usual(text) {
            return t;
        }
        let (secs, frac) = match text.iter().position(|&b| b == b'.') {
            Some(dot) => (&text[..dot], &text[dot + 1..]),
            None => (text, &b""[..]),
        };
        let secs = digits(secs)?;
        let mut micros = 0u64;
        for i in 0..6 {
            let digit = match frac.get(i) {
                Some(b) if b.is_ascii_digit() => u64::from(b - b'0'),
                Some(_) => return None,
                None => 0,
            };
            micros = micros * 10 + digit;
        }
        Some(Timestamp(secs.checked_mul(1_000_000)?.checked_add(micros)?))
    }

    /// The creation second a Uniqueid starts with: `[systemname-]epoch.seq`.
    /// The usual spelling, ten digits, a dot and six (every event of a
    /// live server, each one parsed): the sixteen digits read as one
    /// number are the microseconds, eight at a time, without the general
    /// path's search for the dot and overflow checks (sixteen digits cannot
    /// overflow). `None` when `text` is spelled otherwise; else what
    /// [`Timestamp::parse`] gives.
    #[inline]
    fn parse_usual(text: &[u8]) -> Option<Option<Self>> {
        let t: &[u8; 17] = text.try_into().ok()?;
        if t[10] != b'.' {
            return None;
        }
        let high = u64::from_le_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
        let low = u64::from_le_bytes([t[8], t[9], t[11], t[12], t[13], t[14], t[15], t[16]]);
        let micros = match (eight_digits(high), eight_digits(low)) {
            (Some(high), Some(low)) => Some(Timestamp(high * 100_000_000 + low)),
            _ => None,
        };
        Some(micros)
    }

    pub(crate) fn from_uniqueid(uniqueid: &[u8]) -> Option<Self> {
        let start = uniqueid
            .iter()
            .rposition(|&b| b == b'-')
            .map_or(0, |dash| dash + 1);
        let rest = &uniqueid[start..];
        let dot = rest.iter().position(|&b| b == b'.')?;
        Some(Timestamp::from_secs(digits(&rest[..dot])?))
    }
}

/// Eight ASCII digits, the first in the lowest byte, as a number; `None`
/// if any byte is not a digit. A digit is `0x30..=0x39`: its high half is 3,
/// and stays 3 with 6 added (no byte carries into the next: one that
/// would is not a digit by the first test). Then pairs of digits are
/// merged into 2-digit numbers, those into 4-digit ones, and those into
/// one, each step in every lane at once.
fn eight_digits(word: u64) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let high_halves = 0xf0 * ONES;
    if word & high_halves != 0x30 * ONES
        || word.wrapping_add(0x06 * ONES) & high_halves != 0x30 * ONES
    {
        return None;
    }
    let d = word - 0x30 * ONES;
    let d = (d * 10 + (d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let d = (d * 100 + (d >> 16)) & 0x0000_ffff_0000_ffff;
    Some((d * 10_000 + (d >> 32)) & 0xffff_ffff)
}

/// A non-empty run of ASCII digits as a number, or `None` (also on overflow).
fn digits(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_timestamp_header() {
        let t = Timestamp::parse(b"1795727786.123456").expect("valid");
        assert_eq!(t.as_micros(), 1_795_727_786_123_456);
        assert_eq!(Timestamp::parse(b"12.5"), Some(Timestamp(12_500_000)));
        assert_eq!(Timestamp::parse(b"12"), Some(Timestamp::from_secs(12)));
        assert_eq!(
            Timestamp::parse(b"1.1234567"),
            Some(Timestamp(1_123_456)),
            "a seventh digit is dropped"
        );
        for bad in [&b""[..], b".5", b"x", b"1.2x", b"99999999999999999999"] {
            assert_eq!(Timestamp::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_usual_spelling_parses_as_the_general_path_does() {
        // The general path, for comparison: `parse` takes the fast one
        // for these seventeen bytes.
        let general = |text: &[u8]| {
            let dot = text.iter().position(|&b| b == b'.')?;
            let micros = digits(&text[dot + 1..])?;
            Some(Timestamp(digits(&text[..dot])? * 1_000_000 + micros))
        };
        for text in [
            &b"1795727786.123456"[..],
            b"0000000000.000000",
            b"9999999999.999999",
            b"1795727786.000001",
            b"9876543210.012345",
        ] {
            assert_eq!(Timestamp::parse_usual(text), Some(general(text)));
            assert_eq!(Timestamp::parse(text), general(text));
        }
        let usual = *b"1234567890.123456";
        assert_eq!(
            Timestamp::parse(&usual),
            Some(Timestamp(1_234_567_890_123_456))
        );
        for at in (0..17).filter(|&at| at != 10) {
            for not_digit in [b'/', b':', b'a', b'?', 0xfa, 0xff, 0] {
                let mut bad = usual;
                bad[at] = not_digit;
                assert_eq!(Timestamp::parse(&bad), None, "{bad:?}");
            }
            for digit in b'0'..=b'9' {
                let mut good = usual;
                good[at] = digit;
                assert_eq!(Timestamp::parse(&good), general(&good), "{good:?}");
            }
        }
        for other in [
            &b"1795727786.12345"[..],
            b"17957277861.23456",
            b"1795727786.1234567",
        ] {
            assert_eq!(Timestamp::parse_usual(other), None, "{other:?}");
        }
        assert_eq!(
            Timestamp::parse(b"179572778.1234567"),
            Some(Timestamp(179_572_778_123_456)),
            "seventeen bytes with the dot elsewhere take the general path"
        );
    }

    #[test]
    fn uniqueids_give_their_creation_second() {
        let t = Timestamp::from_uniqueid(b"1795727786.13").expect("valid");
        assert_eq!(t.as_secs(), 1_795_727_786);
        let named = Timestamp::from_uniqueid(b"pbx-3-1795727786.13").expect("valid");
        assert_eq!(named, t, "a system name before the epoch is skipped");
        assert_eq!(Timestamp::from_uniqueid(b"<unknown>"), None);
        assert_eq!(Timestamp::from_uniqueid(b"abc.1"), None);
    }

    #[test]
    fn wall_clock_readings_convert() {
        use std::time::Duration;
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_727_786_123_456);
        assert_eq!(
            Timestamp::from_system_time(t).as_micros(),
            1_795_727_786_123_456
        );
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(Timestamp::from_system_time(before), Timestamp(0));
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Timestamp::from_secs(u64::MAX).as_micros(), u64::MAX);
        assert_eq!(Timestamp::from_secs(5).minus_secs(9), Timestamp(0));
        assert_eq!(format!("{:?}", Timestamp(1_500_000)), "1.500000");
    }
}
