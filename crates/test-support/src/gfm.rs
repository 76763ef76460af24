//! How GitHub renders the job summary (GFM), as far as the tests need it, written independently of the
//! action: the oracle the tests check the summary's escaping against. Used by the integration tests and
//! (through `#[path]`) by the unit tests of `src/report/`, so it uses nothing but `std`.
#![allow(dead_code)]

/// The summary without its fenced code blocks (where HTML is shown, not rendered).
pub fn outside_code_blocks(md: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in md.lines() {
        let ticks: String = line.chars().take_while(|c| *c == '`').collect();
        match &fence {
            Some(f) if ticks.len() >= f.len() && line.trim_end() == ticks => fence = None,
            Some(_) => {}
            None if ticks.len() >= 3 => fence = Some(ticks),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// `|` that a GFM table reads as a cell separator (cmark-gfm: a backslash escapes the next character).
pub fn unescaped_pipes(text: &str) -> usize {
    let mut n = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => n += 1,
            _ => {}
        }
    }
    n
}
