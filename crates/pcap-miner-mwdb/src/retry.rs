//! When to try a failed request again.

use std::time::Duration;

use crate::MwdbError;

/// Capped exponential backoff with a deadline.
///
/// After the n-th failed attempt the client waits `first_delay * 2^(n-1)`,
/// at most `max_delay`, then tries again. It stops when `deadline` has passed
/// since the first attempt; the last wait is shortened so that one attempt
/// happens right at the deadline. A deadline of zero means one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            deadline: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Returns a policy that makes a single attempt.
    pub fn no_retry() -> Self {
        RetryPolicy {
            deadline: Duration::ZERO,
            ..RetryPolicy::default()
        }
    }

    /// Returns the wait after failed attempt number `attempt` (1-based), ignoring the deadline.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// Returns the wait before the next attempt, or `None` when the deadline has passed.
    pub(crate) fn next_delay(&self, attempt: u32, elapsed: Duration) -> Option<Duration> {
        let remaining = self.deadline.checked_sub(elapsed)?;
        if remaining.is_zero() {
            return None;
        }
        Some(self.delay_after(attempt).min(remaining))
    }
}

/// A failed attempt that will be tried again after `delay`.
#[derive(Debug)]
pub struct RetryEvent<'a> {
    pub method: &'static str,
    pub url: &'a str,
    /// Number of the attempt that failed, from 1.
    pub attempt: u32,
    pub delay: Duration,
    pub error: &'a MwdbError,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            deadline: Duration::from_secs(2),
        }
    }

    #[test]
    fn delay_doubles_up_to_cap() {
        let delays: Vec<u128> = (1..=6)
            .map(|n| policy().delay_after(n).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500, 500]);
    }

    #[test]
    fn delay_survives_huge_attempt_numbers() {
        assert_eq!(policy().delay_after(u32::MAX), Duration::from_millis(500));
    }

    #[test]
    fn next_delay_shortened_near_deadline() {
        let next = policy().next_delay(5, Duration::from_millis(1800));
        assert_eq!(next, Some(Duration::from_millis(200)));
    }

    #[test]
    fn next_delay_none_after_deadline() {
        assert_eq!(policy().next_delay(1, Duration::from_secs(2)), None);
        assert_eq!(policy().next_delay(1, Duration::from_secs(3)), None);
    }

    #[test]
    fn no_retry_makes_one_attempt() {
        assert_eq!(RetryPolicy::no_retry().next_delay(1, Duration::ZERO), None);
    }
}
