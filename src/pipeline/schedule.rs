//! How often to ask, and how many requests are allowed: the polling schedule and the rate cap.
//!
//! The targets: notice a pipeline's end within max(1.5 s, 10% of its run time), never send more than 40
//! requests in any 60 seconds (Dune's Free plan, all endpoints together), and spend fewer status requests
//! than fixed 5-second polling on anything longer than five minutes.
//!
//! The schedule polls every 1.25 s at first and then every 8% of the time the pipeline has been running (at
//! most every 30 s). A pipeline that ends after `T` was last seen running at some `t ≤ T`, and the next look
//! comes `interval(t) ≤ max(1.25 s, 8% of T)` later: the 2% (at least 250 ms) left below the target is the
//! allowance for the round trip. Intervals count from when the previous status request left, so neither
//! the round trip nor the per-node reads push the schedule back; a status request still never leaves less
//! than [`MIN_STATUS_GAP`] after the previous answer arrived.
//!
//! The cap counts every request in a sliding window, as a last line of defence: the schedule alone stays
//! well below it (its busiest minute, the first, holds 30 status requests), which leaves room for the start
//! request and a burst of per-node reads when several nodes end together. When more than that bunches up,
//! requests wait for a slot instead of exceeding the cap.

use std::time::Duration;

/// A status request never leaves sooner than this after the previous one's answer arrived (so at most one
/// a second, whatever the schedule and the round trip).
pub const MIN_STATUS_GAP: Duration = Duration::from_secs(1);

/// The polling schedule: `fraction` of the time the pipeline has been running, within `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// The shortest interval (the one used at first).
    pub min: Duration,
    /// The longest interval.
    pub max: Duration,
    /// The interval as a fraction of the time the pipeline has been running.
    pub fraction: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            min: Duration::from_millis(1250),
            max: Duration::from_secs(30),
            fraction: 0.08,
        }
    }
}

impl Schedule {
    /// Polling every `every`, whatever happens (the common practice, used as the benchmark's baseline).
    pub fn fixed(every: Duration) -> Self {
        Schedule {
            min: every,
            max: every,
            fraction: 0.0,
        }
    }

    /// The interval between status requests once the pipeline has been running for `running`.
    pub fn interval(&self, running: Duration) -> Duration {
        running.mul_f64(self.fraction).clamp(self.min, self.max)
    }

    /// When the next status request should leave, in clock time: one interval after the previous one left
    /// (`sent`, `started` being when following began), and at least [`MIN_STATUS_GAP`] after its answer
    /// arrived (`answered`).
    pub fn next_poll(&self, started: Duration, sent: Duration, answered: Duration) -> Duration {
        let on_schedule = sent + self.interval(sent.saturating_sub(started));
        on_schedule.max(answered + MIN_STATUS_GAP)
    }

    /// The polls planned from `first` (the next one) through `until`, on schedule: the slots the rate
    /// cap keeps for them ([`dune_api::Client::plan_polls`]). Later answers only push polls later, and
    /// intervals never shrink, so the polls actually sent in any span never outnumber the plan's.
    pub fn plan(&self, started: Duration, first: Duration, until: Duration) -> Vec<Duration> {
        let mut out = Vec::new();
        let mut at = first;
        while at <= until {
            out.push(at);
            at += self
                .interval(at.saturating_sub(started))
                .max(MIN_STATUS_GAP);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dune_api::rate::{DEFAULT_WINDOW, RateCap, busiest_window};

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// Status request send times of a pipeline followed for `run` with round trips of `rtt`, until the
    /// first request that sees the end; the follower starts at 0 (when the start request was answered).
    fn polls(schedule: &Schedule, run: Duration, rtt: Duration) -> Vec<Duration> {
        let mut sent = Duration::ZERO;
        let mut out = Vec::new();
        loop {
            out.push(sent);
            // Dune answers what was true when the request arrived.
            if sent + rtt / 2 >= run {
                return out;
            }
            sent = schedule.next_poll(Duration::ZERO, sent, sent + rtt);
        }
    }

    #[test]
    fn intervals_and_their_caps() {
        let s = Schedule::default();
        let at = |e: f64| s.interval(secs(e));
        assert_eq!(at(0.0), secs(1.25));
        assert_eq!(at(10.0), secs(1.25));
        assert_eq!(at(15.625), secs(1.25), "8% takes over at 15.6 s");
        assert_eq!(at(20.0), secs(1.6));
        assert_eq!(at(60.0), secs(4.8));
        assert_eq!(at(120.0), secs(9.6));
        assert_eq!(at(300.0), secs(24.0));
        assert_eq!(at(375.0), secs(30.0), "the 30 s cap from 6¼ minutes on");
        assert_eq!(at(3600.0), secs(30.0));
        assert_eq!(at(1e9), secs(30.0));
        let fixed = Schedule::fixed(secs(5.0));
        assert_eq!(fixed.interval(Duration::ZERO), secs(5.0));
        assert_eq!(fixed.interval(secs(3600.0)), secs(5.0));
    }

    #[test]
    fn intervals_count_from_the_previous_request_but_never_crowd_an_answer() {
        let s = Schedule::default();
        // A quick answer: the next request leaves one interval after the previous one left.
        assert_eq!(
            s.next_poll(secs(0.0), secs(100.0), secs(100.1)),
            secs(108.0)
        );
        // The interval is computed from the time since following began.
        assert_eq!(
            s.next_poll(secs(40.0), secs(140.0), secs(140.1)),
            secs(148.0)
        );
        // A slow answer (the cap held the request back, or a retry): a full second after it.
        assert_eq!(s.next_poll(secs(0.0), secs(1.0), secs(1.5)), secs(2.5));
        let fixed = Schedule::fixed(secs(5.0));
        assert_eq!(fixed.next_poll(secs(0.0), secs(1.0), secs(1.2)), secs(6.0));
    }

    #[test]
    fn the_end_is_noticed_within_the_target_for_every_run_time() {
        let s = Schedule::default();
        let rtt = secs(0.25);
        let mut run = secs(0.05);
        while run < secs(4.0 * 3600.0) {
            let sent = polls(&s, run, rtt);
            let seen = *sent.last().expect("at least one poll") + rtt / 2;
            let lag = seen.saturating_sub(run);
            let target = secs(1.5).max(run / 10);
            assert!(lag <= target, "run {run:?}: lag {lag:?} > {target:?}");
            run = run.mul_f64(1.013);
        }
    }

    #[test]
    fn beyond_five_minutes_fewer_status_requests_than_fixed_polling() {
        let adaptive = Schedule::default();
        let fixed = Schedule::fixed(secs(5.0));
        let rtt = secs(0.1);
        for minutes in [5.0, 5.5, 7.0, 10.0, 30.0, 60.0, 180.0] {
            let run = secs(minutes * 60.0);
            let ours = polls(&adaptive, run, rtt).len();
            let theirs = polls(&fixed, run, rtt).len();
            assert!(ours < theirs, "{minutes} min: {ours} ≥ {theirs}");
        }
        // For the record: half an hour costs about 100 status requests instead of 361.
        assert!(polls(&adaptive, secs(1800.0), rtt).len() <= 105);
    }

    #[test]
    fn the_plan_covers_every_poll_actually_sent() {
        let s = Schedule::default();
        let plan = s.plan(Duration::ZERO, Duration::ZERO, secs(122.0));
        assert_eq!(plan[..3], [secs(0.0), secs(1.25), secs(2.5)]);
        // Polls sent with slow answers are never more numerous in any window than the plan's.
        for rtt in [0.05, 0.3, 1.5] {
            let sent = polls(&s, secs(122.0), secs(rtt));
            for start in sent.iter().copied() {
                let within = |v: &[Duration]| {
                    v.iter()
                        .filter(|&&t| t >= start && t < start + secs(61.0))
                        .count()
                };
                let from_here = s.plan(Duration::ZERO, start, start + secs(61.0));
                assert!(within(&sent) <= from_here.len(), "rtt {rtt} at {start:?}");
            }
        }
    }

    #[test]
    fn status_requests_are_at_least_a_second_apart() {
        for rtt in [0.0, 0.1, 0.3, 2.0] {
            let sent = polls(&Schedule::default(), secs(900.0), secs(rtt));
            for pair in sent.windows(2) {
                assert!(pair[1] - pair[0] >= secs(1.0), "rtt {rtt}: {pair:?}");
            }
        }
    }

    #[test]
    fn the_schedule_leaves_room_in_the_busiest_minute() {
        // The first minute is the busiest; 30 status requests leave 10 of the 40 for the start request and
        // the per-node reads before the cap has to hold anything back.
        let sent = polls(&Schedule::default(), secs(3600.0), secs(0.05));
        assert_eq!(busiest_window(&sent, secs(60.0)), 30);
    }

    #[test]
    fn busiest_window_counts_half_open_spans() {
        assert_eq!(busiest_window(&[], secs(60.0)), 0);
        let t = [0.0, 1.0, 59.9, 60.0, 61.0, 62.0, 62.5].map(secs);
        assert_eq!(busiest_window(&t, secs(60.0)), 5, "1.0 ..= 62.5");
        assert_eq!(busiest_window(&t, secs(1.0)), 2);
    }

    /// Sends `burst` requests at each of `at` (sorted) through the cap, as a single follower does (one at a
    /// time, each waiting for its slot); returns when each left.
    fn through_cap(cap: &mut RateCap, at: &[(Duration, usize)]) -> Vec<Duration> {
        let mut now = Duration::ZERO;
        let mut sent = Vec::new();
        for &(t, burst) in at {
            now = now.max(t);
            for _ in 0..burst {
                now += cap.wait(now);
                cap.record(now);
                sent.push(now);
                now += Duration::from_millis(5);
            }
        }
        sent
    }

    #[test]
    fn cap_holds_in_every_window() {
        let mut cap = RateCap::new(40, secs(60.0));
        let at: Vec<_> = (0..200).map(|i| (secs(i as f64 * 0.1), 1)).collect();
        let sent = through_cap(&mut cap, &at);
        assert_eq!(busiest_window(&sent, secs(60.0)), 40);
        assert!(sent[40] >= sent[0] + secs(60.0), "the 41st waits a minute");
    }

    #[test]
    fn cap_holds_with_bursts_of_node_reads() {
        // The start request, the schedule's polls, and after some polls a burst of reads of nodes that
        // ended together (8 at 20 s, 12 at 45 s, 30 at 50 s).
        let polls = polls(&Schedule::default(), secs(900.0), secs(0.05));
        let mut at = vec![(Duration::ZERO, 1)];
        at.extend(polls.iter().map(|&t| {
            let reads = match t.as_secs() {
                20 => 8,
                45 => 12,
                50 => 30,
                _ => 0,
            };
            (t, 1 + reads)
        }));
        assert!(at.iter().map(|a| a.1).sum::<usize>() > 80);
        let mut cap = RateCap::default();
        let sent = through_cap(&mut cap, &at);
        assert!(busiest_window(&sent, secs(60.0)) <= 40);
        assert!(busiest_window(&sent, DEFAULT_WINDOW) <= 40);
    }

    #[test]
    fn cap_does_not_delay_the_schedule_with_a_few_node_reads() {
        // Five nodes ending together in the first, busiest minute: nothing waits.
        let polls = polls(&Schedule::default(), secs(600.0), secs(0.05));
        let mut cap = RateCap::default();
        let mut requests = vec![(Duration::ZERO, 1)];
        requests.extend(
            polls
                .iter()
                .map(|&t| (t, if t == polls[20] { 6 } else { 1 })),
        );
        for (t, n) in requests {
            for _ in 0..n {
                assert_eq!(cap.wait(t), Duration::ZERO, "held back at {t:?}");
                cap.record(t);
            }
        }
    }
}
