//! The summary's `max_age` section: which latest results were reused and how old they were against
//! `max_age` (a run that executed nothing), or, for a dry run, whether a run would be skipped.

use std::fmt::Write as _;

use super::{md_code, md_text, query_link};
use crate::outcome::{Ending, Outcome};
use crate::pipeline::fresh::{Verdict, age_text};

/// The section for `o`; empty when `max_age` was not checked (or the check only led to a normal run,
/// whose log line says why).
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
        Verdict::Stale(_) => {}
        Verdict::Fresh(reused) => {
            if planned {
                let _ = writeln!(
                    md,
                    "**`max_age` {max}**: a run now would be skipped: every sink query's latest result is younger than `max_age`.\n"
                );
            } else {
                let _ = writeln!(
                    md,
                    "**Nothing executed, no credits spent**: the latest result of every sink query is younger than `max_age` ({max}), so it was reused.\n"
                );
            }
            md.push_str(
                "| Node | Query | Reused execution | Ended | Age |\n|---:|---|---|---|---|\n",
            );
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
            md.push('\n');
        }
    }
    md
}
