//! Result rows, generated on the fly from (seed, row index) so that an execution can have millions of
//! rows without ever holding them: a page is written straight into one buffer.

use std::fmt::Write as _;

use crate::util::{civil_from_days, days_from_civil, digits, mix};

pub(crate) const COLUMN_NAMES: [&str; 4] = ["day", "chain", "volume", "tx_count"];
pub(crate) const COLUMN_TYPES: [&str; 4] = ["varchar", "varchar", "double", "bigint"];
const CHAINS: [&str; 5] = ["ethereum", "arbitrum", "base", "optimism", "polygon"];

/// Default number of columns.
pub(crate) const DEFAULT_COLUMNS: u32 = 4;

/// Names of the first `n` columns: `day`, `chain`, `volume`, `tx_count`, then `metric_5`, ...
pub(crate) fn column_names(n: u32) -> Vec<String> {
    (0..n as usize)
        .map(|i| match COLUMN_NAMES.get(i) {
            Some(c) => (*c).to_owned(),
            None => format!("metric_{}", i + 1),
        })
        .collect()
}

/// Trino types of the first `n` columns (extra columns are `double`).
pub(crate) fn column_types(n: u32) -> Vec<&'static str> {
    (0..n as usize)
        .map(|i| COLUMN_TYPES.get(i).copied().unwrap_or("double"))
        .collect()
}

/// Bytes of the header line (column names), as counted in `result_set_bytes`.
pub(crate) fn header_bytes(n: u32) -> u64 {
    column_names(n).iter().map(|c| c.len() as u64).sum()
}

/// Estimated `total_result_set_bytes` of `rows` rows (exact totals would need every row).
pub(crate) fn estimated_total_bytes(rows: u64, n: u32) -> u64 {
    // day (10) + average chain name (~6.8) + volume (~9) + tx_count (~4.9) + ~8 per extra column
    let per_row: u64 = [10u64, 7, 9, 5]
        .iter()
        .take(n as usize)
        .sum::<u64>()
        .saturating_add(u64::from(n.saturating_sub(4)).saturating_mul(8));
    header_bytes(n).saturating_add(rows.saturating_mul(per_row))
}

struct Row {
    year: i64,
    month: u32,
    day: u32,
    chain: &'static str,
    volume_cents: u64,
    tx_count: u64,
    seed: u64,
}

impl Row {
    fn generate(seed: u64, index: u64) -> Row {
        const DAYS_BACK: u64 = 36_500;
        let base = days_from_civil(2025, 12, 31);
        let back = (index / CHAINS.len() as u64) % DAYS_BACK;
        let (year, month, day) = civil_from_days(base - back as i64);
        let h = mix(seed ^ mix(index));
        Row {
            year,
            month,
            day,
            chain: CHAINS[(index % CHAINS.len() as u64) as usize],
            volume_cents: h % 10_000_000_000,
            tx_count: (h >> 40) % 100_000,
            seed: h,
        }
    }

    /// Value of column `i` (0-based) as JSON text and its raw byte count.
    fn value(&self, i: usize, json: bool) -> (String, u64) {
        match i {
            0 => {
                let v = format!("{:04}-{:02}-{:02}", self.year, self.month, self.day);
                (if json { format!("\"{v}\"") } else { v }, 10)
            }
            1 => {
                let len = self.chain.len() as u64;
                let v = if json {
                    format!("\"{}\"", self.chain)
                } else {
                    self.chain.to_owned()
                };
                (v, len)
            }
            2 => (
                format!("{}.{:02}", self.volume_cents / 100, self.volume_cents % 100),
                digits(self.volume_cents / 100) + 3,
            ),
            3 => (self.tx_count.to_string(), digits(self.tx_count)),
            k => {
                let cents = mix(self.seed ^ k as u64) % 100_000_000;
                (
                    format!("{}.{:02}", cents / 100, cents % 100),
                    digits(cents / 100) + 3,
                )
            }
        }
    }
}

/// Appends rows `start..end` with `n` columns as comma-separated JSON objects; returns their value
/// bytes.
pub(crate) fn write_json_rows(out: &mut String, seed: u64, start: u64, end: u64, n: u32) -> u64 {
    let names = column_names(n);
    let mut bytes = 0;
    for i in start..end {
        let r = Row::generate(seed, i);
        if i > start {
            out.push(',');
        }
        out.push('{');
        for (c, name) in names.iter().enumerate() {
            if c > 0 {
                out.push(',');
            }
            let (v, b) = r.value(c, true);
            let _ = write!(out, "\"{name}\":{v}");
            bytes += b;
        }
        out.push('}');
    }
    bytes
}

/// Appends the CSV header line and rows `start..end` with `n` columns.
pub(crate) fn write_csv(out: &mut String, seed: u64, start: u64, end: u64, n: u32) {
    out.push_str(&column_names(n).join(","));
    out.push('\n');
    for i in start..end {
        let r = Row::generate(seed, i);
        for c in 0..n as usize {
            if c > 0 {
                out.push(',');
            }
            out.push_str(&r.value(c, false).0);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rows_are_valid_json_and_deterministic() {
        let mut a = String::from("[");
        let bytes = write_json_rows(&mut a, 42, 3, 13, 4);
        a.push(']');
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        let rows = v.as_array().unwrap();
        assert_eq!(rows.len(), 10);
        assert!(rows[0]["volume"].is_f64() || rows[0]["volume"].is_u64());
        assert!(rows[0]["tx_count"].is_u64());
        assert_eq!(rows[0]["day"].as_str().unwrap().len(), 10);
        assert!(bytes > 0);
        let mut b = String::from("[");
        write_json_rows(&mut b, 42, 3, 13, 4);
        b.push(']');
        assert_eq!(a, b);
        let mut c = String::new();
        write_json_rows(&mut c, 43, 3, 13, 4);
        assert_ne!(a[1..a.len() - 1], c);
    }

    #[test]
    fn csv_has_header_and_rows() {
        let mut s = String::new();
        write_csv(&mut s, 1, 0, 3, 4);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "day,chain,volume,tx_count");
        assert_eq!(lines.len(), 4);
        assert!(lines[1].starts_with("2025-12-31,ethereum,"));
    }

    #[test]
    fn many_columns() {
        let mut a = String::from("[");
        write_json_rows(&mut a, 7, 0, 3, 20);
        a.push(']');
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        let row = v[0].as_object().unwrap();
        assert_eq!(row.len(), 20);
        assert!(row["metric_20"].is_f64() || row["metric_20"].is_u64());
        assert_eq!(column_names(2), vec!["day", "chain"]);
        assert_eq!(column_types(5)[4], "double");
        let mut s = String::new();
        write_csv(&mut s, 7, 0, 2, 20);
        assert!(s.lines().all(|l| l.split(',').count() == 20));
    }
}
