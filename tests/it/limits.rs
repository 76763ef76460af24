//! GitHub's size limits hold whatever Dune returns: the summary stays under 1 MiB and the `nodes` output
//! under its budget, both still well-formed.

use std::time::Duration;

use crate::common::outside_code_blocks;
use dune_api::models::DuneError;
use dune_api::models::Performance;
use dune_pipeline_action::outcome::{Ending, Outcome, Problem};
use dune_pipeline_action::pipeline::Tracked;
use dune_pipeline_action::pipeline::node::{Node, NodeKind, NodeStatus};
use dune_pipeline_action::report;

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
            n.error = Some(DuneError {
                kind: Some("FAILED_TYPE_EXECUTION_FAILED".into()),
                message: "```\n<script>x</script>|".repeat(error_len / 20),
                line: Some(1),
                column: Some(2),
            });
            n
        })
        .collect();
    Outcome {
        query_id: Some(1),
        performance: Some(Performance::Medium),
        tracked: Tracked {
            pipeline_execution_id: Some("01HKZJ2683PHF9Q9PHHQ8FW4Q1".into()),
            raw_status: Some("failed".into()),
            pipeline_error: Some("e".repeat(100_000)),
            nodes,
            ..Tracked::default()
        },
        ending: Ending::Failed,
        problem: Some(Problem {
            title: "Dune pipeline failed".into(),
            message: "m".repeat(10_000),
        }),
        wall_time: Duration::from_secs(5),
        cancel_reason: None,
        plan: None,
        results: Vec::new(),
        previews_unread: Vec::new(),
        previews_not_selected: 0,
    }
}

#[test]
fn summary_stays_under_one_mebibyte() {
    for (nodes, error_len) in [(5, 2_000_000), (3_000, 10_000), (20_000, 100)] {
        let md = report::summary(&huge_outcome(nodes, error_len));
        assert!(md.len() <= 1024 * 1024, "{nodes} nodes: {} bytes", md.len());
        assert!(md.contains("### Nodes"));
        assert!(
            !outside_code_blocks(&md).contains("<script>"),
            "HTML reached the summary"
        );
    }
}

#[test]
fn nodes_output_stays_within_budget_and_parses() {
    let o = huge_outcome(3_000, 10_000);
    let out = report::nodes_output(&o.tracked.nodes, report::NODES_OUTPUT_BUDGET);
    assert!(out.len() <= report::NODES_OUTPUT_BUDGET);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(
        v.as_array()
            .and_then(|a| a.last())
            .and_then(|m| m.get("truncated")),
        Some(&serde_json::json!(true))
    );
}
