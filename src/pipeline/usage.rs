//! The account's billing period (`POST /v1/usage`, free), read before the start and after the end: the
//! summary's usage line and how much the account's usage moved during the run. A read that fails or
//! takes too long is said in the summary and changes nothing else.

use std::time::Duration;

use dune_api::models::BillingPeriod;
use dune_api::{Client, Clock};

/// How long the read before the start may take (clock time): it must not hold the start back for long.
pub const BEFORE_START: Duration = Duration::from_secs(5);

/// One usage read: the current billing period, or why it could not be read.
pub type UsageRead = Result<BillingPeriod, String>;

/// The reads around the run.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Before the start (`None`: not read, e.g. nothing was started).
    pub before: Option<UsageRead>,
    /// After the end.
    pub after: Option<UsageRead>,
}

impl Usage {
    /// The latest period read, if any.
    pub fn latest(&self) -> Option<&BillingPeriod> {
        [&self.after, &self.before]
            .into_iter()
            .find_map(|r| r.as_ref().and_then(|r| r.as_ref().ok()))
    }

    /// How much the account's `credits_used` moved between the two reads (account-wide).
    pub fn moved(&self) -> Option<f64> {
        let used = |r: &Option<UsageRead>| {
            r.as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|p| p.credits_used)
        };
        Some(used(&self.after)? - used(&self.before)?)
    }

    /// Why a read failed (the first failure), if one did.
    pub fn failure(&self) -> Option<&str> {
        [&self.before, &self.after]
            .into_iter()
            .find_map(|r| r.as_ref().and_then(|r| r.as_ref().err()))
            .map(String::as_str)
    }
}

/// Reads the current billing period by clock time `until`; `client` decides the share of the cap.
pub async fn read(client: &Client, clock: Clock, until: Duration) -> UsageRead {
    let left = until.saturating_sub(clock.elapsed());
    tokio::select! {
        r = client.usage() => match r {
            Ok(u) => u
                .current()
                .cloned()
                .ok_or_else(|| "Dune listed no billing period".to_string()),
            Err(e) => Err(e.to_string()),
        },
        _ = clock.sleep(left) => Err("no answer in the time allowed".into()),
    }
}
