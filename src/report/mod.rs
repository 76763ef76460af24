//! The reports: step outputs (JSON built from the tracked nodes, kept under GitHub's size limits) and the
//! job summary (GitHub-flavoured markdown, every remote string escaped, kept under 1 MiB).

use std::fmt::Write as _;

use serde_json::{Value, json};

pub mod fresh;
pub mod markdown;
pub mod mermaid;
pub mod preview;
pub mod review;
pub mod sql_sync;
pub mod timeline;

#[cfg(test)]
mod limit_tests;

use markdown::format_credits;
pub use markdown::{code_block, md_cell, md_code, md_text, query_link, short_duration};

use crate::outcome::{Ending, Outcome};
use crate::pipeline::node::{Node, NodeKind, NodeStatus};
use crate::runner::console::truncate_chars;

/// GitHub drops a step summary over 1 MiB; stay well under it.
pub const SUMMARY_BUDGET: usize = 1024 * 1024 - 16 * 1024;

/// The `nodes` output fits where people put it: one environment variable (`env:` of a later step), which
/// Linux limits to 128 KiB (`MAX_ARG_STRLEN`, name included; over it the step fails with "Argument list
/// too long", actions/runner#1733). 100 KiB of UTF-8 is at most 200 KiB in UTF-16, of the job's 1 MB of
/// outputs. Every node is in the `nodes_file` output's file.
pub const NODES_OUTPUT_BUDGET: usize = 100 * 1024;

/// Every node, in full, for the `nodes_file` output (a file: no size limit but Dune's).
pub fn nodes_file(nodes: &[Node]) -> String {
    Value::Array(nodes.iter().map(node_json).collect()).to_string()
}

/// One node as the `nodes` output shows it.
pub fn node_json(n: &Node) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), json!(n.id));
    match &n.kind {
        NodeKind::Query { query_id } => {
            o.insert("kind".into(), json!("query"));
            o.insert("query_id".into(), json!(query_id));
        }
        NodeKind::MaterializedView { name } => {
            o.insert("kind".into(), json!("materialized_view"));
            o.insert("name".into(), json!(name));
        }
    }
    o.insert("status".into(), json!(n.status.as_str()));
    o.insert("raw_status".into(), json!(n.raw_status));
    o.insert("execution_id".into(), json!(n.execution_id));
    o.insert("started_at".into(), json!(n.started_at));
    o.insert("ended_at".into(), json!(n.ended_at));
    // Where the two times come from: Dune's execution read, or the action's own polls (at poll
    // resolution) when the execution was not read; null when there are none.
    let times = if n.details_read {
        json!("dune")
    } else if n.times_observed() {
        json!("observed")
    } else {
        Value::Null
    };
    o.insert("times".into(), times);
    o.insert("credits".into(), json!(n.credits));
    o.insert(
        "error".into(),
        json!(n.error.as_ref().map(
            |e| json!({"type": e.kind, "message": e.message, "line": e.line, "column": e.column})
        )),
    );
    if let Some(deps) = &n.dependencies {
        o.insert("dependencies".into(), json!(deps));
    }
    if n.cancelled_by_action {
        o.insert("cancelled_by_action".into(), json!(true));
    }
    Value::Object(o)
}

/// The `nodes` output: a JSON array, cut (with a final `{"truncated": true, "omitted": N}` marker) when it
/// would not fit in `budget` bytes.
pub fn nodes_output(nodes: &[Node], budget: usize) -> String {
    let full = nodes_file(nodes);
    if full.len() <= budget {
        return full;
    }
    // First shorten error messages, then drop nodes from the end.
    let mut items: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let mut v = node_json(n);
            if let Some(Value::String(m)) = v.pointer_mut("/error/message") {
                *m = truncate_chars(m, 500);
            }
            v
        })
        .collect();
    let marker_room = 64;
    let mut size = 2 + items.iter().map(|v| v.to_string().len() + 1).sum::<usize>();
    let mut omitted = 0;
    while size + marker_room > budget && !items.is_empty() {
        if let Some(last) = items.pop() {
            size -= last.to_string().len() + 1;
            omitted += 1;
        }
    }
    if omitted > 0 {
        items.push(json!({"truncated": true, "omitted": omitted}));
    }
    Value::Array(items).to_string()
}

/// The run's credits: the sum over the nodes whose cost Dune reported, and how many nodes that executed
/// (have an execution) have no known cost. Nodes that never started cost nothing and are not counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Credits {
    pub known: f64,
    pub unknown_nodes: usize,
}

impl Credits {
    pub fn of(nodes: &[Node]) -> Credits {
        Credits {
            known: nodes.iter().filter_map(|n| n.credits).sum(),
            unknown_nodes: nodes
                .iter()
                .filter(|n| n.credits.is_none() && n.execution_id.is_some())
                .count(),
        }
    }

    /// The `credits` output: a plain number (`12.5`, `0`), rounded to 4 decimals so that a float sum
    /// never shows as `0.30000000000000004`.
    pub fn output(&self) -> String {
        // `+ 0.0`: an empty float sum is -0.0, which would print as `-0`.
        let rounded = (self.known * 1e4).round() / 1e4 + 0.0;
        format!("{rounded}")
    }
}

fn status_icon(s: NodeStatus) -> &'static str {
    match s {
        NodeStatus::Completed => "✅",
        NodeStatus::Failed => "❌",
        NodeStatus::Cancelled => "🚫",
        NodeStatus::Skipped => "⏭️",
        NodeStatus::Executing => "⏳",
        NodeStatus::Planned => "📝",
        NodeStatus::Pending => "🕓",
        NodeStatus::Unknown => "❔",
    }
}

fn headline(o: &Outcome) -> String {
    if let Some(r) = &o.review {
        return review::headline(r);
    }
    match o.ending {
        Ending::Completed => "✅ Dune pipeline completed".into(),
        Ending::Failed => "❌ Dune pipeline failed".into(),
        Ending::Cancelled => "🚫 Dune pipeline cancelled".into(),
        Ending::TimedOut => "⏱️ Dune pipeline timed out".into(),
        Ending::InvalidInput | Ending::ApiError => {
            "⚠️ Dune pipeline: the action could not finish".into()
        }
        Ending::Planned => "📋 Dune pipeline plan (dry run: nothing was executed)".into(),
        Ending::Started => {
            "🚀 Dune pipeline started (`wait: false`: it was not followed to its end)".into()
        }
        Ending::Fresh => "♻️ Dune pipeline: fresh result reused (nothing was executed)".into(),
        Ending::ResultsFailed { fresh: false } => {
            "⚠️ Dune pipeline completed, but results could not be read".into()
        }
        Ending::ResultsFailed { fresh: true } => {
            "⚠️ Dune pipeline: fresh result reused, but it could not be read".into()
        }
        Ending::Unchanged => "⏸️ Dune pipeline: no SQL changed (nothing was executed)".into(),
        Ending::Previewed => "🔎 Data preview".into(),
    }
}

/// Renders the job summary.
pub fn summary(o: &Outcome) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## {}\n", headline(o));
    if let Some(p) = &o.problem {
        let _ = writeln!(md, "> **{}**: {}\n", md_text(&p.title), md_text(&p.message));
    }
    if let Some(r) = &o.review {
        // A preview ran no pipeline: its summary is the previews.
        md.push_str(&review::section(r, SUMMARY_BUDGET.saturating_sub(md.len())));
        let _ = writeln!(
            md,
            "_Status `{}` in {}. Nothing saved on Dune was changed: the SQL files ran as raw SQL (`POST /v1/sql/execute`)._",
            o.status(),
            short_duration(o.wall_time)
        );
        return md;
    }
    let nodes = &o.tracked.nodes;
    md.push_str("| | |\n|---|---|\n");
    if let Some(q) = o.query_id {
        let _ = writeln!(md, "| Root query | {} |", query_link(q));
    }
    if let Some(p) = &o.performance {
        let _ = writeln!(md, "| Performance | {} |", p.as_str());
    }
    let _ = writeln!(
        md,
        "| Pipeline execution | {} |",
        o.tracked
            .pipeline_execution_id
            .as_deref()
            .map(md_code)
            .unwrap_or_else(
                || if matches!(o.ending, Ending::Fresh | Ending::Unchanged) {
                    "none: nothing executed".into()
                } else {
                    "not started".into()
                }
            )
    );
    if let Some(raw) = &o.tracked.raw_status {
        let _ = writeln!(md, "| Pipeline status (from Dune) | {} |", md_cell(raw));
    }
    let _ = writeln!(md, "| Status | {} |", o.status());
    let _ = writeln!(md, "| Wall time | {} |", short_duration(o.wall_time));
    if !nodes.is_empty() {
        let mut counts: Vec<(NodeStatus, usize)> = Vec::new();
        for n in nodes {
            match counts.iter_mut().find(|(s, _)| *s == n.status) {
                Some((_, c)) => *c += 1,
                None => counts.push((n.status, 1)),
            }
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(s, c)| format!("{c} {}", s.as_str()))
            .collect();
        let _ = writeln!(md, "| Nodes | {} ({}) |", nodes.len(), parts.join(", "));
        let credits: f64 = nodes.iter().filter_map(|n| n.credits).sum();
        if nodes.iter().any(|n| n.credits.is_some()) {
            let _ = writeln!(md, "| Credits | {} |", format_credits(credits));
        }
    }
    md.push('\n');

    let mut tail = String::new();
    if let Some(err) = &o.tracked.pipeline_error {
        let _ = writeln!(
            tail,
            "**Pipeline error from Dune:**\n\n{}",
            code_block(&truncate_chars(err, 4000))
        );
    }
    let cancelled: Vec<&Node> = nodes.iter().filter(|n| n.cancelled_by_action).collect();
    if !cancelled.is_empty() {
        let ids: Vec<String> = cancelled.iter().map(|n| n.id.to_string()).collect();
        let _ = writeln!(
            tail,
            "**Cancelled by the action** ({}): node{} {}\n",
            o.cancel_reason.as_deref().unwrap_or("stopped"),
            if ids.len() == 1 { "" } else { "s" },
            ids.join(", ")
        );
    }

    md.push_str(&fresh::section(o));
    md.push_str(&sql_sync::section(o));
    md.push_str(&crate::report::mermaid::summary_section(o));
    md.push_str(&crate::report::timeline::summary_section(o));
    if !nodes.is_empty() {
        let header = "### Nodes\n\n| Node | Kind | Query / view | Status | Execution | Duration | Credits |\n|---:|---|---|---|---|---:|---:|\n";
        md.push_str(header);
        let mut rows_written = 0;
        for n in crate::pipeline::dag::nodes_in_order(nodes) {
            let row = node_row(n);
            // Keep room for the errors section and the closing note.
            if md.len() + row.len() + 64 * 1024 > SUMMARY_BUDGET {
                break;
            }
            md.push_str(&row);
            rows_written += 1;
        }
        if rows_written < nodes.len() {
            let _ = writeln!(
                md,
                "\n_{} more nodes are not shown: the summary is limited to 1 MiB. The `nodes` output lists them._",
                nodes.len() - rows_written
            );
        }
        md.push('\n');
    }
    md.push_str(&unread_note(o));
    md.push_str(&tail);

    let failed: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.status.is_bad() || n.error.is_some())
        .collect();
    if !failed.is_empty() {
        md.push_str("### Errors\n\n");
        for (shown, n) in failed.iter().enumerate() {
            let mut section = String::new();
            let what = match n.query_id() {
                Some(q) => format!("query {}", query_link(q)),
                None => md_cell(&n.label()),
            };
            let _ = writeln!(
                section,
                "#### Node {} · {} · {}\n",
                n.id,
                what,
                n.status.as_str()
            );
            match &n.error {
                Some(e) => {
                    let mut facts = Vec::new();
                    if let Some(k) = &e.kind {
                        facts.push(format!("type {}", md_code(k)));
                    }
                    if let Some(l) = e.line {
                        facts.push(format!("line {l}"));
                    }
                    if let Some(c) = e.column {
                        facts.push(format!("column {c}"));
                    }
                    if let Some(f) = o.sql_files.iter().find(|s| s.node_id == n.id)
                        && e.line.is_some()
                    {
                        facts.push(format!("of {}", md_code(&f.file)));
                    }
                    if !facts.is_empty() {
                        let _ = writeln!(section, "{}\n", facts.join(", "));
                    }
                    section.push_str(&code_block(&truncate_chars(&e.message, 8000)));
                }
                None => section.push_str("_Dune gave no error message._\n"),
            }
            section.push('\n');
            if md.len() + section.len() + 512 > SUMMARY_BUDGET {
                let _ = writeln!(
                    md,
                    "_{} more errors are not shown: the summary is limited to 1 MiB. The `nodes` output has them._",
                    failed.len() - shown
                );
                break;
            }
            md.push_str(&section);
        }
    }
    md.push_str(&crate::report::preview::section(
        o,
        SUMMARY_BUDGET.saturating_sub(md.len()),
    ));
    md
}

/// What was not read about the nodes, how many and why (empty when everything was).
fn unread_note(o: &Outcome) -> String {
    let unread = &o.tracked.unread;
    if unread.is_empty() {
        return String::new();
    }
    let mut reasons: Vec<(crate::pipeline::details::Unread, usize)> = Vec::new();
    for (_, why) in unread {
        match reasons.iter_mut().find(|(w, _)| w == why) {
            Some((_, c)) => *c += 1,
            None => reasons.push((*why, 1)),
        }
    }
    let parts: Vec<String> = reasons
        .iter()
        .map(|(why, c)| format!("{c}: {}", why.why()))
        .collect();
    format!(
        "_Execution details (exact times, credits, error position) of {} node{} were not read ({}). Their times (marked ~) are the action's own observations, at poll resolution; the `nodes` output has `\"times\": \"observed\"` and `null` for what was not read._\n\n",
        unread.len(),
        if unread.len() == 1 { "" } else { "s" },
        parts.join("; ")
    )
}

fn node_row(n: &Node) -> String {
    let (kind, what) = match &n.kind {
        NodeKind::Query { query_id: Some(q) } => ("query", query_link(*q)),
        NodeKind::Query { query_id: None } => ("query", "?".to_string()),
        NodeKind::MaterializedView { name } => {
            ("materialized view", md_code(name.as_deref().unwrap_or("?")))
        }
    };
    let status = match (&n.raw_status, n.status) {
        (Some(raw), NodeStatus::Unknown) => format!(
            "{} unknown (`{}`)",
            status_icon(n.status),
            md_cell(&truncate_chars(raw, 60)).replace('`', "")
        ),
        _ => format!("{} {}", status_icon(n.status), n.status.as_str()),
    };
    let exec = n
        .execution_id
        .as_deref()
        .map(|e| md_code(&truncate_chars(e, 64)))
        .unwrap_or_else(|| "–".into());
    let observed = if n.times_observed() { "~" } else { "" };
    let duration = n
        .duration()
        .map(|d| format!("{observed}{}", short_duration(d)))
        .unwrap_or_else(|| "–".into());
    let credits = n.credits.map(format_credits).unwrap_or_else(|| "–".into());
    format!(
        "| {} | {kind} | {what} | {status} | {exec} | {duration} | {credits} |\n",
        n.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cells_cannot_break_tables_or_inject_html() {
        let c = md_cell("a|b\n<script>x</script> [l](http://e) `c`");
        assert!(!c.contains('\n'));
        assert!(!c.contains("<script"));
        assert!(!c.replace("\\|", "").contains('|'));
    }

    #[test]
    fn code_blocks_outgrow_backticks() {
        // A control character between backtick runs is removed before the fence is measured.
        assert!(code_block("`\r``").starts_with("````text\n```\n"));
        let b = code_block("x ```` y");
        assert!(b.starts_with("`````text\n"));
        assert!(b.ends_with("\n`````\n"));
    }

    #[test]
    fn nodes_output_is_cut_with_a_marker() {
        let nodes: Vec<Node> = (0..1000)
            .map(|i| {
                let mut n = Node::new(i, NodeKind::Query { query_id: Some(i) });
                let mut error = dune_api::models::DuneError::default();
                error.message = "x".repeat(5000);
                n.error = Some(error);
                n
            })
            .collect();
        let out = nodes_output(&nodes, 100_000);
        assert!(out.len() <= 100_000);
        let v: Value = serde_json::from_str(&out).expect("json");
        let arr = v.as_array().expect("array");
        assert_eq!(
            arr.last().and_then(|m| m.get("truncated")),
            Some(&json!(true))
        );
    }

    #[test]
    fn durations() {
        assert_eq!(short_duration(Duration::from_secs(65)), "1m 05s");
        assert_eq!(short_duration(Duration::from_secs(3720)), "1h 02m");
        assert_eq!(short_duration(Duration::from_millis(2500)), "2.5s");
    }
}
