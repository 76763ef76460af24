//! The summary's credits section: what this run cost (known per node, and how many nodes' costs are
//! unknown and why), the budget (`max_credits`), and the account's billing period read around the run.

use std::fmt::Write as _;

use crate::outcome::{Outcome, credits_text};
use crate::pipeline::estimate::Estimate;
use crate::pipeline::tracked::Unread;
use crate::pipeline::usage::Usage;
use crate::report::markdown::md_text;

/// Credits with thousands separators (`1,234`; decimals kept).
pub fn grouped(c: f64) -> String {
    let text = credits_text(c);
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if frac.is_empty() {
        format!("{sign}{out}")
    } else {
        format!("{sign}{out}.{frac}")
    }
}

/// "1,234 of 2,500 credits used, 49%, period ends 2026-12-31", from what Dune gave.
pub fn period_line(usage: &Usage) -> Option<String> {
    let p = usage.latest()?;
    let used = p.credits_used?;
    let mut line = match p.credits_included {
        Some(inc) if inc > 0.0 => format!(
            "{} of {} credits used, {}%",
            grouped(used),
            grouped(inc),
            (used / inc * 100.0).floor()
        ),
        _ => format!("{} credits used", grouped(used)),
    };
    if let Some(end) = &p.end_date {
        let _ = write!(line, ", period ends {end}");
    }
    Some(line)
}

/// The estimate's lines: its total, for how many nodes, why the others are unknown, and what it meant
/// for the budget (`planned`: a dry run, which starts nothing anyway).
fn estimate_lines(e: &Estimate, max: Option<f64>, planned: bool) -> String {
    let mut md = String::new();
    if let Some(why) = &e.not_made {
        let _ = writeln!(md, "- No estimate before the start: {}.", md_text(why));
        return md;
    }
    let basis = "from each node's last known cost (the latest execution of its query, the last refresh of its view; the next run may cost more or less)";
    if e.all_unknown() {
        let _ = writeln!(
            md,
            "- Estimate before the start, {basis}: not known for any of the {} nodes;",
            e.nodes.len()
        );
    } else {
        let _ = writeln!(
            md,
            "- Estimate before the start, {basis}: **{}** credits, known for {} of {} nodes{}",
            grouped(e.total()),
            e.known(),
            e.nodes.len(),
            if e.known() == e.nodes.len() { "." } else { ";" }
        );
    }
    let reasons = e.unknown_by_reason();
    if !reasons.is_empty() {
        let parts: Vec<String> = reasons
            .iter()
            .map(|(why, ids)| {
                format!(
                    "{} node{} {}",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" },
                    md_text(why)
                )
            })
            .collect();
        let budget = if e
            .nodes
            .iter()
            .any(|n| n.cost == Err(crate::pipeline::estimate::Unknown::NotRead))
        {
            format!(
                " (the rate budget before the start allowed {} reads, two a node)",
                e.reads_allowed
            )
        } else {
            String::new()
        };
        let _ = writeln!(md, "  unknown: {}{budget}.", parts.join("; "));
    }
    match max {
        Some(max) if e.all_unknown() => {
            let _ = writeln!(
                md,
                "- No node's cost was known before the start, so the estimate could not be held against `max_credits` ({}): the run started, and the budget was checked as nodes ended.",
                grouped(max)
            );
        }
        Some(max) if e.passes(max) && planned => {
            let _ = writeln!(
                md,
                "- The estimate is more than `max_credits` ({}): a run now would not start.",
                grouped(max)
            );
        }
        Some(max) if e.passes(max) => {
            let _ = writeln!(
                md,
                "- The estimate is more than `max_credits` ({}): **nothing was started**.",
                grouped(max)
            );
        }
        Some(max) => {
            let _ = writeln!(
                md,
                "- Within `max_credits` ({}) as far as it is known.",
                grouped(max)
            );
        }
        _ => {}
    }
    md
}

/// The section (empty when there is nothing to say: no node executed and usage was not read).
pub fn section(o: &Outcome) -> String {
    let t = &o.tracked;
    let executed = t.nodes.iter().filter(|n| n.execution_id.is_some()).count();
    let usage = &o.usage;
    if executed == 0
        && usage.before.is_none()
        && usage.after.is_none()
        && t.max_credits.is_none()
        && o.estimate.is_none()
    {
        return String::new();
    }
    let mut md = String::from("### Credits\n\n");
    if let Some(e) = &o.estimate {
        md.push_str(&estimate_lines(
            e,
            t.max_credits,
            o.ending == crate::outcome::Ending::Planned,
        ));
    }
    let unknown = t.credits_unknown();
    let known = executed - unknown.len().min(executed);
    // When nothing ran after an estimate, the estimate says it all.
    if executed > 0 || o.estimate.is_none() {
        let _ = writeln!(
            md,
            "- This run: **{}** credits, known for {known} of {executed} node{} that executed{}",
            grouped(t.spent()),
            if executed == 1 { "" } else { "s" },
            if unknown.is_empty() { "." } else { ";" }
        );
        if !unknown.is_empty() {
            let mut reasons: Vec<(String, Vec<i64>)> = Vec::new();
            for id in &unknown {
                let why = match t.unread.iter().find(|(u, _)| u == id).map(|(_, w)| *w) {
                    Some(Unread::Failed) => "the read failed".to_string(),
                    Some(Unread::Stopped) => {
                        "the run was stopped before they were read".to_string()
                    }
                    Some(Unread::AfterEnd) => {
                        "not read within the rate budget (the time after the end ran out)"
                            .to_string()
                    }
                    None if t.nodes.iter().any(|n| n.id == *id && n.details_read) => {
                        "Dune gave no cost".to_string()
                    }
                    None => "not read within the rate budget".to_string(),
                };
                match reasons.iter_mut().find(|(w, _)| *w == why) {
                    Some((_, ids)) => ids.push(*id),
                    None => reasons.push((why, vec![*id])),
                }
            }
            let parts: Vec<String> = reasons
                .iter()
                .map(|(why, ids)| {
                    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                    format!(
                        "node{} {}: {why}",
                        if ids.len() == 1 { "" } else { "s" },
                        ids.join(", ")
                    )
                })
                .collect();
            let _ = writeln!(
                md,
                "  {} unknown ({}); the total counts only the known ones.",
                unknown.len(),
                parts.join("; ")
            );
        }
    }
    // The spend against the budget, when something could spend (the estimate's lines say the rest).
    if let Some(max) = t
        .max_credits
        .filter(|_| executed > 0 || o.estimate.is_none())
    {
        let passed = t.over_budget();
        let _ = writeln!(
            md,
            "- Budget (`max_credits`): {}{}",
            grouped(max),
            if passed {
                ", **passed**"
            } else {
                ", not passed"
            }
        );
    }
    if let Some(line) = period_line(usage) {
        let _ = writeln!(md, "- Billing period: {}", md_text(&line));
    }
    if let Some(moved) = usage.moved() {
        let _ = writeln!(
            md,
            "- The account's usage moved by {} credits during the run (account-wide: other work with the same API key counts too).",
            grouped(moved)
        );
    }
    if let Some(why) = usage.failure() {
        let _ = writeln!(
            md,
            "- The account's usage could not be read ({}); the run was not affected.",
            md_text(why)
        );
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_are_grouped_by_thousands() {
        assert_eq!(grouped(1234.0), "1,234");
        assert_eq!(grouped(2500.0), "2,500");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(1234567.5), "1,234,567.5");
        assert_eq!(grouped(-12.0), "-12");
    }
}
