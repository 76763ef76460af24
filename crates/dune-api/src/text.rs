//! Remote text made fit for a message: one line, no control characters, cut to a length. Everything the
//! client puts into an error message from a response (Dune's error text, a body excerpt) passes through
//! here, so a message is always a single, short line.

/// Makes remote text safe to print inside one ordinary log line: no line breaks (so it can never begin a
/// line of its own, where the runner would read a `::` command), no other control characters, and no
/// `##[`: the runner still honours its legacy `##[command]data` form anywhere in a line (`set-output`,
/// `add-mask`, `stop-commands` …), so a zero-width space goes between `##` and `[`.
pub fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| match c {
            '\r' | '\n' => ' ',
            c if c.is_control() && c != '\t' => '\u{FFFD}',
            c => c,
        })
        .collect();
    flat.replace("##[", LEGACY_DEFUSED)
}

/// What `##[` becomes in a plain log line.
pub const LEGACY_DEFUSED: &str = "##\u{200B}[";

/// Cuts `text` to at most `max` characters (not bytes), marking the cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cuts remote text to a short, single-line excerpt for error messages.
pub fn excerpt(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    truncate_chars(&one_line(text.trim()), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::hostile;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn one_line_is_one_plain_line(s in hostile()) {
            let l = one_line(&s);
            prop_assert!(!l.contains("##["));
            prop_assert!(!l.chars().any(|c| c.is_control() && c != '\t'));
        }
    }
}
