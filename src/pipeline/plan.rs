//! The plan: which pipeline runs (the one Dune builds for a saved query, or the one in a pipeline file),
//! its definition when it can be known before anything starts, how it is started, and the dry run that
//! shows it and stops.

use std::time::Duration;

use dune_api::Client;
use dune_api::definition::{Definition, Task, Tier};
use dune_api::models::ExecuteQueryPipelineRequest;
use serde_json::{Map, Value};

use super::Tracked;
use super::definition::{PipelineFile, dependency_order, to_node, to_yaml};
use crate::runner::console::{Console, Level};

/// What the inputs name to run: a saved query (the pipeline Dune builds for it) or a pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `query_id`: the saved query at the root of the pipeline.
    Query(u64),
    /// `pipeline_file`: the file, read and validated.
    File(PipelineFile),
    /// `pipeline_execution_id` alone: a pipeline started elsewhere, followed without knowing what it runs
    /// beforehand (its nodes come from Dune's status answers).
    Execution(String),
}

impl Source {
    /// The root query's id, for a query pipeline.
    pub fn query_id(&self) -> Option<u64> {
        match self {
            Source::Query(q) => Some(*q),
            Source::File(_) | Source::Execution(_) => None,
        }
    }
}

/// The inputs a plan is read and started with.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// The tier for every node that sets none.
    pub performance: &'a Tier,
    /// Query parameters for every query node that sets none.
    pub query_parameters: Option<&'a Map<String, Value>>,
    /// The overall `timeout` (for the log line).
    pub timeout: Duration,
    /// Show the plan; start nothing.
    pub dry_run: bool,
}

/// A link to a saved query on dune.com.
pub fn query_url(query_id: impl std::fmt::Display) -> String {
    format!("https://dune.com/queries/{query_id}")
}

/// What will run.
#[derive(Debug, Clone)]
pub enum Plan {
    /// The pipeline Dune builds for a saved query; its definition as Dune described it beforehand, when it
    /// could be read.
    Lineage {
        query_id: u64,
        definition: Option<Definition>,
    },
    /// The pipeline in a file, with the `performance`/`query_parameters` inputs filled in as defaults.
    File {
        path: String,
        definition: Definition,
    },
    /// A pipeline execution started elsewhere (`pipeline_execution_id` alone): nothing is known of it
    /// before Dune's first status answer, and nothing is started.
    Followed { pipeline_execution_id: String },
}

impl Plan {
    /// The definition, when known.
    pub fn definition(&self) -> Option<&Definition> {
        match self {
            Plan::Lineage { definition, .. } => definition.as_ref(),
            Plan::File { definition, .. } => Some(definition),
            Plan::Followed { .. } => None,
        }
    }

    /// `query 3493826` or `pipelines/daily.yml`.
    pub fn describe(&self) -> String {
        match self {
            Plan::Lineage { query_id, .. } => format!("query {query_id}"),
            Plan::File { path, .. } => path.clone(),
            Plan::Followed {
                pipeline_execution_id,
            } => format!("pipeline execution {pipeline_execution_id}"),
        }
    }

    /// Lists the defined nodes in `tracked` before Dune reports on them, so kinds, names and dependencies
    /// are known from the first status on.
    pub fn track(&self, tracked: &mut Tracked) {
        if let Some(d) = self.definition() {
            tracked.nodes = d.nodes.iter().map(to_node).collect();
        }
    }
}

/// Works out the plan: a pipeline file was read with the inputs; a saved query's pipeline is asked of Dune
/// (`GET /api/v1/query/{id}/pipeline`). When that fails the run goes ahead without a definition (with a
/// warning), unless the key was refused or this is a dry run, which has nothing to show without one.
pub async fn read(
    source: &Source,
    settings: Settings<'_>,
    client: &Client,
    console: &Console,
) -> Result<Plan, dune_api::Error> {
    let plan = match source {
        Source::Execution(id) => Plan::Followed {
            pipeline_execution_id: id.clone(),
        },
        Source::File(file) => Plan::File {
            path: file.path.clone(),
            definition: file
                .definition
                .clone()
                .with_defaults(settings.performance, settings.query_parameters),
        },
        Source::Query(query_id) => {
            let query_id = *query_id;
            // Before the definition is asked for with it.
            warn_unknown_tiers([settings.performance], console);
            let read = client
                .query_pipeline(query_id, settings.performance, settings.query_parameters)
                .await;
            let definition = match read {
                Ok(d) => Some(d),
                Err(e) if settings.dry_run || e.status() == Some(401) => return Err(e),
                Err(e) => {
                    console.annotate(
                        Level::Warning,
                        Some("Could not read the pipeline definition"),
                        &format!(
                            "{e}. The pipeline runs anyway; without the definition the summary has no DAG and node dependencies are not known."
                        ),
                    );
                    None
                }
            };
            Plan::Lineage {
                query_id,
                definition,
            }
        }
    };
    if let Plan::File { definition, .. } = &plan {
        warn_unknown_tiers(
            definition.nodes.iter().filter_map(|n| n.performance()),
            console,
        );
    }
    log(&plan, settings, console);
    Ok(plan)
}

/// One warning for the tiers sent that this action does not know (`medium` and `large` are the ones Dune's
/// pipeline endpoints list), each named once: the same rule for the `performance` input and a pipeline
/// file's nodes.
fn warn_unknown_tiers<'t>(tiers: impl IntoIterator<Item = &'t Tier>, console: &Console) {
    let mut unknown: Vec<String> = Vec::new();
    for t in tiers {
        if !t.is_known() && !unknown.iter().any(|u| u == t.as_str()) {
            unknown.push(t.as_str().to_string());
        }
    }
    if unknown.is_empty() {
        return;
    }
    let names: Vec<String> = unknown.iter().map(|t| format!("`{t}`")).collect();
    console.annotate(
        Level::Warning,
        Some("Unknown performance tier"),
        &format!(
            "{} {} not a tier this action knows (`medium`, `large`): sent to Dune as written; Dune refuses a tier it does not offer (HTTP 400 naming it).",
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" }
        ),
    );
}

/// `3 nodes (1 materialized view, 2 queries)`.
pub fn node_count(d: &Definition) -> String {
    let views = d
        .nodes
        .iter()
        .filter(|n| matches!(n.task, Task::View { .. }))
        .count();
    let queries = d.nodes.len() - views;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if views > 0 {
        parts.push(plural(views, "materialized view", "materialized views"));
    }
    if queries > 0 {
        parts.push(plural(queries, "query", "queries"));
    }
    format!(
        "{} ({})",
        plural(d.nodes.len(), "node", "nodes"),
        parts.join(", ")
    )
}

/// `large`, or `2 medium, 1 large` when the nodes differ (a tier the action does not know, passed through
/// from the definition, is counted by its own name).
pub fn tiers(d: &Definition, default: &Tier) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for n in &d.nodes {
        let tier = n.performance().unwrap_or(default).as_str();
        match counts.iter_mut().find(|(t, _)| t == tier) {
            Some((_, c)) => *c += 1,
            None => counts.push((tier.to_string(), 1)),
        }
    }
    let order = |t: &str| match t {
        "medium" => 0,
        "large" => 1,
        _ => 2,
    };
    counts.sort_by_key(|(t, _)| order(t));
    match counts.as_slice() {
        [] => default.as_str().to_string(),
        [(t, _)] => t.clone(),
        many => many
            .iter()
            .map(|(t, c)| format!("{c} {t}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn log(plan: &Plan, settings: Settings<'_>, console: &Console) {
    let Some(d) = plan.definition() else {
        return;
    };
    let header = format!(
        "Pipeline of {}: {}, performance {}",
        plan.describe(),
        node_count(d),
        tiers(d, settings.performance)
    );
    if settings.dry_run {
        console.line(&header);
    } else {
        console.group(&header);
    }
    for i in dependency_order(d) {
        let n = &d.nodes[i];
        let after = if n.dependencies.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = n.dependencies.iter().map(i64::to_string).collect();
            format!(", after {}", ids.join(", "))
        };
        console.line(&format!(
            "  node {}: {} ({}){after}",
            n.id,
            to_node(n).label(),
            n.performance()
                .map_or(settings.performance.as_str(), Tier::as_str)
        ));
    }
    if settings.dry_run {
        console.line("Dry run: nothing is executed. The pipeline definition (save it as a pipeline file and set `pipeline_file`):");
        console.verbatim(&to_yaml(d));
    } else {
        console.end_group();
    }
}

/// Starts the pipeline: the saved query's (`POST /api/v1/query/{id}/pipeline/execute`) or the file's
/// (`POST /api/v1/pipelines/execute`, exactly the nodes of the file).
pub async fn start(
    settings: Settings<'_>,
    plan: &Plan,
    client: &Client,
    console: &Console,
) -> Result<String, dune_api::Error> {
    let timeout = humantime::format_duration(settings.timeout);
    match plan {
        Plan::Lineage { query_id, .. } => {
            console.line(&format!(
                "Starting the pipeline of query {query_id} ({}) on {} performance, timeout {timeout}",
                query_url(query_id),
                settings.performance.as_str(),
            ));
            let request = ExecuteQueryPipelineRequest {
                performance: settings.performance.clone(),
                query_parameters: settings.query_parameters.cloned(),
            };
            client.execute_query_pipeline(*query_id, &request).await
        }
        Plan::File { path, definition } => {
            console.line(&format!(
                "Starting the pipeline in {path}: {}, timeout {timeout}",
                node_count(definition)
            ));
            client.execute_pipeline(definition).await
        }
        // It runs already: there is nothing to start (the caller follows it without calling this).
        Plan::Followed {
            pipeline_execution_id,
        } => Ok(pipeline_execution_id.clone()),
    }
}

/// Whether the pipeline execution `id`, started elsewhere and read once (`status`), is the pipeline `plan`
/// names (`query_id` or `pipeline_file` given beside `pipeline_execution_id`): the root query must be one
/// of its query nodes; a pipeline file's query nodes must be its query nodes, no more, no fewer. A status
/// that names no query (a Dune that leaves them out) cannot be checked and passes. `Err`: what differs.
pub fn cross_check(
    plan: &Plan,
    id: &str,
    status: &dune_api::models::PipelineStatus,
) -> Result<(), String> {
    let running: std::collections::BTreeSet<i64> =
        status.nodes.iter().filter_map(|n| n.query_id).collect();
    if running.is_empty() {
        return Ok(());
    }
    let list = |set: &std::collections::BTreeSet<i64>| {
        set.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match plan {
        Plan::Followed { .. } => Ok(()),
        Plan::Lineage { query_id, .. } => {
            if i64::try_from(*query_id).is_ok_and(|q| running.contains(&q)) {
                Ok(())
            } else {
                Err(format!(
                    "pipeline execution {id} is not the pipeline of query {query_id}: it runs queries {}. Give the `query_id` it was started with, or leave `query_id` empty to follow it alone",
                    list(&running)
                ))
            }
        }
        Plan::File { path, definition } => {
            let planned: std::collections::BTreeSet<i64> = definition
                .nodes
                .iter()
                .filter_map(|n| match &n.task {
                    Task::Query { query_id, .. } => Some(*query_id),
                    Task::View { .. } => None,
                })
                .collect();
            if planned == running {
                Ok(())
            } else {
                Err(format!(
                    "pipeline execution {id} is not the pipeline in {path}: it runs queries {}, the file names queries {}. Give the file it was started from, or leave `pipeline_file` empty to follow it alone",
                    list(&running),
                    list(&planned)
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dune_api::models::Performance;

    #[test]
    fn a_followed_pipeline_is_checked_against_the_plan() {
        let status = dune_api::models::PipelineStatus::from_value(&serde_json::json!({
            "status": "executing",
            "node_executions": [
                {"id": 1, "query_execution_status": {"query_id": 101, "status": "executing"}},
                {"id": 2, "query_execution_status": {"query_id": 42, "status": "pending"}}
            ]
        }))
        .expect("reads");
        let lineage = |q| Plan::Lineage {
            query_id: q,
            definition: None,
        };
        assert_eq!(cross_check(&lineage(42), "p1", &status), Ok(()));
        let e = cross_check(&lineage(7), "p1", &status).expect_err("another query");
        assert!(
            e.contains("not the pipeline of query 7: it runs queries 42, 101"),
            "{e}"
        );
        let file = |ids: &[i64]| Plan::File {
            path: "p.yml".into(),
            definition: Definition::from_response(&serde_json::json!({"pipeline": {"nodes":
                ids.iter().enumerate().map(|(i, q)| serde_json::json!(
                    {"id": i + 1, "query_execution": {"query_id": q}})).collect::<Vec<_>>()
            }}))
            .expect("reads"),
        };
        assert_eq!(cross_check(&file(&[42, 101]), "p1", &status), Ok(()));
        let e = cross_check(&file(&[42]), "p1", &status).expect_err("fewer");
        assert!(e.contains("the file names queries 42"), "{e}");
        let followed = Plan::Followed {
            pipeline_execution_id: "p1".into(),
        };
        assert_eq!(cross_check(&followed, "p1", &status), Ok(()));
        // A status without query ids cannot be checked.
        let bare = dune_api::models::PipelineStatus::default();
        assert_eq!(cross_check(&lineage(7), "p1", &bare), Ok(()));
    }

    #[test]
    fn tiers_count_unknown_ones_by_name() {
        let d = Definition::from_response(&serde_json::json!({"pipeline": {"nodes": [
            {"id": 1, "dependencies": [], "materialized_view_refresh": {"name": "dune.a.b", "performance": "xlarge"}},
            {"id": 2, "dependencies": [1], "query_execution": {"query_id": 5}},
            {"id": 3, "dependencies": [1], "query_execution": {"query_id": 6, "performance": "large"}}
        ]}}))
        .expect("reads");
        assert_eq!(
            tiers(&d, &Performance::Medium.into()),
            "1 medium, 1 large, 1 xlarge"
        );
        assert_eq!(tiers(&d, &Performance::Large.into()), "2 large, 1 xlarge");
        let one = Definition::from_response(&serde_json::json!({"pipeline": {"nodes": [
            {"id": 1, "dependencies": [], "query_execution": {"query_id": 5}}
        ]}}))
        .expect("reads");
        assert_eq!(tiers(&one, &Performance::Large.into()), "large");
    }
}
