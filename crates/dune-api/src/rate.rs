//! The rate cap: a sliding window that every request of a [`Client`](crate::Client) passes through, so a
//! run never sends more than Dune's plan allows (40 requests a minute on the Free plan, all endpoints
//! together). Requests wait for a slot instead of exceeding it.

use std::collections::VecDeque;
use std::time::Duration;

/// A sliding-window cap: at most `max` requests in any `window`.
#[derive(Debug, Clone)]
pub struct RateCap {
    max: usize,
    window: Duration,
    sent: VecDeque<Duration>,
}

/// Dune's Free plan allows 40 read requests a minute.
pub const DEFAULT_REQUESTS_PER_MINUTE: usize = 40;

/// The window the default cap counts in: Dune's minute plus a second of slack.
///
/// NOTE: the cap sees when requests leave, Dune sees when they arrive. If the oldest request of a window
/// took longer to arrive than the newest (the first one also opens the connection), 40 requests sent 60 s
/// apart could arrive within less than 60 s; the extra second absorbs that.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(61);

impl Default for RateCap {
    fn default() -> Self {
        RateCap::new(DEFAULT_REQUESTS_PER_MINUTE, DEFAULT_WINDOW)
    }
}

impl RateCap {
    /// At most `max` (at least 1) requests in any `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        RateCap {
            max: max.max(1),
            window,
            sent: VecDeque::new(),
        }
    }

    fn forget_old(&mut self, now: Duration) {
        while let Some(&first) = self.sent.front() {
            if now.saturating_sub(first) >= self.window {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }

    /// How long to wait, from `now`, before another request is allowed.
    pub fn wait(&mut self, now: Duration) -> Duration {
        self.forget_old(now);
        if self.sent.len() < self.max {
            return Duration::ZERO;
        }
        let oldest = self.sent[self.sent.len() - self.max];
        (oldest + self.window).saturating_sub(now)
    }

    /// Records a request sent at `now`.
    pub fn record(&mut self, now: Duration) {
        self.forget_old(now);
        self.sent.push_back(now);
    }
}

/// The largest number of `times` (sorted ascending) that fall within any half-open span `[t, t + window)`.
pub fn busiest_window(times: &[Duration], window: Duration) -> usize {
    let mut best = 0;
    let mut first = 0;
    for (last, &t) in times.iter().enumerate() {
        while t.saturating_sub(times[first]) >= window {
            first += 1;
        }
        best = best.max(last + 1 - first);
    }
    best
}
