//! Routing, in one place: every path the simulator answers, the resource module that serves it, and the
//! fault endpoint it counts towards. A new endpoint is a `Route` variant here, a `FaultEndpoint` variant
//! (`scenario/faults.rs`), and a handler in its resource's module.

use crate::api::params::Params;
use crate::api::reply::Reply;
use crate::api::{executions, materialized_views, pipelines, queries, results, sql};
use crate::scenario::FaultEndpoint;
use crate::state::Shared;

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    QueryPipelineExecute(String),
    PipelinesExecute,
    QueryPipeline(String),
    PipelineStatus(String),
    ExecutionStatus(String),
    ExecutionResults(String),
    ExecutionResultsCsv(String),
    ExecutionCancel(String),
    QueryResults(String),
    QueryResultsCsv(String),
    GetQuery(String),
    UpdateQuery(String),
    /// `POST /sql/execute`: raw SQL, saved nowhere.
    SqlExecute,
    /// `GET /materialized-views/{name}`: a view and its latest refreshes.
    MaterializedView(String),
    NotFound,
}

impl Route {
    pub(crate) fn parse(method: &str, path: &str) -> Route {
        let Some(rest) = path.strip_prefix("/api/v1/") else {
            return Route::NotFound;
        };
        let segs: Vec<&str> = rest.split('/').collect();
        let s = |x: &str| x.to_owned();
        match (method, segs.as_slice()) {
            ("POST", ["query", id, "pipeline", "execute"]) => Route::QueryPipelineExecute(s(id)),
            ("POST", ["pipelines", "execute"]) => Route::PipelinesExecute,
            ("GET", ["query", id, "pipeline"]) => Route::QueryPipeline(s(id)),
            ("GET", ["pipelines", "executions", id, "status"]) => Route::PipelineStatus(s(id)),
            ("GET", ["execution", id, "status"]) => Route::ExecutionStatus(s(id)),
            ("GET", ["execution", id, "results"]) => Route::ExecutionResults(s(id)),
            ("GET", ["execution", id, "results", "csv"]) => Route::ExecutionResultsCsv(s(id)),
            ("POST", ["execution", id, "cancel"]) => Route::ExecutionCancel(s(id)),
            ("GET", ["query", id, "results"]) => Route::QueryResults(s(id)),
            ("GET", ["query", id, "results", "csv"]) => Route::QueryResultsCsv(s(id)),
            ("POST", ["sql", "execute"]) => Route::SqlExecute,
            ("GET", ["query", id]) => Route::GetQuery(s(id)),
            ("PATCH", ["query", id]) => Route::UpdateQuery(s(id)),
            ("GET", ["materialized-views", name]) => Route::MaterializedView(s(name)),
            _ => Route::NotFound,
        }
    }

    /// The execution id a request is about, if any.
    pub(crate) fn execution(&self) -> Option<&str> {
        match self {
            Route::ExecutionStatus(id)
            | Route::ExecutionResults(id)
            | Route::ExecutionResultsCsv(id)
            | Route::ExecutionCancel(id) => Some(id),
            _ => None,
        }
    }

    /// The fault endpoint this route belongs to (`None`: only `any` faults match).
    pub(crate) fn endpoint(&self) -> Option<FaultEndpoint> {
        Some(match self {
            Route::QueryPipelineExecute(_) => FaultEndpoint::PipelineExecute,
            Route::PipelinesExecute => FaultEndpoint::PipelinesExecute,
            Route::QueryPipeline(_) => FaultEndpoint::QueryPipeline,
            Route::PipelineStatus(_) => FaultEndpoint::PipelineStatus,
            Route::ExecutionStatus(_) => FaultEndpoint::ExecutionStatus,
            Route::ExecutionResults(_) => FaultEndpoint::ExecutionResults,
            Route::ExecutionResultsCsv(_) => FaultEndpoint::ExecutionResultsCsv,
            Route::ExecutionCancel(_) => FaultEndpoint::ExecutionCancel,
            Route::QueryResults(_) => FaultEndpoint::QueryResults,
            Route::QueryResultsCsv(_) => FaultEndpoint::QueryResultsCsv,
            Route::GetQuery(_) => FaultEndpoint::GetQuery,
            Route::UpdateQuery(_) => FaultEndpoint::UpdateQuery,
            Route::MaterializedView(_) => FaultEndpoint::MaterializedView,
            Route::SqlExecute | Route::NotFound => return None,
        })
    }
}

/// Serves one authenticated request.
pub(crate) fn dispatch(shared: &Shared, route: &Route, query: Option<&str>, body: &[u8]) -> Reply {
    let params = Params::parse(query);
    match route {
        Route::QueryPipelineExecute(id) => pipelines::execute_query_pipeline(shared, id, body),
        Route::PipelinesExecute => pipelines::execute_pipeline(shared, body),
        Route::QueryPipeline(id) => pipelines::query_pipeline(shared, id, &params),
        Route::PipelineStatus(id) => pipelines::pipeline_status(shared, id),
        Route::ExecutionStatus(id) => executions::execution_status(shared, id),
        Route::SqlExecute => sql::execute_sql(shared, body),
        Route::ExecutionResults(id) => results::execution_results(shared, id, &params, false),
        Route::ExecutionResultsCsv(id) => results::execution_results(shared, id, &params, true),
        Route::QueryResults(id) => results::query_results(shared, id, &params, false),
        Route::QueryResultsCsv(id) => results::query_results(shared, id, &params, true),
        Route::ExecutionCancel(id) => executions::cancel_execution(shared, id),
        Route::GetQuery(id) => queries::get_query(shared, id),
        Route::UpdateQuery(id) => queries::update_query(shared, id, body),
        Route::MaterializedView(name) => materialized_views::materialized_view(shared, name),
        Route::NotFound => Reply::error(404, "not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("POST", "/api/v1/query/12/pipeline/execute"),
            Route::QueryPipelineExecute("12".into())
        );
        assert_eq!(
            Route::parse("GET", "/api/v1/execution/X/results/csv"),
            Route::ExecutionResultsCsv("X".into())
        );
        assert_eq!(
            Route::parse("GET", "/api/v1/query/12/pipeline/execute"),
            Route::NotFound
        );
        assert_eq!(
            Route::parse("GET", "/v1/pipelines/execute"),
            Route::NotFound
        );
        assert_eq!(
            Route::parse("GET", "/api/v1/materialized-views/dune.acme.result_daily"),
            Route::MaterializedView("dune.acme.result_daily".into())
        );
        assert_eq!(Route::NotFound.endpoint(), None);
    }
}
