//! Result rows, generated on the fly from (seed, row index) so that an execution can have millions of
//! rows without ever holding them: a page is written straight into one buffer.

use std::fmt::Write as _;

use crate::util::{civil_from_days, days_from_civil, digits, mix};

pub(crate) const COLUMN_NAMES: [&str; 4] = ["day", "chain", "volume", "tx_count"];
pub(crate) const COLUMN_TYPES: [&str; 4] = ["varchar", "varchar", "double", "bigint"];
const CHAINS: [&str; 5] = ["ethereum", "arbitrum", "base", "optimism", "polygon"];

/// Bytes of the header line (column names), as counted in `result_set_bytes`.
pub(crate) fn header_bytes() -> u64 {
    COLUMN_NAMES.iter().map(|c| c.len() as u64).sum()
}

/// Estimated `total_result_set_bytes` of `rows` rows (exact totals would need every row).
pub(crate) fn estimated_total_bytes(rows: u64) -> u64 {
    // day (10) + average chain name (~6.8) + volume (~9) + tx_count (~4.9)
    header_bytes().saturating_add(rows.saturating_mul(31))
}

struct Row {
    year: i64,
    month: u32,
    day: u32,
    chain: &'static str,
    volume_cents: u64,
    tx_count: u64,
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
        }
    }

    /// Bytes of the raw values (what Dune counts in `result_set_bytes`).
    fn value_bytes(&self) -> u64 {
        10 + self.chain.len() as u64 + digits(self.volume_cents / 100) + 3 + digits(self.tx_count)
    }
}

/// Appends rows `start..end` as comma-separated JSON objects; returns their value bytes.
pub(crate) fn write_json_rows(out: &mut String, seed: u64, start: u64, end: u64) -> u64 {
    let mut bytes = 0;
    for i in start..end {
        let r = Row::generate(seed, i);
        if i > start {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"day\":\"{:04}-{:02}-{:02}\",\"chain\":\"{}\",\"volume\":{}.{:02},\"tx_count\":{}}}",
            r.year,
            r.month,
            r.day,
            r.chain,
            r.volume_cents / 100,
            r.volume_cents % 100,
            r.tx_count
        );
        bytes += r.value_bytes();
    }
    bytes
}

/// Appends the CSV header line and rows `start..end`.
pub(crate) fn write_csv(out: &mut String, seed: u64, start: u64, end: u64) {
    out.push_str(&COLUMN_NAMES.join(","));
    out.push('\n');
    for i in start..end {
        let r = Row::generate(seed, i);
        let _ = writeln!(
            out,
            "{:04}-{:02}-{:02},{},{}.{:02},{}",
            r.year,
            r.month,
            r.day,
            r.chain,
            r.volume_cents / 100,
            r.volume_cents % 100,
            r.tx_count
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rows_are_valid_json_and_deterministic() {
        let mut a = String::from("[");
        let bytes = write_json_rows(&mut a, 42, 3, 13);
        a.push(']');
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        let rows = v.as_array().unwrap();
        assert_eq!(rows.len(), 10);
        assert!(rows[0]["volume"].is_f64() || rows[0]["volume"].is_u64());
        assert!(rows[0]["tx_count"].is_u64());
        assert_eq!(rows[0]["day"].as_str().unwrap().len(), 10);
        assert!(bytes > 0);
        let mut b = String::from("[");
        write_json_rows(&mut b, 42, 3, 13);
        b.push(']');
        assert_eq!(a, b);
        let mut c = String::new();
        write_json_rows(&mut c, 43, 3, 13);
        assert_ne!(a[1..a.len() - 1], c);
    }

    #[test]
    fn csv_has_header_and_rows() {
        let mut s = String::new();
        write_csv(&mut s, 1, 0, 3);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "day,chain,volume,tx_count");
        assert_eq!(lines.len(), 4);
        assert!(lines[1].starts_with("2025-12-31,ethereum,"));
    }
}
