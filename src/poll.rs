//! How often to ask, and how many requests are allowed: the polling schedule and the rate cap.
//!
//! The schedule polls once a second at first and then backs off in proportion to how long the pipeline has
//! been running (10% of the elapsed time, capped at 30 s), so the delay before the action notices the end is
//! at most max(1 s, 10% of the run time) and a long pipeline costs far fewer requests than fixed polling.
//! The cap counts every request (all endpoints) in a sliding 60-second window.

use std::collections::VecDeque;
use std::time::Duration;

/// The adaptive polling schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// The shortest interval (and the one used at first).
    pub min: Duration,
    /// The longest interval.
    pub max: Duration,
    /// The interval as a fraction of the time the pipeline has been running.
    pub fraction: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            min: Duration::from_secs(1),
            max: Duration::from_secs(30),
            fraction: 0.1,
        }
    }
}

impl Schedule {
    /// The wait before the next status request, `running` after the pipeline started.
    pub fn interval(&self, running: Duration) -> Duration {
        running.mul_f64(self.fraction).clamp(self.min, self.max)
    }
}

/// A sliding-window cap: at most `max` requests in any `window`.
#[derive(Debug, Clone)]
pub struct RateCap {
    max: usize,
    window: Duration,
    sent: VecDeque<Duration>,
}

/// Dune's Free plan allows 40 read requests a minute.
pub const DEFAULT_REQUESTS_PER_MINUTE: usize = 40;

impl Default for RateCap {
    fn default() -> Self {
        RateCap::new(DEFAULT_REQUESTS_PER_MINUTE, Duration::from_secs(60))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_starts_at_one_second_and_caps_at_thirty() {
        let s = Schedule::default();
        assert_eq!(s.interval(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(s.interval(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(s.interval(Duration::from_secs(20)), Duration::from_secs(2));
        assert_eq!(
            s.interval(Duration::from_secs(120)),
            Duration::from_secs(12)
        );
        assert_eq!(
            s.interval(Duration::from_secs(3600)),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn cap_holds_in_every_window() {
        let mut cap = RateCap::new(40, Duration::from_secs(60));
        let mut now = Duration::ZERO;
        let mut sent = Vec::new();
        for _ in 0..200 {
            now += cap.wait(now);
            cap.record(now);
            sent.push(now);
            now += Duration::from_millis(100);
        }
        for (i, &t) in sent.iter().enumerate() {
            let in_window = sent[i..]
                .iter()
                .take_while(|&&u| u < t + Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 40,
                "{in_window} requests in the window from {t:?}"
            );
        }
    }
}
