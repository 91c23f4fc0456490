//! Deadline arithmetic that never panics: every deadline in the core is
//! `instant_after(now, duration)`.
//!
//! Durations come from configuration, from `Action::with_timeout` (any
//! `Duration`, `Duration::MAX` included) and from the server (an Originate's
//! `Timeout` header), and `now` comes from the adapter's clock. `Instant +
//! Duration` panics on overflow; this saturates instead, which for any
//! caller means "never".

use std::time::{Duration, Instant};

/// `now + d`, or an instant at least half as far away when that cannot be
/// represented (the platform's latest instant, near enough: centuries away).
///
/// `d` is halved until the sum fits; at most ~100 halvings reach zero,
/// which always fits. Adapters use it for their own deadlines too, so that
/// no duration a caller passes (`Duration::MAX` included) panics anywhere.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let now = Instant::now();
/// assert_eq!(ami_proto::instant_after(now, Duration::from_secs(1)), now + Duration::from_secs(1));
/// assert!(ami_proto::instant_after(now, Duration::MAX) > now); // "never", not a panic
/// ```
pub fn instant_after(now: Instant, d: Duration) -> Instant {
    let mut d = d;
    loop {
        if let Some(t) = now.checked_add(d) {
            return t;
        }
        d /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_after_adds_and_never_panics() {
        let now = Instant::now();
        assert_eq!(
            instant_after(now, Duration::from_secs(3)),
            now + Duration::from_secs(3)
        );
        assert_eq!(instant_after(now, Duration::ZERO), now);
        let far = instant_after(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(86_400 * 365));
        // From the far end, adding anything stays at (or near) the end.
        assert!(instant_after(far, Duration::MAX) >= far);
    }
}
