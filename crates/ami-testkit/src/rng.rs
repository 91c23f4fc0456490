//! A tiny seeded PRNG (SplitMix64): deterministic, no dependencies.

use std::time::Duration;

/// SplitMix64: good enough spread for test data, fully reproducible. The
/// fake server draws from it, and so do seeded tests (the adapters' soaks).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The same seed gives the same sequence, on every platform.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0); the tiny modulo bias does not matter here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// An index into a slice of `len` (> 0) items.
    pub fn pick(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True `pct` times in a hundred.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    /// Between `lo` and `hi` microseconds.
    pub fn micros(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_micros(self.range(lo, hi))
    }
}

/// `YYYY-MM-DD` and `HH:MM:SS` of a Unix time (UTC), civil calendar.
pub(crate) fn civil(epoch_secs: u64) -> (String, String) {
    let days = (epoch_secs / 86_400) as i64;
    let secs = epoch_secs % 86_400;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
    )
}

/// An Asterisk `EventTV` value: `2026-11-26T21:16:16.073+0000`.
pub(crate) fn event_tv(epoch: f64) -> String {
    let secs = epoch.max(0.0) as u64;
    let millis = ((epoch.max(0.0) - secs as f64) * 1000.0) as u64 % 1000;
    let (date, time) = civil(secs);
    format!("{date}T{time}.{millis:03}+0000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_spread() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
        assert!((0..100).all(|_| a.below(10) < 10));
    }

    #[test]
    fn civil_dates_match_known_values() {
        // 1795727776 is 2026-11-26 21:16:16 UTC (the corpus capture time).
        assert_eq!(
            civil(1_795_727_776),
            ("2026-11-26".to_string(), "21:16:16".to_string())
        );
        assert_eq!(civil(0), ("1970-01-01".to_string(), "00:00:00".to_string()));
        assert_eq!(
            event_tv(1_795_727_776.073_5),
            "2026-11-26T21:16:16.073+0000"
        );
    }
}
