//! The log's words for what the run's state machine ([`crate::pipeline::tracked`]) saw: status changes,
//! contradictions of the definition, execution details, nodes settled as skipped. Each line starts with
//! the clock time, `[   12.3s]`.

use dune_api::Clock;

use crate::pipeline::node::{Node, NodeStatus};
use crate::pipeline::tracked::{ReadFolded, Seen, Tracked};
use crate::runner::console::{Console, Level};

/// The clock time at the start of a line.
pub fn elapsed_label(clock: Clock) -> String {
    format!("[{:>7.1}s]", clock.elapsed().as_secs_f64())
}

/// Logs what one status answer showed.
pub fn status_answer(console: &Console, clock: Clock, seen: &[Seen]) {
    for s in seen {
        match s {
            Seen::Pipeline(word) => {
                console.line(&format!("{} pipeline {}", elapsed_label(clock), word))
            }
            Seen::OtherPipeline(why) => console.annotate(
                Level::Warning,
                Some("The pipeline differs from its definition"),
                &format!(
                    "{}: the action follows what Dune reports and does not use the definition's dependencies",
                    why.join("; ")
                ),
            ),
            Seen::Contradiction { id, why } => console.annotate(
                Level::Warning,
                Some(&format!("Node {id} differs from the pipeline definition")),
                &format!(
                    "{why}: the action follows what Dune reports for node {id}; the definition's dependencies still hold for the other nodes"
                ),
            ),
            Seen::Node {
                id,
                label,
                before,
                now,
                raw,
            } => {
                let shown = if *now == NodeStatus::Unknown {
                    format!("{} (unrecognised status {:?})", now.as_str(), raw)
                } else {
                    now.as_str().to_string()
                };
                let at = elapsed_label(clock);
                match before {
                    None => console.line(&format!("{at} node {id} ({label}) {shown}")),
                    Some(b) => console.line(&format!(
                        "{at} node {id} ({label}) {} → {shown}",
                        b.as_str()
                    )),
                }
            }
        }
    }
}

/// Logs what one execution read of node `id` brought.
pub fn read(console: &Console, clock: Clock, run: &Tracked, id: i64, folded: &ReadFolded) {
    match folded {
        ReadFolded::Quiet => {}
        ReadFolded::Ended => {
            if let Some(node) = run.nodes.iter().find(|n| n.id == id) {
                details(console, node);
            }
        }
        ReadFolded::Failed(e) => console.annotate(
            Level::Warning,
            Some(&format!("Could not read node {id}'s execution")),
            &format!(
                "{e} (at {:.1}s); its times are the action's own observations",
                clock.elapsed().as_secs_f64()
            ),
        ),
    }
}

/// Logs the nodes settled as skipped when the run ended.
pub fn skipped(console: &Console, clock: Clock, run: &Tracked, ids: &[i64]) {
    for node in ids
        .iter()
        .filter_map(|id| run.nodes.iter().find(|n| n.id == *id))
    {
        console.line(&format!(
            "{} node {} ({}) skipped: it never started because an upstream node did not complete",
            elapsed_label(clock),
            node.id,
            node.label()
        ));
    }
}

/// Logs that the run ends because no node can make progress although the pipeline does not say so.
pub fn settled(console: &Console, clock: Clock, run: &Tracked) {
    console.line(&format!(
        "{} no node can make progress (the pipeline still reports {:?}); ending the run",
        elapsed_label(clock),
        run.raw_status.as_deref().unwrap_or("")
    ));
}

/// A node's execution details, in a folded group.
fn details(console: &Console, node: &Node) {
    console.group(&format!(
        "node {} ({}) {}",
        node.id,
        node.label(),
        node.status.as_str()
    ));
    let mut lines = vec![
        format!(
            "execution id: {}",
            node.execution_id.as_deref().unwrap_or("-")
        ),
        format!(
            "raw status:   {}",
            node.raw_status.as_deref().unwrap_or("-")
        ),
        format!(
            "started at:   {}",
            node.started_at.as_deref().unwrap_or("-")
        ),
        format!("ended at:     {}", node.ended_at.as_deref().unwrap_or("-")),
    ];
    if let Some(c) = node.credits {
        lines.push(format!("credits:      {c}"));
    }
    if let Some(e) = &node.error {
        lines.push(format!("error:        {}", e.message));
    }
    console.verbatim(&lines.join("\n"));
    console.end_group();
}
