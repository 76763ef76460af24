//! The Dune endpoints, grouped by resource, with JSON/CSV bodies shaped like the OpenAPI spec
//! (`models.GetPipelineExecutionStatusResponse`, `models.GetExecutionStatusResponse`,
//! `models.ReadExecutionResultResponse`, ...). Handlers are synchronous: they lock the state, compute
//! a view at the current virtual time, and release the lock before writing large bodies.
//!
//! - `routes`: every path, in one place: the handler that serves it and its fault endpoint.
//! - `pipelines`, `executions`, `results`, `queries` (a saved query's SQL), `usage`: one module per resource.
//! - `params`, `reply`: request parameters and the response, shared by the resources.
//!
//! Where the next endpoints go: `GET /materialized-views/{name}` in `materialized_views`, and
//! `POST /sql/execute` in `executions` (it starts an execution that the execution and result endpoints
//! then serve); each also gets its `Route` and `FaultEndpoint` variants.

mod executions;
mod params;
mod pipelines;
mod queries;
pub(crate) mod reply;
mod results;
pub(crate) mod routes;
mod sql;
mod usage;
