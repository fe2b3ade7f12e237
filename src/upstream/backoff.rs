//! Exponential backoff with jitter, for every retry the gateway makes.

use std::time::Duration;

/// Attempt 0 waits about 250 ms, then 500 ms, 1 s, 2 s … up to 16 s, each ± 25 % so that
/// replicas retrying the same failure spread out.
pub fn backoff(attempt: u32) -> Duration {
    let base = 250u64 << attempt.min(6);
    let jitter = uuid::Uuid::new_v4().as_u128() as u64 % (base / 2 + 1);
    Duration::from_millis(base - base / 4 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_stays_within_its_jitter() {
        for attempt in 0..10 {
            let base = 250u64 << attempt.min(6);
            let d = backoff(attempt).as_millis() as u64;
            // The band in the function's own integer arithmetic: [base - base/4, + base/2].
            let low = base - base / 4;
            assert!(d >= low && d <= low + base / 2, "{attempt}: {d}");
        }
    }
}
