//! The summary's "SQL sync" section (`sync_sql`): each query updated (or, in a dry run, to be updated)
//! with its diff in a `<details>` and Dune's version after, the ones already up to date counted, what
//! was and was not updated when an update failed; with `only_changed`, the file's DAG with why each
//! node ran or did not.

use std::fmt::Write as _;

use dune_api::definition::Definition;

use super::markdown::{code_block_in, md_code, md_text};
use super::mermaid::{MAX_NODES, box_id, label_text};
use crate::outcome::{Ending, Outcome};
use crate::pipeline::definition::to_node;
use crate::pipeline::plan::query_url;
use crate::pipeline::sync::{Change, Reason, SqlSync, Synced};

fn version(v: Option<i64>) -> String {
    v.map_or_else(|| "?".to_string(), |v| v.to_string())
}

fn what(q: &Synced) -> String {
    let id = q.node.query_id;
    format!(
        "query [{id}]({}) (node {}, {})",
        query_url(id),
        q.node.node_id,
        md_code(&q.node.file)
    )
}

/// The section; empty when `sync_sql` did not run.
pub fn section(o: &Outcome) -> String {
    let Some(sync) = &o.sync else {
        return String::new();
    };
    let mut md = String::from("### SQL sync\n\n");
    let (updated, _) = sync.updated_and_not();
    let would = sync
        .queries
        .iter()
        .filter(|q| matches!(q.change, Change::WouldUpdate { .. }))
        .count();
    let unchanged = sync.unchanged();
    let total = sync.queries.len();
    if sync.dry_run {
        let _ = writeln!(
            md,
            "Dry run: {would} of {total} queries would be updated, {unchanged} up to date. Nothing was updated.\n"
        );
    } else {
        let _ = writeln!(
            md,
            "{} of {total} queries updated, {unchanged} up to date (writes capped at {} a minute, Dune's low limit).\n",
            updated.len(),
            sync.writes_per_minute
        );
    }
    for q in &sync.queries {
        let line = match &q.change {
            Change::Unchanged { .. } => continue,
            Change::Updated { before, after, .. } => format!(
                "- **Updated** {}: version {} → {}",
                what(q),
                version(*before),
                version(*after)
            ),
            Change::WouldUpdate { version: v, .. } => format!(
                "- **Would update** {} (now version {})",
                what(q),
                version(*v)
            ),
            Change::Failed { error, .. } => format!(
                "- **Not updated** {}: the update failed: {}",
                what(q),
                md_text(error)
            ),
            Change::NotUpdated { .. } => {
                format!("- **Not updated** {}: an earlier update failed", what(q))
            }
            Change::Unread { error } => {
                format!("- **Not read** {}: {}", what(q), md_text(error))
            }
        };
        md.push_str(&line);
        md.push('\n');
        if let Some(diff) = q.change.diff() {
            let _ = write!(
                md,
                "\n<details><summary>Diff of query {}</summary>\n\n{}\n</details>\n\n",
                q.node.query_id,
                code_block_in(diff.trim_end_matches('\n'), "diff")
            );
        }
    }
    if o.ending == Ending::Unchanged {
        md.push_str(
            "\n**No query's SQL changed** (`only_changed`): nothing was run, no credits spent.\n",
        );
    }
    if let Some(chart) = sync.full.as_ref().and_then(|d| chart(d, sync)) {
        let _ = writeln!(
            md,
            "\n**Which nodes ran** (`only_changed`: the nodes whose SQL changed and everything downstream):\n\n```mermaid\n{chart}```"
        );
    }
    md.push('\n');
    md
}

/// The boxes' classes in the DAG of which nodes ran, and their styles.
const CLASSES: [(&str, &str); 3] = [
    ("changed", "fill:#ddf4ff,stroke:#0969da,color:#0a3069"),
    ("downstream", "fill:#fff8c5,stroke:#9a6700,color:#3b2300"),
    (
        "notrun",
        "fill:#f6f8fa,stroke:#8c959f,color:#57606a,stroke-dasharray:4 3",
    ),
];

fn class_of(r: Reason) -> &'static str {
    match r {
        Reason::SqlChanged => "changed",
        Reason::Downstream(_) => "downstream",
        Reason::NotRun => "notrun",
    }
}

/// The file's DAG, each box saying why the node ran or did not.
fn chart(definition: &Definition, sync: &SqlSync) -> Option<String> {
    if definition.nodes.is_empty() || definition.nodes.len() > MAX_NODES {
        return None;
    }
    let reason = |id: i64| {
        sync.reasons
            .iter()
            .find(|(i, _)| *i == id)
            .map_or(Reason::NotRun, |(_, r)| *r)
    };
    let mut out = String::from("flowchart LR\n");
    for n in &definition.nodes {
        let label = label_text(&format!("{}: {}", n.id, to_node(n).label()));
        let why = label_text(&reason(n.id).describe());
        let _ = writeln!(out, "  {}[\"{label}<br/>{why}\"]", box_id(n.id));
    }
    for n in &definition.nodes {
        for dep in &n.dependencies {
            let _ = writeln!(out, "  {} --> {}", box_id(*dep), box_id(n.id));
        }
    }
    for (name, style) in CLASSES {
        let ids: Vec<String> = definition
            .nodes
            .iter()
            .filter(|n| class_of(reason(n.id)) == name)
            .map(|n| box_id(n.id))
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(out, "  classDef {name} {style}");
            let _ = writeln!(out, "  class {} {name}", ids.join(","));
        }
    }
    Some(out)
}
