//! The plan: which pipeline runs (the one Dune builds for a saved query, or the one in a pipeline file),
//! its definition when it can be known before anything starts, how it is started, and the dry run that
//! shows it and stops.

use crate::clock::Clock;
use crate::definition::Definition;
use crate::dune::models::ExecuteQueryPipelineRequest;
use crate::dune::{self, Client};
use crate::github::commands::{Console, Level};
use crate::inputs::{Config, Performance};
use crate::outcome::{Outcome, RunStatus, exit};
use crate::pipeline::Tracked;

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
}

impl Plan {
    /// The definition, when known.
    pub fn definition(&self) -> Option<&Definition> {
        match self {
            Plan::Lineage { definition, .. } => definition.as_ref(),
            Plan::File { definition, .. } => Some(definition),
        }
    }

    /// `query 3493826` or `pipelines/daily.yml`.
    pub fn describe(&self) -> String {
        match self {
            Plan::Lineage { query_id, .. } => format!("query {query_id}"),
            Plan::File { path, .. } => path.clone(),
        }
    }

    /// Lists the defined nodes in `tracked` before Dune reports on them, so kinds, names and dependencies
    /// are known from the first status on.
    pub fn track(&self, tracked: &mut Tracked) {
        if let Some(d) = self.definition() {
            tracked.nodes = d.nodes.iter().map(|n| n.to_node()).collect();
        }
    }
}

/// Works out the plan: a pipeline file was read with the inputs; a saved query's pipeline is asked of Dune
/// (`GET /api/v1/query/{id}/pipeline`). When that fails the run goes ahead without a definition (with a
/// warning), unless the key was refused or this is a dry run, which has nothing to show without one.
pub async fn read(
    config: &Config,
    client: &Client,
    console: &Console,
) -> Result<Plan, dune::Error> {
    let plan = match (&config.pipeline_file, config.query_id) {
        (Some(file), _) => Plan::File {
            path: file.path.clone(),
            definition: file
                .definition
                .clone()
                .with_defaults(config.performance, config.query_parameters.as_ref()),
        },
        (None, query_id) => {
            // Config guarantees one of the two.
            let query_id = query_id.unwrap_or_default();
            let read = client
                .query_pipeline(
                    query_id,
                    config.performance.as_str(),
                    config.query_parameters.as_ref(),
                )
                .await;
            let definition = match read {
                Ok(d) => Some(d),
                Err(e) if config.dry_run || e.status() == Some(401) => return Err(e),
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
    log(&plan, config, console);
    Ok(plan)
}

/// `3 nodes (1 materialized view, 2 queries)`.
pub fn node_count(d: &Definition) -> String {
    let views = d
        .nodes
        .iter()
        .filter(|n| matches!(n.task, crate::definition::Task::View { .. }))
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

/// `large`, or `2 medium, 1 large` when the nodes differ.
pub fn tiers(d: &Definition, default: Performance) -> String {
    let count = |p: Performance| {
        d.nodes
            .iter()
            .filter(|n| n.performance().unwrap_or(default) == p)
            .count()
    };
    let (medium, large) = (count(Performance::Medium), count(Performance::Large));
    match (medium, large) {
        (_, 0) => "medium".into(),
        (0, _) => "large".into(),
        (m, l) => format!("{m} medium, {l} large"),
    }
}

fn log(plan: &Plan, config: &Config, console: &Console) {
    let Some(d) = plan.definition() else {
        return;
    };
    let header = format!(
        "Pipeline of {}: {}, performance {}",
        plan.describe(),
        node_count(d),
        tiers(d, config.performance)
    );
    if config.dry_run {
        console.line(&header);
    } else {
        console.group(&header);
    }
    for i in d.dependency_order() {
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
            n.to_node().label(),
            n.performance().unwrap_or(config.performance).as_str()
        ));
    }
    if config.dry_run {
        console.line("Dry run: nothing is executed. The pipeline definition (save it as a pipeline file and set `pipeline_file`):");
        console.verbatim(&d.to_yaml());
    } else {
        console.end_group();
    }
}

/// Starts the pipeline: the saved query's (`POST /api/v1/query/{id}/pipeline/execute`) or the file's
/// (`POST /api/v1/pipelines/execute`, exactly the nodes of the file).
pub async fn start(
    config: &Config,
    plan: &Plan,
    client: &Client,
    console: &Console,
) -> Result<String, dune::Error> {
    let timeout = humantime::format_duration(config.timeout);
    match plan {
        Plan::Lineage { query_id, .. } => {
            console.line(&format!(
                "Starting the pipeline of query {query_id} (https://dune.com/queries/{query_id}) on {} performance, timeout {timeout}",
                config.performance.as_str(),
            ));
            let request = ExecuteQueryPipelineRequest {
                performance: config.performance.as_str(),
                query_parameters: config.query_parameters.clone(),
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
    }
}

/// The outcome of a dry run: `planned`, exit 0, nothing started.
pub fn planned_outcome(config: &Config, tracked: Tracked, clock: &Clock) -> Outcome {
    Outcome::of(
        config,
        tracked,
        RunStatus::Planned,
        exit::OK,
        None,
        clock.elapsed(),
    )
}
