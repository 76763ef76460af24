//! The virtual clock: virtual time since the simulator started (`time_scale` virtual seconds per real
//! second), and the wall-clock instants it stands for (the scenario's `epoch`, or the real start, plus
//! virtual time).

use std::time::Duration;

use tokio::time::Instant;

use crate::scenario::time::parse_epoch;

/// One simulator's clock, fixed at start.
pub(crate) struct Clock {
    time_scale: f64,
    epoch_nanos: i128,
    /// With an explicit epoch, each pipeline execution is anchored at the epoch.
    anchored: bool,
    started: Instant,
}

impl Clock {
    /// Starts now. `epoch` is the scenario's (validated) RFC 3339 epoch; `None` = the real time now.
    pub(crate) fn start(time_scale: f64, epoch: Option<&str>) -> anyhow::Result<Clock> {
        let epoch_nanos = match epoch {
            Some(e) => parse_epoch(e)?,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128),
        };
        Ok(Clock {
            time_scale,
            epoch_nanos,
            anchored: epoch.is_some(),
            started: Instant::now(),
        })
    }

    /// Virtual time since start.
    pub(crate) fn now(&self) -> Duration {
        let real = self.started.elapsed().as_secs_f64();
        Duration::try_from_secs_f64(real * self.time_scale).unwrap_or(Duration::MAX)
    }

    /// Real duration of a virtual one.
    pub(crate) fn real(&self, virtual_time: Duration) -> Duration {
        Duration::try_from_secs_f64(virtual_time.as_secs_f64() / self.time_scale)
            .unwrap_or(Duration::MAX)
    }

    /// Wall-clock nanoseconds since the Unix epoch of virtual time `t`.
    pub(crate) fn timestamp_nanos(&self, t: Duration) -> i128 {
        self.epoch_nanos.saturating_add(t.as_nanos() as i128)
    }

    /// The virtual time whose timestamp describes an event `offset` after a pipeline created at
    /// `created`: with an explicit epoch every pipeline execution counts as submitted exactly at the
    /// epoch, so its timestamps are deterministic; otherwise its real creation time is used.
    pub(crate) fn event_time(&self, created: Duration, offset: Duration) -> Duration {
        if self.anchored {
            offset
        } else {
            created.saturating_add(offset)
        }
    }

    /// The `Date` header: the simulator's "now", the epoch (or the start) plus virtual time, so that
    /// the age of a timestamp it served (`latest_results` end at the epoch minus their `age`) can be
    /// measured against it the way a client measures Dune's timestamps against Dune's `Date`.
    pub(crate) fn http_date(&self) -> String {
        let nanos = self.timestamp_nanos(self.now()).max(0);
        let at = std::time::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX / 2));
        httpdate::fmt_http_date(at)
    }

    pub(crate) fn unix_millis(&self, t: Duration) -> i128 {
        self.timestamp_nanos(t) / 1_000_000
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn anchored_at_an_explicit_epoch() {
        let clock = Clock::start(60.0, Some("2026-01-01T00:00:00Z")).unwrap();
        let epoch = 1_767_225_600_000_000_000i128;
        assert_eq!(
            clock.timestamp_nanos(Duration::from_secs(20)),
            epoch + 20_000_000_000
        );
        assert_eq!(clock.unix_millis(Duration::ZERO), epoch / 1_000_000);
        // Every pipeline counts as submitted at the epoch.
        let created = Duration::from_secs(100);
        assert_eq!(
            clock.event_time(created, Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert_eq!(clock.real(Duration::from_secs(60)), Duration::from_secs(1));
        assert!(
            clock.http_date().starts_with("Thu, 01 Jan 2026 00:0"),
            "{}",
            clock.http_date()
        );
    }

    #[test]
    fn without_epoch_events_follow_creation() {
        let clock = Clock::start(1.0, None).unwrap();
        let created = Duration::from_secs(100);
        assert_eq!(
            clock.event_time(created, Duration::from_secs(5)),
            Duration::from_secs(105)
        );
        assert!(clock.now() < Duration::from_secs(60));
    }
}
