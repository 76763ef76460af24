//! The time grammar of scenario files: durations as humantime strings (`500ms`, `1m 30s`) or numbers of
//! seconds, and the RFC 3339 UTC `epoch`.

use std::time::Duration;

use serde::Deserialize;

/// Parses an RFC 3339 UTC instant into nanoseconds since the Unix epoch.
pub(crate) fn parse_epoch(text: &str) -> anyhow::Result<i128> {
    let t = humantime::parse_rfc3339(text.trim()).map_err(|e| {
        anyhow::anyhow!(
            "epoch {text:?} is not an RFC 3339 UTC timestamp like 2026-01-01T00:00:00Z ({e})"
        )
    })?;
    let since = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("epoch {text:?} is before 1970"))?;
    Ok(since.as_nanos() as i128)
}

/// A duration as a humantime string (`"1m 30s"`, `"500ms"`) or a number of seconds.
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration like \"1s\", \"1m 30s\", \"250ms\", or a number of seconds")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v.trim())
                    .map(HumanDuration)
                    .map_err(|e| E::custom(format!("invalid duration {v:?}: {e}")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Ok(HumanDuration(Duration::from_secs(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                u64::try_from(v)
                    .map(|s| HumanDuration(Duration::from_secs(s)))
                    .map_err(|_| E::custom("a duration must not be negative"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<HumanDuration, E> {
                Duration::try_from_secs_f64(v)
                    .map(HumanDuration)
                    .map_err(|_| {
                        E::custom("a duration must be a non-negative, finite number of seconds")
                    })
            }
        }
        d.deserialize_any(V)
    }
}

fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

pub(crate) mod duration_serde {
    use std::time::Duration;

    use serde::Deserialize as _;

    use crate::scenario::time::{HumanDuration, format_duration};

    pub(crate) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        HumanDuration::deserialize(d).map(|h| h.0)
    }
}

pub(crate) mod opt_duration_serde {
    use std::time::Duration;

    use serde::Deserialize as _;

    use crate::scenario::time::{HumanDuration, format_duration};

    pub(crate) fn serialize<S: serde::Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<HumanDuration>::deserialize(d).map(|o| o.map(|h| h.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn epoch_parsing() {
        assert_eq!(parse_epoch("1970-01-01T00:00:01Z").unwrap(), 1_000_000_000);
        assert!(parse_epoch("yesterday").is_err());
    }
}
