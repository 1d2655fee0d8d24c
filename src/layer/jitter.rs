//! Pseudo-random jitter without a `rand` dependency.
//!
//! Every `RandomState::new()` carries fresh keys (seeded once per thread from
//! the OS, then stepped), so hashing a counter with it gives a well-spread
//! `u64`. That is plenty to de-synchronise reconnects; it is not for secrets.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A pseudo-random fraction in `[0, 1)`.
pub(crate) fn fraction() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let bits = RandomState::new().hash_one(n) >> 11; // 53 significant bits
    #[allow(clippy::cast_precision_loss)]
    let f = bits as f64 / (1u64 << 53) as f64;
    f
}

/// `base` minus a random part of `jitter` (at most `base`).
pub(crate) fn shorten(base: Duration, jitter: Duration) -> Duration {
    base.saturating_sub(jitter.min(base).mul_f64(fraction()))
}

/// `base` plus a random part of `jitter`.
pub(crate) fn lengthen(base: Duration, jitter: Duration) -> Duration {
    base.saturating_add(jitter.mul_f64(fraction()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_in_range_and_spread() {
        let values: Vec<f64> = (0..1000).map(|_| fraction()).collect();
        assert!(values.iter().all(|f| (0.0..1.0).contains(f)));
        assert!(values.iter().any(|f| *f < 0.2));
        assert!(values.iter().any(|f| *f > 0.8));
    }

    #[test]
    fn shortened_durations_stay_within_the_jitter() {
        let base = Duration::from_secs(100);
        for _ in 0..100 {
            let d = shorten(base, Duration::from_secs(10));
            assert!(d <= base && d >= Duration::from_secs(90));
            let d = lengthen(base, Duration::from_secs(10));
            assert!(d >= base && d <= Duration::from_secs(110));
        }
        assert_eq!(shorten(base, Duration::from_secs(500)).max(base), base);
    }
}
