//! Scenarios: what the simulated Dune account contains (saved queries and their pipelines), how each
//! node of a pipeline behaves over (virtual) time, how the server words its answers, and which faults it
//! injects.
//!
//! Everything here is plain data, (de)serialisable from YAML or JSON with unknown fields rejected, so a
//! typo in a scenario file is an error that names the field instead of a silently ignored setting. The
//! file format is one [`Scenario`]; its parts live by concern:
//!
//! - `model`: the [`Scenario`] itself and the account it describes: saved queries ([`QueryDef`]), pipeline
//!   nodes and their behaviour ([`NodeDef`], [`Outcome`]), latest results ([`LatestResult`]), views' last
//!   refreshes ([`ViewRefresh`]).
//! - `dialect`: how the server words and shapes its answers: status vocabularies, view names, the
//!   datapoint cap, partial results.
//! - `faults`: injected faults ([`Fault`], [`FaultEndpoint`], [`FaultResponse`]) and the 402/403 presets.
//! - `builtins`: the built-in scenarios and the `single_query` / `chain` constructors.
//! - `validation`: loading a file and everything serde cannot check (graph, clock, faults).
//! - `time`: the duration and epoch grammar of scenario files.

mod builtins;
mod dialect;
pub(crate) mod faults;
mod model;
pub(crate) mod time;
pub(crate) mod validation;

pub use dialect::{
    BothStatusObjects, DEFAULT_MAX_DATAPOINTS, DatapointLimitResponse, PartialResults,
    PipelineStatusNames, StatusNames, StatusStyle, ViewNames, short_view_name,
};
pub use faults::{
    BILLING_LIMIT_MESSAGE, FORBIDDEN_MESSAGE, Fault, FaultEndpoint, FaultResponse,
    REQUEST_LIMIT_MESSAGE,
};
pub use model::{LatestResult, NodeDef, Outcome, QueryDef, SavedQuery, Scenario, ViewRefresh};
