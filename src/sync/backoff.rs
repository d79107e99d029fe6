//! Exponential backoff, the one retry schedule of every sync loop: batch delivery after a failed request,
//! the background service after a failed run, the WebSocket after a lost connection, and the exit flush
//! after a failed attempt (persisted in `sync-state.json`).

use std::time::Duration;

/// `base · 2^(attempt-1)`, capped at `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

/// What the network loops use: 0.5 s doubling up to 30 s.
pub const NETWORK: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap }
    }

    /// The wait before attempt `attempt + 1`, after `attempt` consecutive failures (0 and 1 both wait
    /// `base`).
    pub fn delay(self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// [`Backoff::delay`] with jitter, so clients that failed together do not retry together.
    pub fn jittered_delay(self, attempt: u32) -> Duration {
        jittered(self.delay(attempt))
    }
}

/// "Equal jitter": somewhere in `[wait/2, wait]`.
pub fn jittered(wait: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    let fraction = (hasher.finish() % 1000) as u32;
    wait / 2 + (wait / 2) * fraction / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff::new(Duration::from_secs(30), Duration::from_secs(30 * 60));
        let delays: Vec<u64> = (0..8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [30, 30, 60, 120, 240, 480, 960, 1800]);
        assert_eq!(b.delay(u32::MAX), b.cap);
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        for attempt in [1, 3, 40] {
            let wait = NETWORK.delay(attempt);
            let jittered = NETWORK.jittered_delay(attempt);
            assert!(jittered >= wait / 2 && jittered <= wait, "{jittered:?} of {wait:?}");
        }
    }
}
