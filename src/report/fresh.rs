//! The summary's `max_age` section: which latest results were reused and how old they were against
//! `max_age`, with the last refresh of each materialized view (a run that executed nothing); for a run
//! that executed the pipeline, which node was not fresh and why; for a dry run, whether a run would be
//! skipped.

use std::fmt::Write as _;

use super::{md_code, md_text, query_link};
use crate::outcome::{Ending, Outcome};
use crate::pipeline::fresh::{Verdict, age_text};

/// The section for `o`; empty when `max_age` was not checked.
pub fn section(o: &Outcome) -> String {
    let Some(check) = &o.fresh else {
        return String::new();
    };
    let max = md_code(&age_text(check.max_age));
    let planned = o.ending == Ending::Planned;
    let mut md = String::new();
    match &check.verdict {
        Verdict::Stale(why) if planned => {
            let _ = writeln!(
                md,
                "**`max_age` {max}**: a run now would execute the pipeline: {}.\n",
                md_text(why)
            );
        }
        Verdict::Stale(why) => {
            let _ = writeln!(
                md,
                "**`max_age` {max}**: the pipeline ran because not everything was fresh: {}.\n",
                md_text(why)
            );
        }
        Verdict::Fresh(reused) => {
            let views = if check.views.is_empty() {
                ""
            } else {
                " and every materialized view was refreshed within it"
            };
            if planned {
                let _ = writeln!(
                    md,
                    "**`max_age` {max}**: a run now would be skipped: every sink query's latest result is younger than `max_age`{views}.\n"
                );
            } else {
                let _ = writeln!(
                    md,
                    "**Nothing executed, no credits spent**: the latest result of every sink query is younger than `max_age` ({max}){views}, so it was reused.\n"
                );
            }
            if !reused.is_empty() {
                md.push_str(
                    "| Node | Query | Reused execution | Ended | Age |\n|---:|---|---|---|---|\n",
                );
            }
            for r in reused {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} old (max_age {}) |",
                    r.node_id,
                    query_link(r.query_id),
                    md_code(&r.execution_id),
                    md_code(&r.ended_at),
                    age_text(r.age),
                    age_text(check.max_age)
                );
            }
            if !check.views.is_empty() {
                md.push_str(
                    "\n| Node | Materialized view | Last refresh | Ended | Age |\n|---:|---|---|---|---|\n",
                );
            }
            for v in &check.views {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} old (max_age {}) |",
                    v.node_id,
                    md_code(&v.name),
                    md_code(&v.execution_id),
                    md_code(&v.ended_at),
                    age_text(v.age),
                    age_text(check.max_age)
                );
            }
            md.push('\n');
        }
    }
    md
}
