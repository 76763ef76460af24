//! How the simulated server words and shapes its answers (the "dialect" a client must cope with): node
//! and pipeline status vocabularies, how views are named, the datapoint cap per results page and what a
//! page above it gets, and what partial results get without `allow_partial_results`.

use serde::{Deserialize, Serialize};

/// Dune's documented cap on datapoints per results request.
pub const DEFAULT_MAX_DATAPOINTS: u64 = 250_000;

/// See [`Scenario::both_status_objects`](crate::Scenario::both_status_objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BothStatusObjects {
    /// Only the status object of the node's kind (Dune's documented shape).
    #[default]
    Off,
    /// The unused object is `null`. In YAML, `null`, `"null"` and `nulls` all select this.
    Null,
    /// The unused object has every field empty: `""` strings and `query_id: 0`.
    Empty,
}

impl BothStatusObjects {
    pub(crate) fn is_off(&self) -> bool {
        *self == BothStatusObjects::Off
    }

    /// An explicit YAML/JSON `null` means the `null` variant (absent means `off`).
    pub(crate) fn deserialize_field<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None | Some("null" | "nulls") => Ok(BothStatusObjects::Null),
            Some("empty") => Ok(BothStatusObjects::Empty),
            Some("off") => Ok(BothStatusObjects::Off),
            Some(other) => Err(serde::de::Error::custom(format!(
                "both_status_objects: expected null, empty or off, got {other:?}"
            ))),
        }
    }
}

/// See [`Scenario::view_names_in_status`](crate::Scenario::view_names_in_status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewNames {
    /// The name as written in the scenario (normally `dune.<owner>.<name>`).
    #[default]
    Full,
    /// Only the part after the last `.`.
    Short,
}

impl ViewNames {
    pub(crate) fn is_full(&self) -> bool {
        *self == ViewNames::Full
    }

    /// `name` in this style.
    pub fn apply<'a>(&self, name: &'a str) -> &'a str {
        match self {
            ViewNames::Full => name,
            ViewNames::Short => short_view_name(name),
        }
    }
}

/// `dune.acme.mv_daily_volume` -> `mv_daily_volume`.
pub fn short_view_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// See [`Scenario::datapoint_limit_response`](crate::Scenario::datapoint_limit_response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatapointLimitResponse {
    /// A shorter page (fewer rows), with `next_uri`/`next_offset` for the rest.
    #[default]
    Shorten,
    /// 400 `{"error": "..."}` naming the datapoint limit.
    Error,
}

impl DatapointLimitResponse {
    pub(crate) fn is_shorten(&self) -> bool {
        *self == DatapointLimitResponse::Shorten
    }
}

/// See [`Scenario::partial_results_without_allow`](crate::Scenario::partial_results_without_allow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialResults {
    /// 400 `Partial Result, please request with 'allow_partial_results=true'`.
    #[default]
    Error,
    /// 200 with state `QUERY_STATE_COMPLETED_PARTIAL`, `is_execution_finished: true`, no `result`.
    PartialState,
    /// 200 with state `QUERY_STATE_FAILED`, `is_execution_finished: true`, an `error`, no `result`.
    FailedState,
}

impl PartialResults {
    pub(crate) fn is_error(&self) -> bool {
        *self == PartialResults::Error
    }
}

/// Which strings node statuses use in `GET /pipelines/executions/{id}/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusStyle {
    /// `pending`, `executing`, `completed`, `failed`, `cancelled`, `completed_partial`, `expired`.
    #[default]
    Lowercase,
    /// `QUERY_STATE_PENDING`, `QUERY_STATE_EXECUTING`, ... (the execution-state enum).
    QueryState,
}

/// Overrides of node status strings, per logical state. `blocked` is a node that will never run because
/// a dependency failed, expired or was cancelled (default: the `pending` string, without execution id).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusNames {
    /// A node whose dependencies are still running (not submitted, no execution id; default: the
    /// `pending` string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// A submitted, queued node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_partial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

impl StatusNames {
    pub(crate) fn is_empty(&self) -> bool {
        *self == StatusNames::default()
    }
}

/// Overrides of the top-level pipeline status strings (defaults `pending`, `executing`, `completed`,
/// `failed`, `cancelled`). Mapping `failed` to `executing` models a server that never ends a failed
/// pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineStatusNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<String>,
}

impl PipelineStatusNames {
    pub(crate) fn is_empty(&self) -> bool {
        *self == PipelineStatusNames::default()
    }
}
