//! Markdown for GitHub: escaping remote text for table cells, code spans, prose and fenced blocks, and
//! fitting markdown into GitHub's size limits (65,536 characters for a comment body, 65,535 for a check
//! run's output summary) without breaking it: cut at a line, close a code fence left open, add a note.

use std::time::Duration;

use crate::pipeline::plan::query_url;

/// A saved query's id as a markdown link to it on dune.com.
pub fn query_link(id: impl std::fmt::Display) -> String {
    format!("[{id}]({})", query_url(&id))
}

/// Credits as the summary writes them: whole numbers plain, else two decimals without trailing zeros.
pub(crate) use crate::pipeline::estimate::credits_text as format_credits;

/// `1m 05s`, `42s`, `1h 02m`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if d.as_millis() < 10_000 && d.subsec_millis() > 0 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{s}s")
    }
}

/// `md` if it has at most `max` characters; otherwise its first lines, any open code fence closed, and
/// `note` (a markdown paragraph) at the end, all within `max` characters.
pub fn cut(md: &str, max: usize, note: &str) -> String {
    if md.chars().count() <= max {
        return md.to_string();
    }
    let tail = format!("\n{note}\n");
    let mut out = String::new();
    let mut used = 0;
    let mut fence: Option<usize> = None;
    for line in md.split_inclusive('\n') {
        let len = line.chars().count();
        let next_fence = fence_after(fence, line);
        // Room for this line, a closing fence if one would still be open, and the note.
        let closing = next_fence.map_or(0, |n| n + 2);
        if used + len + closing + tail.chars().count() > max {
            break;
        }
        out.push_str(line);
        used += len;
        fence = next_fence;
    }
    if let Some(n) = fence {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&"`".repeat(n));
        out.push('\n');
    }
    out.push_str(&tail);
    out
}

/// The open fence's length after `line`, given the one before it.
fn fence_after(open: Option<usize>, line: &str) -> Option<usize> {
    let t = line.trim_end_matches(['\n', '\r']);
    let ticks = t.chars().take_while(|c| *c == '`').count();
    match open {
        None if ticks >= 3 => Some(ticks),
        Some(n) if ticks >= n && t[ticks..].trim().is_empty() => None,
        other => other,
    }
}

/// Escapes text for a markdown table cell: no line breaks, no `|`, no HTML, no emphasis or links.
pub fn md_cell(text: &str) -> String {
    escape(text, "|\\`*_[]~#!()")
}

/// No HTML (entities instead), a backslash before each of `backslashed`, line breaks and tabs as spaces,
/// other control characters dropped.
fn escape(text: &str, backslashed: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if backslashed.contains(c) => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a code span inside a table cell (backslash escapes do not work in code spans, but GFM
/// tables still need `\|`). A table splits cells at a `|` after an even number of backslashes, so a pipe
/// that follows an odd run of backslashes gets one more.
pub fn md_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('`');
    let mut backslashes = 0;
    for c in text.chars() {
        match c {
            '`' => continue,
            '|' => {
                if backslashes % 2 == 1 {
                    out.push('\\');
                }
                out.push_str("\\|");
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
    }
    out.push('`');
    out
}

/// Escapes prose for the summary while keeping our own `code` spans readable: no HTML, no links, no line
/// breaks, no table-breaking pipes.
pub fn md_text(text: &str) -> String {
    escape(text, "|[]\\")
}

/// A fenced code block that no backtick run in `text` can close early.
pub fn code_block(text: &str) -> String {
    code_block_in(text, "text")
}

/// [`code_block`] with the fence's language (`diff`, `sql`).
pub fn code_block_in(text: &str, language: &str) -> String {
    // Control characters go first: removing one can join two backtick runs into a longer one.
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    let longest = clean.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}{language}\n{clean}\n{fence}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(cut("a\nb\n", 10, "cut"), "a\nb\n");
    }

    #[test]
    fn cut_within_limit_and_fence_closed() {
        let md = format!("# t\n\n````text\n{}````\n\nafter\n", "line\n".repeat(1000));
        let out = cut(&md, 200, "_cut_");
        assert!(out.chars().count() <= 200, "{}", out.chars().count());
        assert!(out.ends_with("````\n\n_cut_\n"), "{out}");
        let fences = out.lines().filter(|l| l.starts_with("````")).count();
        assert_eq!(fences, 2);
    }

    #[test]
    fn counts_characters_not_bytes() {
        let md = "é\n".repeat(100);
        let out = cut(&md, 50, "x");
        assert!(out.chars().count() <= 50);
        assert!(out.len() > 50);
    }

    mod properties {
        use crate::report::{code_block, md_cell, md_code, md_text};
        use crate::runner::testing::gfm::{Rendered, first_cell, parse, unescaped_pipes};
        use crate::runner::testing::hostile;
        use proptest::prelude::*;

        /// Markup that must never come out of remote text in the summary.
        fn injected(nodes: &[Rendered]) -> Vec<String> {
            nodes
                .iter()
                .filter_map(|n| match n {
                    Rendered::Markup(m)
                        if [
                            "HtmlInline",
                            "HtmlBlock",
                            "Link",
                            "Image",
                            "LineBreak",
                            "Table",
                        ]
                        .contains(&m.as_str()) =>
                    {
                        Some(m.clone())
                    }
                    _ => None,
                })
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn md_cell_and_md_text_cannot_break_a_table_or_inject_html(s in hostile()) {
                for out in [md_cell(&s), md_text(&s)] {
                    prop_assert!(!out.contains(['\n', '\r', '<']), "{out:?}");
                    prop_assert_eq!(unescaped_pipes(&out), 0, "{:?}", out);
                }
            }

            /// GitHub's renderer (comrak, written apart from these escapers) shows a cell written with
            /// `md_cell` as the remote text itself: the same characters, in one cell, no markup at all.
            #[test]
            fn github_shows_an_md_cell_as_the_text_itself(s in hostile()) {
                let expected: String = s
                    .chars()
                    .filter_map(|c| match c {
                        '\r' | '\n' | '\t' => Some(' '),
                        c if c.is_control() => None,
                        c => Some(c),
                    })
                    .collect();
                let expected = expected.trim_matches(' ');
                let shown = first_cell(&md_cell(&s));
                if expected.is_empty() {
                    prop_assert_eq!(shown, Some(vec![]));
                } else {
                    prop_assert_eq!(shown, Some(vec![Rendered::Text(expected.to_string())]));
                }
            }

            /// `md_text` keeps emphasis and code spans, but GitHub shows no HTML, link, image or line
            /// break from it, and the table around it holds.
            #[test]
            fn github_renders_no_html_or_link_from_md_text(s in hostile()) {
                let shown = first_cell(&md_text(&s));
                prop_assert!(shown.is_some(), "the table broke: {:?}", md_text(&s));
                let shown = shown.unwrap_or_default();
                prop_assert!(injected(&shown).is_empty(), "{:?} -> {:?}", md_text(&s), shown);
            }

            /// `md_code` is one code span in an intact cell, as GitHub renders it.
            #[test]
            fn github_renders_md_code_as_one_code_span(s in hostile()) {
                prop_assume!(s.chars().any(|c| c != '`'));
                let shown = first_cell(&md_code(&s));
                prop_assert!(
                    matches!(shown.as_deref(), Some([Rendered::Code(_)])),
                    "{:?} -> {:?}",
                    md_code(&s),
                    shown
                );
            }

            /// `code_block` is one fenced block whose content GitHub shows verbatim.
            #[test]
            fn github_renders_code_block_verbatim(s in hostile()) {
                let clean: String = s
                    .chars()
                    .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
                    .collect();
                prop_assert_eq!(
                    parse(&code_block(&s)),
                    vec![Rendered::CodeBlock { info: "text".into(), literal: format!("{clean}\n") }]
                );
            }

            #[test]
            fn md_code_is_one_intact_code_span(s in hostile()) {
                let out = md_code(&s);
                prop_assert!(out.starts_with('`') && out.ends_with('`') && out.len() >= 2);
                prop_assert_eq!(out.matches('`').count(), 2, "{:?}", out);
                prop_assert!(!out.contains(['\n', '\r']));
                prop_assert_eq!(unescaped_pipes(&out), 0, "{:?}", out);
            }

            #[test]
            fn code_block_cannot_be_closed_early(s in hostile()) {
                let block = code_block(&s);
                let fence: String = block.chars().take_while(|c| *c == '`').collect();
                prop_assert!(fence.len() >= 3);
                let inner: Vec<&str> = block.trim_end_matches('\n').lines().collect();
                prop_assert_eq!(inner.last().copied(), Some(fence.as_str()));
                for line in &inner[1..inner.len() - 1] {
                    prop_assert!(!line.trim_start().starts_with(fence.as_str()), "{line:?}");
                }
            }
        }
    }
}
