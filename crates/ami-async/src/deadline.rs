//! Deadlines from durations a user chose: saturating, never a panic.

use std::time::{Duration, Instant};

/// Longer than any deadline means anything (a century), and far from the
/// end of any platform's `Instant`, so the core can add it again.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `now + d`, with `d` capped at a century: `Duration::MAX` means "never",
/// not an overflow panic.
pub(crate) fn after(now: Instant, d: Duration) -> Instant {
    // The capped sum fits any platform's `Instant` started this millennium.
    now.checked_add(d.min(NEVER)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_saturates() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(after(now, second), now + second);
        assert_eq!(after(now, Duration::MAX), now + NEVER);
        // What is left of it can be added again (a parked action's re-send).
        let left = after(now, Duration::MAX).saturating_duration_since(now);
        assert!(now.checked_add(left).is_some());
    }
}
