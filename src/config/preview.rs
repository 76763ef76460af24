//! The preview inputs (`preview`, `preview_rows`, `diff_key`), validated like every other input.

use super::{InputError, err, parse_bool, quoted};
use crate::review::settings::{MAX_PREVIEW_ROWS, ReviewSettings};
use crate::runner::env::Env;

/// Reads `preview`, `preview_rows` and `diff_key`.
pub fn from_env(env: &Env) -> Result<ReviewSettings, InputError> {
    let enabled = parse_bool("preview", &env.input("preview"), false)?;
    let raw_rows = env.input("preview_rows");
    let rows = if raw_rows.is_empty() {
        10
    } else {
        match raw_rows.parse::<usize>() {
            Ok(n) if n <= MAX_PREVIEW_ROWS => n,
            _ => {
                return Err(err(
                    "preview_rows",
                    format!(
                        "must be a whole number from 0 to {MAX_PREVIEW_ROWS} (rows of each side a preview shows), got {}",
                        quoted(&raw_rows)
                    ),
                ));
            }
        }
    };
    let raw_key = env.input("diff_key");
    let key = if raw_key.trim().is_empty() {
        None
    } else {
        let columns: Vec<String> = raw_key.split(',').map(|c| c.trim().to_string()).collect();
        if columns.iter().any(String::is_empty) {
            return Err(err(
                "diff_key",
                format!(
                    "must be column names separated by commas (such as `day,chain`), got {}",
                    quoted(&raw_key)
                ),
            ));
        }
        Some(columns)
    };
    Ok(ReviewSettings { enabled, rows, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (format!("INPUT_{}", k.to_ascii_uppercase()), v.to_string())),
        )
    }

    #[test]
    fn defaults_and_values() {
        let s = from_env(&env(&[])).expect("defaults");
        assert_eq!((s.enabled, s.rows, s.key), (false, 10, None));
        let s = from_env(&env(&[
            ("preview", "true"),
            ("preview_rows", "3"),
            ("diff_key", "day, chain"),
        ]))
        .expect("values");
        assert_eq!(
            (s.enabled, s.rows, s.key),
            (true, 3, Some(vec!["day".to_string(), "chain".to_string()]))
        );
    }

    #[test]
    fn errors_name_the_input() {
        assert_eq!(
            from_env(&env(&[("preview", "yes")])).map_err(|e| e.input),
            Err("preview")
        );
        assert_eq!(
            from_env(&env(&[("preview_rows", "101")])).map_err(|e| e.input),
            Err("preview_rows")
        );
        assert_eq!(
            from_env(&env(&[("diff_key", "a,,b")])).map_err(|e| e.input),
            Err("diff_key")
        );
    }
}
