//! The pipeline's DAG in the job summary: a Mermaid flowchart (GitHub renders it) with one box per node,
//! labelled with its query id or view name and styled by its final status, and an edge per dependency;
//! for a dry run also the definition as YAML, ready to save as a pipeline file.

use std::fmt::Write as _;

use super::{code_block, md_code};
use crate::outcome::{Ending, Outcome};
use crate::pipeline::definition::to_yaml;
use crate::pipeline::node::{Node, NodeStatus};
use crate::pipeline::plan::{self, Plan};
use crate::runner::console::truncate_chars;

/// Larger pipelines are not drawn (GitHub refuses big diagrams); the node table still lists them.
pub const MAX_NODES: usize = 200;

/// The YAML in a dry run's summary is cut at this many characters (the log has all of it).
const MAX_YAML_CHARS: usize = 200_000;

/// A Mermaid node id: `n3`, `nm3` for node -3.
pub(crate) fn box_id(id: i64) -> String {
    if id < 0 {
        format!("nm{}", id.unsigned_abs())
    } else {
        format!("n{id}")
    }
}

/// Escapes text for a quoted Mermaid label: anything but letters, digits and plain punctuation becomes an
/// entity code (`#35;`), so no remote name can end the label, add a node or a link, or close the fence.
pub fn label_text(text: &str) -> String {
    truncate_chars(text, 80)
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || " .,_-:/()".contains(c) => c.to_string(),
            c if c.is_control() => " ".to_string(),
            c => format!("#{};", c as u32),
        })
        .collect()
}

/// The class (and its style) of a box in a given status.
fn class(status: NodeStatus) -> (&'static str, &'static str) {
    match status {
        NodeStatus::Completed => ("completed", "fill:#dafbe1,stroke:#1a7f37,color:#0a3622"),
        NodeStatus::Failed => ("failed", "fill:#ffebe9,stroke:#cf222e,color:#67060c"),
        NodeStatus::Cancelled => ("cancelled", "fill:#fff8c5,stroke:#9a6700,color:#3b2300"),
        NodeStatus::Skipped => (
            "skipped",
            "fill:#f6f8fa,stroke:#8c959f,color:#57606a,stroke-dasharray:4 3",
        ),
        NodeStatus::Executing => ("executing", "fill:#ddf4ff,stroke:#0969da,color:#0a3069"),
        NodeStatus::Planned => PLANNED,
        NodeStatus::Pending => ("pending", "fill:#f6f8fa,stroke:#57606a,color:#24292f"),
        NodeStatus::Unknown => ("unknown", "fill:#fbefff,stroke:#8250df,color:#3e1f79"),
    }
}

const PLANNED: (&str, &str) = ("planned", "fill:#ddf4ff,stroke:#0969da,color:#0a3069");

/// The flowchart of `nodes` (the text inside the ```` ```mermaid ```` fence), in dependency order. With
/// `planned`, boxes carry no status. `None` when no dependencies are known (the definition could not be
/// read) or there are too many nodes to draw.
pub fn flowchart(nodes: &[Node], planned: bool) -> Option<String> {
    if nodes.is_empty() || nodes.len() > MAX_NODES || nodes.iter().all(|n| n.dependencies.is_none())
    {
        return None;
    }
    let ordered = crate::pipeline::dag::nodes_in_order(nodes);
    let mut out = String::from("flowchart LR\n");
    for n in &ordered {
        let mut label = label_text(&format!("{}: {}", n.id, n.label()));
        if !planned {
            label.push_str("<br/>");
            label.push_str(n.status.as_str());
        }
        let _ = writeln!(out, "  {}[\"{label}\"]", box_id(n.id));
    }
    for n in &ordered {
        for dep in n.dependencies.iter().flatten() {
            if nodes.iter().any(|m| m.id == *dep) {
                let _ = writeln!(out, "  {} --> {}", box_id(*dep), box_id(n.id));
            }
        }
    }
    let mut classes: Vec<((&str, &str), Vec<String>)> = Vec::new();
    for n in &ordered {
        let c = if planned { PLANNED } else { class(n.status) };
        match classes.iter_mut().find(|(k, _)| *k == c) {
            Some((_, ids)) => ids.push(box_id(n.id)),
            None => classes.push((c, vec![box_id(n.id)])),
        }
    }
    for ((name, style), ids) in &classes {
        let _ = writeln!(out, "  classDef {name} {style}");
        let _ = writeln!(out, "  class {} {name}", ids.join(","));
    }
    Some(out)
}

/// The summary's "Pipeline" section: where the pipeline comes from, its size and tier, the DAG, and for a
/// dry run the definition as YAML. Empty when nothing is known about the pipeline's shape.
pub fn summary_section(o: &Outcome) -> String {
    let planned = o.ending == Ending::Planned;
    let chart = flowchart(&o.tracked.nodes, planned);
    let definition = o.plan.as_ref().and_then(Plan::definition);
    if chart.is_none() && definition.is_none() {
        return String::new();
    }
    let mut md = String::from("### Pipeline\n\n");
    if let (Some(p), Some(d)) = (&o.plan, definition) {
        let source = match p {
            Plan::Lineage { query_id, .. } => {
                format!("Pipeline of query [{query_id}](https://dune.com/queries/{query_id})")
            }
            Plan::File { path, .. } => format!("Pipeline file {}", md_code(path)),
            Plan::Followed {
                pipeline_execution_id,
            } => format!("Pipeline execution {}", md_code(pipeline_execution_id)),
        };
        let tier = o
            .performance
            .clone()
            .unwrap_or(dune_api::models::Performance::Medium.into());
        let _ = writeln!(
            md,
            "{source}: {}, performance {}\n",
            plan::node_count(d),
            plan::tiers(d, &tier)
        );
    }
    match chart {
        Some(c) => {
            let _ = writeln!(md, "```mermaid\n{c}```\n");
        }
        None if o.tracked.nodes.len() > MAX_NODES => {
            let _ = writeln!(
                md,
                "_{} nodes are too many to draw; the table lists them._\n",
                o.tracked.nodes.len()
            );
        }
        None => {}
    }
    if planned && let Some(d) = definition {
        md.push_str(
            "**Pipeline definition** (save it as a pipeline file and set `pipeline_file` to run it as code):\n\n",
        );
        md.push_str(&code_block(&truncate_chars(
            to_yaml(d).trim_end(),
            MAX_YAML_CHARS,
        )));
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::node::NodeKind;

    #[test]
    fn labels_cannot_break_out() {
        let l = label_text("dune.x\"]\n  click n1 \"https://evil\"`<b>");
        assert!(!l.contains('"'));
        assert!(!l.contains('\n'));
        assert!(!l.contains('`'));
        assert!(!l.contains('<'));
        assert!(!l.contains(']'));
        assert_eq!(label_text("dune.acme.mv_daily"), "dune.acme.mv_daily");
        assert_eq!(label_text("a#b"), "a#35;b");
    }

    #[test]
    fn no_chart_without_dependencies() {
        let n = Node::new(1, NodeKind::Query { query_id: Some(5) });
        assert_eq!(flowchart(std::slice::from_ref(&n), false), None);
        let mut d = n;
        d.dependencies = Some(vec![]);
        assert!(flowchart(&[d], false).is_some());
    }
}
