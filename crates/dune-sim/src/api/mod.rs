//! The Dune endpoints, grouped by resource, with JSON/CSV bodies shaped like the OpenAPI spec
//! (`models.GetPipelineExecutionStatusResponse`, `models.GetExecutionStatusResponse`,
//! `models.ReadExecutionResultResponse`, ...). Handlers are synchronous: they lock the state, compute
//! a view at the current virtual time, and release the lock before writing large bodies.
//!
//! - `routes`: every path, in one place: the handler that serves it and its fault endpoint.
//! - `pipelines`, `executions`, `results`, `queries` (a saved query's SQL), `materialized_views` (a view
//!   and its latest refreshes): one module per resource.
//! - `params`, `reply`: request parameters and the response, shared by the resources.
//!
//! Where the next endpoints go: `POST /usage` in `usage`; each also gets its `Route` and `FaultEndpoint`
//! variants.

mod executions;
mod materialized_views;
mod params;
mod pipelines;
mod queries;
pub(crate) mod reply;
mod results;
pub(crate) mod routes;
mod sql;
