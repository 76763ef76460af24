//! The job summary's `Results` section: under each completed query node, its columns (and types), the
//! first rows and the total row count. Every cell is escaped for a markdown table; previews fold away
//! (`<details>`) when there are several, and are cut, with a note, to stay within the summary's budget.

use std::fmt::Write as _;

use crate::outcome::Outcome;
use crate::pipeline::node::{NodeKind, NodeStatus};
use crate::report::{md_cell, md_code, md_text};
use crate::results::{NodeResult, Preview};

/// Room kept for the closing note when previews are cut.
const NOTE_ROOM: usize = 512;

/// `1440` → `1,440`.
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn numeric(kind: Option<&str>) -> bool {
    let k = kind.unwrap_or("").to_ascii_lowercase();
    k.contains("int")
        || ["double", "real", "decimal", "numeric", "float"]
            .iter()
            .any(|t| k.starts_with(t))
}

fn table_head(p: &Preview) -> String {
    let mut head = String::from("|");
    let mut rule = String::from("|");
    for c in &p.columns {
        let _ = write!(head, " {}", md_cell(&c.name));
        if let Some(k) = &c.kind {
            let _ = write!(head, "<br>{}", md_code(k));
        }
        head.push_str(" |");
        rule.push_str(if numeric(c.kind.as_deref()) {
            "---:|"
        } else {
            "---|"
        });
    }
    format!("{head}\n{rule}\n")
}

fn table_row(row: &[Option<String>]) -> String {
    let mut line = String::from("|");
    for cell in row {
        match cell {
            Some(text) => {
                let _ = write!(line, " {} |", md_cell(text));
            }
            None => line.push_str(" *null* |"),
        }
    }
    line.push('\n');
    line
}

/// One node's preview, within `budget` bytes; `None` when not even its heading and table head fit.
fn node_section(r: &NodeResult, fold: bool, budget: usize) -> Option<String> {
    let rows = r.rows.map_or_else(
        || "? rows".to_string(),
        |n| format!("{} rows", group_digits(n)),
    );
    let query = r
        .query_id
        .map_or_else(|| "?".to_string(), |q| q.to_string());
    let mut md = String::new();
    if fold {
        let _ = write!(
            md,
            "<details><summary><b>Node {}</b> · query {query} · {rows}{}</summary>\n\n",
            r.node_id,
            if r.error.is_some() { " · ❌" } else { "" }
        );
    } else {
        let _ = writeln!(
            md,
            "#### Node {} · query [{query}](https://dune.com/queries/{query}) · {rows}\n",
            r.node_id
        );
    }
    let mut tail = String::new();
    if r.partial {
        tail.push_str("⚠️ **Partial result**: Dune truncated it because it was too large; only the rows Dune kept are here.\n\n");
    }
    if let Some(path) = &r.path {
        let _ = writeln!(
            tail,
            "File: {} ({} bytes)\n",
            md_code(path),
            group_digits(r.bytes.unwrap_or(0))
        );
    }
    if let Some(e) = &r.error {
        let _ = writeln!(tail, "❌ {}\n", md_text(e));
    }
    if fold {
        tail.push_str("</details>\n\n");
    }
    let Some(p) = &r.preview else {
        md.push_str(&tail);
        return (md.len() <= budget).then_some(md);
    };
    if p.columns.is_empty() {
        md.push_str("_The result has no columns._\n\n");
        md.push_str(&tail);
        return (md.len() <= budget).then_some(md);
    }
    md.push_str(&table_head(p));
    if md.len() + tail.len() + 256 > budget {
        return None;
    }
    let mut shown = 0;
    for row in &p.rows {
        let line = table_row(row);
        if md.len() + line.len() + tail.len() + 256 > budget {
            break;
        }
        md.push_str(&line);
        shown += 1;
    }
    md.push('\n');
    if shown < p.rows.len() {
        let _ = writeln!(
            md,
            "_{} more preview rows are not shown: the summary is limited to 1 MiB._\n",
            p.rows.len() - shown
        );
    } else if p.rows.is_empty() {
        md.push_str("_The result has no rows._\n\n");
    } else {
        let total = r.rows.map_or_else(|| "?".to_string(), group_digits);
        let _ = writeln!(
            md,
            "_First {} of {total} rows._\n",
            group_digits(shown as u64)
        );
    }
    md.push_str(&tail);
    Some(md)
}

/// The `Results` section of the summary for `o`, at most `budget` bytes (empty when no results were
/// fetched).
pub fn section(o: &Outcome, budget: usize) -> String {
    let shown: Vec<&NodeResult> = o.results.iter().filter(|r| r.previewed).collect();
    if shown.is_empty() && o.previews_unread.is_empty() {
        return String::new();
    }
    let mut md = String::from("### Results\n\n");
    let fold = shown.len() > 1;
    let mut omitted = 0;
    for (i, r) in shown.iter().enumerate() {
        let room = budget.saturating_sub(md.len() + NOTE_ROOM);
        match node_section(r, fold, room) {
            Some(s) => md.push_str(&s),
            None => {
                omitted = shown.len() - i;
                break;
            }
        }
    }
    let mut notes = Vec::new();
    if !o.previews_unread.is_empty() {
        notes.push(format!(
            "_Previews of {} nodes were not read: the {} s allowed after the pipeline ended ran out._\n\n",
            o.previews_unread.len(),
            crate::pipeline::details::AFTER_END.as_secs()
        ));
    }
    if o.previews_not_selected > 0 {
        notes.push(format!(
            "_Previews show the sink nodes (nothing depends on them); {} other query nodes completed: set `result_nodes: all` to preview them too._\n\n",
            o.previews_not_selected
        ));
    }
    for note in notes {
        if md.len() + note.len() + NOTE_ROOM <= budget {
            md.push_str(&note);
        }
    }
    let views: Vec<String> = o
        .tracked
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Completed)
        .filter_map(|n| match &n.kind {
            NodeKind::MaterializedView { name } => Some(format!(
                "node {} ({})",
                n.id,
                md_code(name.as_deref().unwrap_or("?"))
            )),
            NodeKind::Query { .. } => None,
        })
        .collect();
    if omitted > 0 {
        let _ = writeln!(
            md,
            "_Previews of {omitted} more nodes are not shown: the summary is limited to 1 MiB. The `results` output lists them._\n"
        );
    } else if !views.is_empty() {
        let line = format!(
            "_Materialized views have no result to preview: {}._\n\n",
            views.join(", ")
        );
        if md.len() + line.len() <= budget {
            md.push_str(&line);
        }
    }
    if md.len() > budget {
        return String::new();
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::model::Column;

    fn result(id: i64, rows: Vec<Vec<Option<String>>>) -> NodeResult {
        NodeResult {
            node_id: id,
            query_id: Some(100 + id),
            execution_id: "01HKZJ2683PHF9Q9PHHQ8FW4Q1".into(),
            path: None,
            rows: Some(rows.len() as u64 * 100),
            bytes: None,
            partial: false,
            previewed: true,
            preview: Some(Preview {
                columns: vec![
                    Column {
                        name: "na|me".into(),
                        kind: Some("varchar".into()),
                    },
                    Column {
                        name: "n".into(),
                        kind: Some("bigint".into()),
                    },
                ],
                rows,
            }),
            error: None,
        }
    }

    fn outcome(results: Vec<NodeResult>) -> Outcome {
        // Through the outcome's one constructor, so that a new field needs no edit here.
        let mut outcome = Outcome::new(
            Some(1),
            None,
            Default::default(),
            crate::outcome::Ending::Completed,
            None,
            std::time::Duration::ZERO,
        );
        outcome.results = results;
        outcome
    }

    #[test]
    fn hostile_cells_cannot_break_the_table() {
        let nasty = [
            "a|b",
            "line\nbreak\r\nhere",
            "`code` ```fence```",
            "<script>alert(1)</script><img src=x onerror=y>",
            "[link](https://evil.example) **bold** <details>",
        ];
        let rows = nasty
            .iter()
            .map(|s| vec![Some(s.to_string()), None])
            .collect();
        let md = section(&outcome(vec![result(1, rows)]), 1 << 20);
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        // Head, rule, one line per row: no cell spilled onto a line of its own.
        assert_eq!(table.len(), 2 + nasty.len(), "{md}");
        for line in &table {
            // Exactly three unescaped pipes per line: two columns.
            let bare = line.replace("\\|", "");
            assert_eq!(bare.matches('|').count(), 3, "{line}");
        }
        assert!(!md.contains("<script"), "{md}");
        assert!(!md.contains("<img"), "{md}");
        assert!(!md.contains("](https://evil"), "{md}");
        assert!(!md.contains("<details>"), "{md}");
        assert!(md.contains("\\`code\\`"), "{md}");
        assert!(md.contains("| *null* |"));
        assert!(md.contains("---:|"), "bigint is right-aligned: {md}");
    }

    #[test]
    fn several_nodes_fold_and_a_tight_budget_cuts_with_a_note() {
        let rows = |n: usize| {
            (0..n)
                .map(|i| vec![Some(format!("v{i}")), Some(i.to_string())])
                .collect()
        };
        let o = outcome(vec![result(1, rows(10)), result(2, rows(10))]);
        let md = section(&o, 1 << 20);
        assert_eq!(md.matches("<details>").count(), 2);
        assert_eq!(md.matches("</details>").count(), 2);
        assert!(md.contains("_First 10 of 1,000 rows._"), "{md}");

        let big = outcome(vec![result(1, rows(1000)), result(2, rows(1000))]);
        let cut = section(&big, 12_000);
        assert!(cut.len() <= 12_000, "{}", cut.len());
        assert!(cut.contains("more preview rows are not shown"), "{cut}");
        assert!(
            cut.contains("Previews of 1 more nodes are not shown"),
            "{cut}"
        );
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(1440), "1,440");
        assert_eq!(group_digits(1_000_000), "1,000,000");
    }
}
