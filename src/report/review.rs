//! Where reviewers look at a preview (`preview: true`): one section per previewed query in the job summary
//! (and so in the sticky pull-request comment): the row counts before → after, the columns added, removed
//! or retyped, the rows only on one side, the keyed changes with the changed cells marked, the credits the
//! preview spent and a link to the saved query; the nodes not previewed and why. Also the `preview`
//! output (JSON, one object per previewed query; `schema/preview.schema.json`).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::markdown::{code_block, format_credits, md_cell, md_code, md_text, query_link};
use crate::results::model::Column;
use crate::review::diff::{ChangedRow, DataDiff, KeyedDiff, SampleRow};
use crate::review::run::{Found, NotPreviewed, QueryReview, Review, Skip};
use crate::runner::console::truncate_chars;

/// The headline of a preview run.
pub(crate) fn headline(r: &Review) -> String {
    let failed = r.failed().count();
    let errors = r.errors().count();
    if r.dry_run {
        format!(
            "📋 Data preview plan (dry run: nothing was executed): {} {} would be previewed",
            r.queries.len(),
            plural(r.queries.len() as u64, "query", "queries")
        )
    } else if failed > 0 {
        format!(
            "❌ Data preview: the SQL of {failed} {} failed",
            plural(failed as u64, "query", "queries")
        )
    } else if errors > 0 {
        "⚠️ Data preview: the action could not finish".into()
    } else if r.queries.is_empty() {
        "🔎 Data preview: no SQL file differs from the saved SQL".into()
    } else {
        format!(
            "🔎 Data preview: what this change does to the data of {} {}",
            r.queries.len(),
            plural(r.queries.len() as u64, "query", "queries")
        )
    }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn column_list(cols: &[Column]) -> String {
    cols.iter()
        .map(|c| match &c.kind {
            Some(k) => format!("{} ({})", md_code(&c.name), md_cell(k)),
            None => md_code(&c.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn cell(c: &Option<String>) -> String {
    match c {
        Some(t) => md_cell(t),
        None => "_null_".into(),
    }
}

fn rows_table(columns: &[Column], rows: &[SampleRow]) -> String {
    let mut md = String::new();
    let head: Vec<String> = columns.iter().map(|c| md_cell(&c.name)).collect();
    let _ = writeln!(md, "| {} |", head.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(columns.len().max(1)));
    for r in rows {
        let cells: Vec<String> = r.iter().map(cell).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    md
}

fn changed_table(rows: &[ChangedRow]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut md = String::new();
    let head: Vec<String> = first.cells.iter().map(|c| md_cell(&c.column)).collect();
    let _ = writeln!(md, "| {} |", head.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(head.len().max(1)));
    for r in rows {
        let cells: Vec<String> = r
            .cells
            .iter()
            .map(|c| {
                if c.changed {
                    format!("**{} → {}**", cell(&c.before), cell(&c.after))
                } else {
                    cell(&c.after)
                }
            })
            .collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    md
}

/// A `<details>` block with `summary` and a table.
fn details(summary: &str, table: &str) -> String {
    format!("<details><summary>{summary}</summary>\n\n{table}\n</details>\n\n")
}

fn shown_of(shown: usize, total: u64) -> String {
    if shown as u64 == total {
        String::new()
    } else {
        format!(" (first {shown} shown)")
    }
}

fn diff_section(md: &mut String, d: &DataDiff) {
    if d.unchanged() {
        let _ = writeln!(
            md,
            "**No change in the data**: the same {} rows and columns as the saved result (row order aside).\n",
            count(d.rows_before)
        );
    }
    let delta = d.rows_after as i128 - d.rows_before as i128;
    let _ = writeln!(
        md,
        "| | saved result | preview |\n|---|---:|---:|\n| Rows | {} | {} ({}{}) |\n| Columns | {} | {} |\n",
        count(d.rows_before),
        count(d.rows_after),
        if delta >= 0 { "+" } else { "−" },
        count(delta.unsigned_abs() as u64),
        d.columns_before.len(),
        d.columns_after.len()
    );
    let c = &d.columns;
    if !c.added.is_empty() {
        let _ = writeln!(md, "- Columns added: {}", column_list(&c.added));
    }
    if !c.removed.is_empty() {
        let _ = writeln!(md, "- Columns removed: {}", column_list(&c.removed));
    }
    if !c.retyped.is_empty() {
        let parts: Vec<String> = c
            .retyped
            .iter()
            .map(|r| {
                format!(
                    "{} {} → {}",
                    md_code(&r.name),
                    md_cell(&r.before),
                    md_cell(&r.after)
                )
            })
            .collect();
        let _ = writeln!(md, "- Columns retyped: {}", parts.join(", "));
    }
    if !d.unchanged() {
        let _ = writeln!(
            md,
            "- Rows only in the saved result: **{}**; rows only in the preview: **{}** (whole rows compared as a multiset, order aside)\n",
            count(d.removed),
            count(d.added)
        );
    } else {
        md.push('\n');
    }
    if !d.removed_sample.is_empty() {
        md.push_str(&details(
            &format!(
                "Rows only in the saved result{}",
                shown_of(d.removed_sample.len(), d.removed)
            ),
            &rows_table(&d.columns_before, &d.removed_sample),
        ));
    }
    if !d.added_sample.is_empty() {
        md.push_str(&details(
            &format!(
                "Rows only in the preview{}",
                shown_of(d.added_sample.len(), d.added)
            ),
            &rows_table(&d.columns_after, &d.added_sample),
        ));
    }
    if let Some(k) = &d.keyed {
        keyed_section(md, k, d);
    }
}

fn keyed_section(md: &mut String, k: &KeyedDiff, d: &DataDiff) {
    let key: Vec<String> = k.key.iter().map(|c| md_code(c)).collect();
    let key = key.join(", ");
    if !k.missing.is_empty() {
        let missing: Vec<String> = k.missing.iter().map(|c| md_code(c)).collect();
        let _ = writeln!(
            md,
            "**Rows matched by {key}**: not possible, {} not in both results.\n",
            missing.join(", ")
        );
        return;
    }
    let _ = writeln!(
        md,
        "**Rows matched by {key}**: {} changed, {} {} only in the saved result, {} only in the preview.\n",
        count(k.changed),
        count(k.only_before),
        plural(k.only_before, "key", "keys"),
        count(k.only_after)
    );
    if k.duplicate_before + k.duplicate_after > 0 {
        let _ = writeln!(
            md,
            "_The key is not unique: {} rows of the saved result and {} of the preview repeat a key and were not compared._\n",
            count(k.duplicate_before),
            count(k.duplicate_after)
        );
    }
    if !k.changed_sample.is_empty() {
        md.push_str(&details(
            &format!(
                "Changed rows, before → after in bold{}",
                shown_of(k.changed_sample.len(), k.changed)
            ),
            &changed_table(&k.changed_sample),
        ));
    }
    if !k.only_before_sample.is_empty() {
        md.push_str(&details(
            &format!(
                "Keys only in the saved result{}",
                shown_of(k.only_before_sample.len(), k.only_before)
            ),
            &rows_table(&d.columns_before, &k.only_before_sample),
        ));
    }
    if !k.only_after_sample.is_empty() {
        md.push_str(&details(
            &format!(
                "Keys only in the preview{}",
                shown_of(k.only_after_sample.len(), k.only_after)
            ),
            &rows_table(&d.columns_after, &k.only_after_sample),
        ));
    }
}

fn query_section(q: &QueryReview) -> String {
    let c = &q.changed;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### Query {} · {} · node {}\n",
        query_link(c.query_id),
        md_code(&c.file),
        c.node_id
    );
    let mut facts = vec![format!("tier {}", md_cell(&c.tier))];
    if let Some(id) = &q.execution_id {
        facts.push(format!("preview execution {}", md_code(id)));
    }
    if let Some(cr) = q.credits {
        facts.push(format!("{} credits spent", format_credits(cr)));
    }
    let _ = writeln!(md, "{}\n", facts.join(" · "));
    match &q.found {
        Found::Planned => {
            md.push_str("Would be previewed: its SQL file differs from the SQL saved on Dune.\n\n");
        }
        Found::Diff(d) => diff_section(&mut md, d),
        Found::NoSavedResult { rows, columns } => {
            let _ = writeln!(
                md,
                "**No saved result to compare with**: the query has no result on Dune (it never ran, its latest run failed, or its result expired). The preview has {} rows and {} columns: {}.\n",
                count(*rows),
                columns.len(),
                column_list(columns)
            );
        }
        Found::SqlFailed(e) => {
            let place = match (e.line, e.column) {
                (Some(l), Some(col)) => {
                    format!(" at line {l}, column {col} of {}", md_code(&c.file))
                }
                (Some(l), None) => format!(" at line {l} of {}", md_code(&c.file)),
                _ => String::new(),
            };
            let _ = writeln!(md, "**The SQL failed{place}:**\n");
            md.push_str(&code_block(&truncate_chars(&e.message, 4000)));
            md.push('\n');
        }
        Found::Error(e) => {
            let _ = writeln!(md, "**The preview could not be read:** {}\n", md_text(e));
        }
    }
    md
}

fn not_previewed_line(n: &NotPreviewed) -> String {
    let what = match n.query_id {
        Some(q) => format!("query {}", query_link(q)),
        None => md_cell(&n.label),
    };
    let why = match &n.reason {
        Skip::Downstream { of } => {
            let of: Vec<String> = of.iter().map(|i| format!("node {i}")).collect();
            format!(
                "runs after {} and reads its saved version, not this change's",
                of.join(", ")
            )
        }
        Skip::Parameters => "its SQL has `{{…}}` parameters, which `POST /v1/sql/execute` cannot fill in (the endpoint takes only `sql` and `performance`)".into(),
    };
    format!("- Node {} ({what}): {why}\n", n.node_id)
}

/// The summary's preview sections, within `budget` bytes.
pub(crate) fn section(r: &Review, budget: usize) -> String {
    let mut md = String::new();
    if r.queries.is_empty() {
        let _ = writeln!(
            md,
            "No query node's SQL file differs from the SQL saved on Dune ({} compared): nothing to preview.\n",
            r.unchanged
        );
    } else if r.unchanged > 0 {
        let _ = writeln!(
            md,
            "{} more {} with a SQL file equal to the saved SQL {} not previewed.\n",
            r.unchanged,
            plural(r.unchanged as u64, "query", "queries"),
            plural(r.unchanged as u64, "was", "were")
        );
    }
    let mut left = 0;
    for q in &r.queries {
        let s = query_section(q);
        if md.len() + s.len() + 1024 > budget {
            left += 1;
            continue;
        }
        md.push_str(&s);
    }
    if left > 0 {
        let _ = writeln!(
            md,
            "_{left} more previews are not shown here: the summary has a size limit. The `preview` output has them._\n"
        );
    }
    if !r.not_previewed.is_empty() {
        md.push_str("### Not previewed\n\n");
        for n in &r.not_previewed {
            let line = not_previewed_line(n);
            if md.len() + line.len() + 256 > budget {
                md.push_str("- …\n");
                break;
            }
            md.push_str(&line);
        }
        md.push('\n');
    }
    md
}

fn columns_json(cols: &[Column]) -> Value {
    Value::Array(
        cols.iter()
            .map(|c| json!({"name": c.name, "type": c.kind}))
            .collect(),
    )
}

/// The `preview` output: one object per previewed query.
pub(crate) fn output(r: &Review) -> String {
    let items: Vec<Value> = r
        .queries
        .iter()
        .map(|q| {
            let c = &q.changed;
            let mut o = json!({
                "node_id": c.node_id,
                "query_id": c.query_id,
                "sql_file": c.file,
                "execution_id": q.execution_id,
                "credits": q.credits,
                "status": "planned",
                "saved_result": Value::Null,
                "rows_before": Value::Null,
                "rows_after": Value::Null,
                "rows_added": Value::Null,
                "rows_removed": Value::Null,
                "columns_added": [],
                "columns_removed": [],
                "columns_retyped": [],
                "keyed": Value::Null,
                "error": Value::Null,
            });
            match &q.found {
                Found::Planned => {}
                Found::Diff(d) => {
                    o["status"] = json!(if d.unchanged() {
                        "unchanged"
                    } else {
                        "changed"
                    });
                    o["saved_result"] = json!(true);
                    o["rows_before"] = json!(d.rows_before);
                    o["rows_after"] = json!(d.rows_after);
                    o["rows_added"] = json!(d.added);
                    o["rows_removed"] = json!(d.removed);
                    o["columns_added"] = columns_json(&d.columns.added);
                    o["columns_removed"] = columns_json(&d.columns.removed);
                    o["columns_retyped"] = Value::Array(
                        d.columns
                            .retyped
                            .iter()
                            .map(|r| json!({"name": r.name, "before": r.before, "after": r.after}))
                            .collect(),
                    );
                    if let Some(k) = &d.keyed {
                        o["keyed"] = json!({
                            "key": k.key,
                            "changed": k.changed,
                            "only_before": k.only_before,
                            "only_after": k.only_after,
                            "missing_columns": k.missing,
                        });
                    }
                }
                Found::NoSavedResult { rows, columns } => {
                    o["status"] = json!("no_saved_result");
                    o["saved_result"] = json!(false);
                    o["rows_after"] = json!(rows);
                    o["columns_after"] = columns_json(columns);
                }
                Found::SqlFailed(e) => {
                    o["status"] = json!("failed");
                    o["error"] = json!({"message": e.message, "line": e.line, "column": e.column});
                }
                Found::Error(e) => {
                    o["status"] = json!("error");
                    o["error"] = json!({"message": e, "line": Value::Null, "column": Value::Null});
                }
            }
            o
        })
        .collect();
    Value::Array(items).to_string()
}
