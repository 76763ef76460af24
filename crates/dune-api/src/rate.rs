//! The rate cap: a sliding window that every request of a [`Client`](crate::Client) passes through, so a
//! run never sends more than Dune's plan allows (40 requests a minute on the Free plan, all endpoints
//! together). Requests wait for a slot instead of exceeding it.
//!
//! Two classes share the one cap. Status polls (and the start, the definition read) take any free slot.
//! *Extras* (per-node execution reads, result previews and downloads) take a slot only when the polls
//! planned for the next window ([`RateCap::set_planned`]) still fit after it, so an extra never delays a
//! poll: if every extra admitted at `t` left room for the polls planned in `(t, t + window]`, the window
//! ending at any later poll holds at most `max - 1` requests before it. Cancels never wait.
//!
//! A 429 from Dune lowers the cap for the rest of the run ([`RateCap::lower`]).

use std::collections::VecDeque;
use std::time::Duration;

/// A sliding-window cap: at most `max` requests in any `window`.
#[derive(Debug, Clone)]
pub struct RateCap {
    max: usize,
    window: Duration,
    sent: VecDeque<Duration>,
    /// When the priority requests (status polls) are planned to leave, ascending.
    planned: Vec<Duration>,
    /// When a 429 last lowered the cap.
    lowered_at: Option<Duration>,
}

/// How often an extra that found no room looks again (clock time): the plan of polls changes after
/// every poll.
pub const EXTRA_RECHECK: Duration = Duration::from_millis(500);

/// Two 429s closer together than this lower the cap once (concurrent requests hit by the same limit).
pub const LOWER_AT_MOST_EVERY: Duration = Duration::from_secs(2);

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
            planned: Vec::new(),
            lowered_at: None,
        }
    }

    /// The most requests allowed in one window (lowered by 429s).
    pub fn max(&self) -> usize {
        self.max
    }

    /// The window the cap counts in.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Reserves room for priority requests planned at `times` (ascending clock times); an empty plan
    /// (the pipeline has ended) leaves the whole cap to extras.
    pub fn set_planned(&mut self, times: Vec<Duration>) {
        self.planned = times;
    }

    /// How long to wait, from `now`, before an extra is allowed: until it fits beside what was sent in
    /// the window and the polls planned in `(now, now + window]`.
    pub fn wait_extra(&mut self, now: Duration) -> Duration {
        self.forget_old(now);
        let horizon = now + self.window;
        let planned = self
            .planned
            .iter()
            .filter(|&&t| t > now && t <= horizon)
            .count();
        if self.sent.len() + 1 + planned <= self.max {
            return Duration::ZERO;
        }
        // Room comes back when the oldest request leaves the window; the plan may change sooner.
        let expires = self.sent.front().map_or(EXTRA_RECHECK, |&first| {
            (first + self.window).saturating_sub(now)
        });
        expires.clamp(Duration::from_millis(10), EXTRA_RECHECK)
    }

    /// A 429 at `now`: the cap drops by a quarter (at least one, never below one) for the rest of the run;
    /// `Some(new cap)` when it was lowered (429s within [`LOWER_AT_MOST_EVERY`] count once).
    pub fn lower(&mut self, now: Duration) -> Option<usize> {
        if self
            .lowered_at
            .is_some_and(|at| now.saturating_sub(at) < LOWER_AT_MOST_EVERY)
        {
            return None;
        }
        self.lowered_at = Some(now);
        let cut = (self.max / 4).max(1);
        let lowered = self.max.saturating_sub(cut).max(1);
        let changed = lowered != self.max;
        self.max = lowered;
        changed.then_some(lowered)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn extras_leave_room_for_planned_polls() {
        let mut cap = RateCap::new(10, secs(60.0));
        // Eight polls planned within the next minute: two extras fit, the third waits.
        cap.set_planned((1..=8).map(|i| secs(i as f64 * 5.0)).collect());
        for _ in 0..2 {
            assert_eq!(cap.wait_extra(Duration::ZERO), Duration::ZERO);
            cap.record(Duration::ZERO);
        }
        assert!(cap.wait_extra(Duration::ZERO) > Duration::ZERO);
        // Every planned poll still finds a slot.
        for i in 1..=8 {
            let t = secs(i as f64 * 5.0);
            assert_eq!(cap.wait(t), Duration::ZERO, "poll {i}");
            cap.record(t);
        }
        // Without a plan, extras use the whole cap.
        let mut cap = RateCap::new(10, secs(60.0));
        for _ in 0..10 {
            assert_eq!(cap.wait_extra(Duration::ZERO), Duration::ZERO);
            cap.record(Duration::ZERO);
        }
        assert!(cap.wait_extra(Duration::ZERO) > Duration::ZERO);
    }

    #[test]
    fn a_429_lowers_the_cap_once_per_burst() {
        let mut cap = RateCap::new(40, secs(61.0));
        assert_eq!(cap.lower(secs(10.0)), Some(30));
        assert_eq!(cap.lower(secs(10.5)), None, "the same burst");
        assert_eq!(cap.max(), 30);
        assert_eq!(cap.lower(secs(20.0)), Some(23));
        let mut one = RateCap::new(1, secs(61.0));
        assert_eq!(one.lower(secs(1.0)), None);
        assert_eq!(one.max(), 1);
    }
}
