//! The runner's reading of `GITHUB_OUTPUT` and `GITHUB_STATE`, written independently of the action: the
//! oracle the tests check the action's heredoc blocks against. It lives with the tests (the action only
//! writes these files; the post step gets its state from `STATE_*` variables). Used by the integration
//! tests (`common.rs`), the unit tests of `src/` and `benches/results_download.rs`.

/// Parses a `GITHUB_OUTPUT`-style file with the runner's rules (`EnvFileKeyValuePairs`): `NAME=VALUE` lines
/// and `NAME<<DELIM` heredocs, LF only.
pub fn parse_file_commands(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (name, value) = (&line[..e], &line[e + 1..]);
                if name.is_empty() {
                    return Err(format!("Invalid format '{line}'"));
                }
                out.push((name.to_string(), value.to_string()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(
                        "Name must not be empty and delimiter must not be empty".to_string()
                    );
                }
                let mut value_lines = Vec::new();
                loop {
                    if i >= lines.len() {
                        return Err(format!("Matching delimiter not found '{delimiter}'"));
                    }
                    let l = lines[i];
                    i += 1;
                    if l == delimiter {
                        if i > lines.len() || (i == lines.len() && !text.ends_with('\n')) {
                            return Err("EOF marker missing new line".to_string());
                        }
                        break;
                    }
                    value_lines.push(l);
                }
                out.push((name.to_string(), value_lines.join("\n")));
            }
            _ => return Err(format!("Invalid format '{line}'")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_key_value_lines_and_heredocs() {
        let text = "a=1\nb<<EOF\nx\ny\nEOF\n\nc=d<<e\nempty<<Z\nZ\n";
        assert_eq!(
            super::parse_file_commands(text),
            Ok(pairs(&[
                ("a", "1"),
                ("b", "x\ny"),
                ("c", "d<<e"),
                ("empty", "")
            ]))
        );
    }

    #[test]
    fn refuses_what_the_runner_refuses() {
        for bad in [
            "=1\n",
            "novalue\n",
            "b<<EOF\nx\n",
            "b<<EOF\nx\nEOF",
            "<<EOF\nx\nEOF\n",
            "b<<\nx\n\n",
        ] {
            assert!(super::parse_file_commands(bad).is_err(), "{bad:?}");
        }
    }
}
