//! GitHub's size limits hold whatever Dune returns: the summary stays under GitHub's 1 MiB per step and the
//! `nodes` output leaves room under the job's 1 MB of outputs, both still well-formed. The limits are
//! GitHub's documented numbers, written here, not the budgets the code keeps.

use std::time::Duration;

use super::{NODES_OUTPUT_BUDGET, nodes_output, summary};
use crate::config::Config;
use crate::outcome::Outcome;
use crate::pipeline::Tracked;
use crate::pipeline::node::{Node, NodeKind, NodeStatus};
use crate::runner::env::Env;
use crate::runner::testing::gfm::outside_code_blocks;
use dune_api::models::DuneError;

/// GitHub: "`$GITHUB_STEP_SUMMARY` ... supports content up to a size of 1024k": 1 MiB per step, in bytes.
const GITHUB_SUMMARY_LIMIT: usize = 1_048_576;

/// GitHub: "Outputs can be a maximum of 1 MB per job ... Size is approximated based on UTF-16 encoding";
/// over it, "Job outputs exceed 1,048,576 bytes".
const GITHUB_JOB_OUTPUTS_LIMIT: usize = 1_048_576;

/// Linux: one environment variable (`NAME=value`) is at most `MAX_ARG_STRLEN` = 32 pages = 128 KiB, NUL
/// included; a later step that passes a bigger output through `env:` fails with "Argument list too long".
const LINUX_MAX_ARG_STRLEN: usize = 131_072;

/// A job's outputs measured as GitHub measures them: UTF-16, two bytes a code unit.
fn utf16_bytes(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

fn huge_outcome(nodes: usize, error_len: usize) -> Outcome {
    let nodes = (0..nodes as i64)
        .map(|i| {
            let mut n = Node::new(
                i,
                if i % 2 == 0 {
                    NodeKind::Query { query_id: Some(i) }
                } else {
                    NodeKind::MaterializedView {
                        name: Some(format!("dune.x.{}", "v|<b>".repeat(50))),
                    }
                },
            );
            n.status = NodeStatus::Failed;
            n.raw_status = Some("failed".into());
            n.execution_id = Some("01HKZJ2683PHF9Q9PHHQ8FW4Q1".into());
            let mut error = DuneError::default();
            error.kind = Some("FAILED_TYPE_EXECUTION_FAILED".into());
            error.message = "```\n<script>x</script>|".repeat(error_len / 20);
            error.line = Some(1);
            error.column = Some(2);
            n.error = Some(error);
            n
        })
        .collect();
    // Built through the outcome's own constructor (not a literal), so new fields need no edit here.
    let mut env = Env::default();
    env.set_input("query_id", "1");
    env.set_input("api_key", "k");
    let config = Config::from_env(&env).expect("config");
    let tracked = Tracked {
        pipeline_execution_id: Some("01HKZJ2683PHF9Q9PHHQ8FW4Q1".into()),
        raw_status: Some("failed".into()),
        pipeline_error: Some("e".repeat(100_000)),
        nodes,
        ..Tracked::default()
    };
    Outcome::finished(&config, tracked, Duration::from_secs(5))
}

#[test]
fn summary_stays_under_githubs_limit() {
    for (nodes, error_len) in [(5, 2_000_000), (3_000, 10_000), (20_000, 100)] {
        let md = summary(&huge_outcome(nodes, error_len));
        assert!(
            md.len() <= GITHUB_SUMMARY_LIMIT,
            "{nodes} nodes: {} bytes",
            md.len()
        );
        assert!(md.contains("### Nodes"));
        assert!(
            !outside_code_blocks(&md).contains("<script>"),
            "HTML reached the summary"
        );
    }
}

#[test]
fn every_output_fits_in_an_environment_variable_and_all_under_the_job_limit() {
    use crate::results::{NodeResult, RESULTS_OUTPUT_BUDGET, output};
    for (nodes, error_len) in [(3_000, 10_000), (5_000, 100)] {
        let o = huge_outcome(nodes, error_len);
        let results: Vec<NodeResult> = o
            .tracked
            .nodes
            .iter()
            .map(|n| NodeResult {
                node_id: n.id,
                query_id: Some(n.id),
                execution_id: "01HKZJ2683PHF9Q9PHHQ8FW4Q1".into(),
                path: Some(format!("out/query-{}-01HKZJ2683PHF9Q9PHHQ8FW4Q1.csv", n.id)),
                rows: Some(1),
                bytes: Some(1),
                partial: false,
                preview: None,
                previewed: false,
                error: Some("é".repeat(1000)),
            })
            .collect();
        let outputs = [
            ("nodes", nodes_output(&o.tracked.nodes, NODES_OUTPUT_BUDGET)),
            ("results", output(&results, RESULTS_OUTPUT_BUDGET)),
            (
                "failed_nodes",
                serde_json::Value::from(o.failed_nodes()).to_string(),
            ),
            ("nodes_file", ".dune-pipeline-action/nodes-run.json".into()),
            ("status", "failed".into()),
            ("execution_id", "01HKZJ2683PHF9Q9PHHQ8FW4Q1".into()),
            ("pipeline_execution_id", "01HKZJ2683PHF9Q9PHHQ8FW4Q1".into()),
        ];
        let mut total = 0;
        for (name, value) in &outputs {
            let var = format!("{}={value}", name.to_uppercase());
            assert!(
                var.len() < LINUX_MAX_ARG_STRLEN,
                "{nodes} nodes: output {name} is {} bytes",
                var.len()
            );
            let v: serde_json::Value = serde_json::from_str(value)
                .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
            assert!(!v.is_null(), "{name}");
            total += utf16_bytes(name) + utf16_bytes(value);
        }
        assert!(
            total < GITHUB_JOB_OUTPUTS_LIMIT,
            "{nodes} nodes: outputs total {total} bytes in UTF-16"
        );
    }
}

#[test]
fn nodes_output_leaves_room_under_githubs_job_limit_and_parses() {
    for (nodes, error_len) in [(3_000, 10_000), (20_000, 100)] {
        let o = huge_outcome(nodes, error_len);
        let out = nodes_output(&o.tracked.nodes, NODES_OUTPUT_BUDGET);
        // The other outputs (status, ids, failed nodes, results) need room too: keep 64 KiB for them.
        assert!(
            utf16_bytes(&out) + 64 * 1024 <= GITHUB_JOB_OUTPUTS_LIMIT,
            "{nodes} nodes: the nodes output is {} bytes in UTF-16",
            utf16_bytes(&out)
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(
            v.as_array()
                .and_then(|a| a.last())
                .and_then(|m| m.get("truncated")),
            Some(&serde_json::json!(true))
        );
    }
}
