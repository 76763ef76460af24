//! The summary's credits section: what this run cost (known per node, and how many nodes' costs are
//! unknown and why), the budget (`max_credits`), and the account's billing period read around the run.

use std::fmt::Write as _;

use crate::outcome::{Outcome, credits_text};
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

/// The section (empty when there is nothing to say: no node executed and usage was not read).
pub fn section(o: &Outcome) -> String {
    let t = &o.tracked;
    let executed = t.nodes.iter().filter(|n| n.execution_id.is_some()).count();
    let usage = &o.usage;
    if executed == 0 && usage.before.is_none() && usage.after.is_none() && t.max_credits.is_none() {
        return String::new();
    }
    let mut md = String::from("### Credits\n\n");
    let unknown = t.credits_unknown();
    let known = executed - unknown.len().min(executed);
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
                Some(Unread::Stopped) => "the run was stopped before they were read".to_string(),
                Some(Unread::AfterEnd) => {
                    "not read within the rate budget (the time after the end ran out)".to_string()
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
    if let Some(max) = t.max_credits {
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
