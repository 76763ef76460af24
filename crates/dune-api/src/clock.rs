//! Time, real or compressed. Every wait of the client and of its caller (poll intervals, retry back-off, the overall timeout,
//! the rate cap) goes through a [`Clock`], so tests and the demo can run a 20-minute pipeline in seconds by
//! running a simulator and its client at the same speed.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A clock that runs `speed` times faster than real time (1.0 in production).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    speed: f64,
}

impl Clock {
    /// Real time, starting now.
    pub fn real() -> Self {
        Clock::scaled(1.0)
    }

    /// Time running `speed` times faster than real time (speeds below 1 are taken as 1).
    pub fn scaled(speed: f64) -> Self {
        let speed = if speed.is_finite() && speed >= 1.0 {
            speed
        } else {
            1.0
        };
        Clock {
            origin: Instant::now(),
            speed,
        }
    }

    /// How many times faster than real time this clock runs.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Time since the clock started, in clock time.
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed().mul_f64(self.speed)
    }

    /// The real duration that corresponds to `d` of clock time.
    pub fn to_real(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }

    /// Sleeps for `d` of clock time.
    pub async fn sleep(&self, d: Duration) {
        if !d.is_zero() {
            tokio::time::sleep(self.to_real(d)).await;
        }
    }

    /// Sleeps for `d` of clock time unless `stop` is or turns `true` (or its sender is gone); `false` then.
    pub async fn sleep_unless_stopped(&self, d: Duration, stop: &watch::Receiver<bool>) -> bool {
        let mut stop = stop.clone();
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = self.sleep(d) => true,
            _ = stop.wait_for(|s| *s) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales() {
        let c = Clock::scaled(100.0);
        assert_eq!(
            c.to_real(Duration::from_secs(10)),
            Duration::from_millis(100)
        );
        assert_eq!(Clock::scaled(0.0).speed(), 1.0);
        assert_eq!(Clock::scaled(f64::NAN).speed(), 1.0);
    }
}
