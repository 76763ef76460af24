//! The data diff of a preview: the saved result of a query (what production shows) against the result of
//! the pull request's SQL, in bounded memory whatever their size. Pure: rows go in, a [`DataDiff`] comes
//! out; no I/O, no clock.
//!
//! Rows are never kept, only 64-bit hashes of them (a row's hash covers its columns by name, so the order
//! of the columns does not matter, and numbers by value, so `5` and `5.0` are the same cell):
//!
//! 1. [`SavedPass`]: every row of the saved result; its whole-row hashes are sorted and counted (12 bytes a
//!    distinct row), and with a `diff_key` each row's key hash and common-columns hash (16 bytes a row).
//! 2. [`PreviewPass`]: every row of the preview; a row whose hash still has a saved copy uses it up, the
//!    others are the rows only in the preview (the first `sample_rows` of them kept for the report). Keys
//!    are looked up the same way.
//! 3. [`SecondLook`], only when the report needs rows of the saved side (rows only in it, the "before" of a
//!    changed key): the saved result again, page by page, until the samples are full. The caller stops
//!    reading as soon as [`SecondLook::wants_more`] says so.
//!
//! Two rows with the same 64-bit hash are taken as equal: with a million rows a side, the odds that two
//! different rows collide are about one in 10^7.
//!
//! NOTE: memory grows with the saved side's row count (12 bytes a row, 29 with a key), never with the
//! preview's; a page of either side is the caller's. That is 12 MiB for a million rows, far below the
//! 128 MiB the benchmark holds the whole action to.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

use serde_json::{Map, Value};

use crate::results::model::Column;

/// A row as Dune's results pages give it: an object of column name → value.
pub(crate) type Row = Map<String, Value>;

/// A row kept for the report: the display text of each cell, in its side's column order (`None` for null).
pub(crate) type SampleRow = Vec<Option<String>>;

/// Longest cell text kept for the report (characters).
pub(crate) const CELL_CHARS: usize = 120;

/// What a diff is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiffSettings {
    /// Rows of each side kept for the report (`preview_rows`).
    pub sample_rows: usize,
    /// `diff_key`: the columns that identify a row, when rows are matched by key.
    pub key: Option<Vec<String>>,
}

/// A column whose type changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Retyped {
    pub name: String,
    pub before: String,
    pub after: String,
}

/// Columns added, removed or retyped, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ColumnChanges {
    pub added: Vec<Column>,
    pub removed: Vec<Column>,
    pub retyped: Vec<Retyped>,
}

impl ColumnChanges {
    /// Compares two column lists by name; the order of the columns is not a change.
    pub(crate) fn between(before: &[Column], after: &[Column]) -> ColumnChanges {
        let find = |cols: &[Column], name: &str| cols.iter().find(|c| c.name == name).cloned();
        let mut out = ColumnChanges::default();
        for c in after {
            match find(before, &c.name) {
                None => out.added.push(c.clone()),
                Some(b) => {
                    let (tb, ta) = (b.kind.clone().unwrap_or_default(), c.kind.clone());
                    let ta = ta.unwrap_or_default();
                    if tb != ta {
                        out.retyped.push(Retyped {
                            name: c.name.clone(),
                            before: tb,
                            after: ta,
                        });
                    }
                }
            }
        }
        out.removed = before
            .iter()
            .filter(|c| find(after, &c.name).is_none())
            .cloned()
            .collect();
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.retyped.is_empty()
    }
}

/// One cell of a changed row: before → after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CellChange {
    pub column: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Whether the value differs (cells of added or removed columns are not marked).
    pub changed: bool,
}

/// A key found on both sides whose row differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangedRow {
    /// The key's values, in `diff_key` order.
    pub key: Vec<Option<String>>,
    /// Every column of either side (the preview's order, then the removed ones).
    pub cells: Vec<CellChange>,
}

/// Rows matched by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct KeyedDiff {
    pub key: Vec<String>,
    /// Keys on both sides whose rows differ (in the columns both sides have).
    pub changed: u64,
    pub changed_sample: Vec<ChangedRow>,
    /// Keys only in the saved result.
    pub only_before: u64,
    pub only_before_sample: Vec<SampleRow>,
    /// Keys only in the preview.
    pub only_after: u64,
    pub only_after_sample: Vec<SampleRow>,
    /// Rows whose key another row of the same side already had (those rows are not compared).
    pub duplicate_before: u64,
    pub duplicate_after: u64,
    /// Key columns missing from a side: then rows are not matched by key at all.
    pub missing: Vec<String>,
}

/// The difference between the saved result and the preview.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DataDiff {
    pub rows_before: u64,
    pub rows_after: u64,
    pub columns_before: Vec<Column>,
    pub columns_after: Vec<Column>,
    pub columns: ColumnChanges,
    /// Rows only in the saved result (a multiset difference over whole rows, order aside).
    pub removed: u64,
    pub removed_sample: Vec<SampleRow>,
    /// Rows only in the preview.
    pub added: u64,
    pub added_sample: Vec<SampleRow>,
    /// With `diff_key`.
    pub keyed: Option<KeyedDiff>,
}

impl DataDiff {
    /// Whether the data is the same: same columns and types, same rows (as a multiset).
    pub(crate) fn unchanged(&self) -> bool {
        self.columns.is_empty() && self.added == 0 && self.removed == 0
    }
}

const TAG_NULL: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_INT: u8 = 3;
const TAG_FLOAT: u8 = 4;
const TAG_BIG: u8 = 5;
const TAG_STRING: u8 = 6;
const TAG_ARRAY: u8 = 7;
const TAG_OBJECT: u8 = 8;
const TAG_MISSING: u8 = 9;

/// Feeds one value into `h`: numbers by value (an integral double is its integer), strings by content,
/// arrays and objects element by element (object keys in sorted order).
fn hash_value(h: &mut DefaultHasher, v: &Value) {
    match v {
        Value::Null => h.write_u8(TAG_NULL),
        Value::Bool(false) => h.write_u8(TAG_FALSE),
        Value::Bool(true) => h.write_u8(TAG_TRUE),
        Value::Number(n) => {
            const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
            if let Some(i) = n.as_i64() {
                h.write_u8(TAG_INT);
                h.write_i64(i);
            } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < EXACT) {
                h.write_u8(TAG_INT);
                h.write_i64(f as i64);
            } else if let Some(f) = n.as_f64().filter(|f| f.is_finite() && n.as_u64().is_none()) {
                h.write_u8(TAG_FLOAT);
                h.write_u64(f.to_bits());
            } else {
                h.write_u8(TAG_BIG);
                h.write(n.to_string().as_bytes());
                h.write_u8(0xff);
            }
        }
        Value::String(s) => {
            h.write_u8(TAG_STRING);
            h.write_usize(s.len());
            h.write(s.as_bytes());
        }
        Value::Array(items) => {
            h.write_u8(TAG_ARRAY);
            h.write_usize(items.len());
            for i in items {
                hash_value(h, i);
            }
        }
        Value::Object(o) => {
            h.write_u8(TAG_OBJECT);
            h.write_usize(o.len());
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            for k in keys {
                h.write_usize(k.len());
                h.write(k.as_bytes());
                if let Some(v) = o.get(k) {
                    hash_value(h, v);
                }
            }
        }
    }
}

fn value_hash(v: Option<&Value>) -> u64 {
    let mut h = DefaultHasher::new();
    match v {
        Some(v) => hash_value(&mut h, v),
        None => h.write_u8(TAG_MISSING),
    }
    h.finish()
}

/// The hash of `row` over `columns` (names and values; `columns` sorted by the caller).
fn row_hash(row: &Row, columns: &[String]) -> u64 {
    let mut h = DefaultHasher::new();
    for name in columns {
        h.write_usize(name.len());
        h.write(name.as_bytes());
        match row.get(name) {
            Some(v) => hash_value(&mut h, v),
            None => h.write_u8(TAG_NULL),
        }
    }
    h.finish()
}

/// The hash of a row's key (values only, in `diff_key` order).
fn key_hash(row: &Row, key: &[String]) -> u64 {
    let mut h = DefaultHasher::new();
    for name in key {
        match row.get(name) {
            Some(v) => hash_value(&mut h, v),
            None => h.write_u8(TAG_NULL),
        }
    }
    h.finish()
}

/// A cell as the report shows it (`None` for null), shortened to [`CELL_CHARS`].
pub(crate) fn cell_text(v: Option<&Value>) -> Option<String> {
    let text = match v? {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(crate::runner::console::truncate_chars(&text, CELL_CHARS))
}

fn sample(row: &Row, columns: &[Column]) -> SampleRow {
    columns
        .iter()
        .map(|c| cell_text(row.get(&c.name)))
        .collect()
}

fn sorted_names(columns: &[Column]) -> Vec<String> {
    let mut names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

/// What both passes share: the columns of each side and how rows are hashed.
#[derive(Debug)]
struct Shape {
    settings: DiffSettings,
    before: Vec<Column>,
    after: Vec<Column>,
    /// Sorted column names of each side (the whole-row hash).
    before_names: Vec<String>,
    after_names: Vec<String>,
    /// Sorted names of the columns both sides have (the keyed comparison).
    common: Vec<String>,
    /// The key, when both sides have every key column.
    key: Option<Vec<String>>,
    missing: Vec<String>,
}

impl Shape {
    fn new(settings: DiffSettings, before: Vec<Column>, after: Vec<Column>) -> Shape {
        let before_names = sorted_names(&before);
        let after_names = sorted_names(&after);
        let common: Vec<String> = before_names
            .iter()
            .filter(|n| after_names.binary_search(n).is_ok())
            .cloned()
            .collect();
        let missing: Vec<String> = settings
            .key
            .iter()
            .flatten()
            .filter(|k| common.binary_search(k).is_err())
            .cloned()
            .collect();
        let key = settings.key.clone().filter(|_| missing.is_empty());
        Shape {
            settings,
            before,
            after,
            before_names,
            after_names,
            common,
            key,
            missing,
        }
    }
}

/// Pass 1: the saved result.
#[derive(Debug)]
pub(crate) struct SavedPass {
    shape: Shape,
    rows: u64,
    hashes: Vec<u64>,
    /// (key hash, common-columns hash), with a key.
    keys: Vec<(u64, u64)>,
}

impl SavedPass {
    /// A diff of a saved result with columns `before` against a preview with columns `after`.
    pub(crate) fn new(
        settings: DiffSettings,
        before: Vec<Column>,
        after: Vec<Column>,
    ) -> SavedPass {
        SavedPass {
            shape: Shape::new(settings, before, after),
            rows: 0,
            hashes: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// One row of the saved result.
    pub(crate) fn row(&mut self, row: &Row) {
        self.rows += 1;
        self.hashes.push(row_hash(row, &self.shape.before_names));
        if let Some(key) = &self.shape.key {
            self.keys
                .push((key_hash(row, key), row_hash(row, &self.shape.common)));
        }
    }

    /// The saved side is read: on to the preview.
    pub(crate) fn finish(self) -> PreviewPass {
        let SavedPass {
            shape,
            rows,
            mut hashes,
            mut keys,
        } = self;
        hashes.sort_unstable();
        // Dedup in place, counting copies.
        let mut counts: Vec<u32> = Vec::new();
        let mut w = 0usize;
        for r in 0..hashes.len() {
            if r > 0 && hashes[r] == hashes[w - 1] {
                if let Some(c) = counts.last_mut() {
                    *c = c.saturating_add(1);
                }
            } else {
                hashes[w] = hashes[r];
                w += 1;
                counts.push(1);
            }
        }
        hashes.truncate(w);
        hashes.shrink_to_fit();
        counts.shrink_to_fit();
        keys.sort_unstable();
        let mut duplicate_before = 0;
        let mut key_flags = vec![0u8; keys.len()];
        for i in 1..keys.len() {
            if keys[i].0 == keys[i - 1].0 {
                duplicate_before += 1;
                key_flags[i] |= DUPLICATE;
            }
        }
        let sample_rows = shape.settings.sample_rows;
        PreviewPass {
            shape,
            rows_before: rows,
            rows_after: 0,
            hashes,
            counts,
            keys,
            key_flags,
            added: 0,
            added_sample: Vec::new(),
            keyed: KeyedState {
                duplicate_before,
                ..KeyedState::default()
            },
            sample_rows,
        }
    }
}

/// The key was seen in the preview.
const SEEN: u8 = 1;
/// Another saved row had the same key first.
const DUPLICATE: u8 = 2;

#[derive(Debug, Default)]
struct KeyedState {
    changed: u64,
    /// Changed rows waiting for their "before" row: key hash → (key cells, after row).
    pending: Vec<(u64, Row)>,
    only_after: u64,
    only_after_sample: Vec<SampleRow>,
    only_before: u64,
    only_before_sample: Vec<SampleRow>,
    duplicate_before: u64,
    duplicate_after: u64,
}

/// Pass 2: the preview.
#[derive(Debug)]
pub(crate) struct PreviewPass {
    shape: Shape,
    rows_before: u64,
    rows_after: u64,
    /// Distinct whole-row hashes of the saved side, sorted, and how many copies are not matched yet.
    hashes: Vec<u64>,
    counts: Vec<u32>,
    keys: Vec<(u64, u64)>,
    key_flags: Vec<u8>,
    added: u64,
    added_sample: Vec<SampleRow>,
    keyed: KeyedState,
    sample_rows: usize,
}

impl PreviewPass {
    /// The first saved entry for key hash `k`.
    fn key_index(&self, k: u64) -> Option<usize> {
        let i = self.keys.partition_point(|(kh, _)| *kh < k);
        (self.keys.get(i).is_some_and(|(kh, _)| *kh == k)).then_some(i)
    }

    /// One row of the preview.
    pub(crate) fn row(&mut self, row: Row) {
        self.rows_after += 1;
        let h = row_hash(&row, &self.shape.after_names);
        match self.hashes.binary_search(&h) {
            Ok(i) if self.counts[i] > 0 => self.counts[i] -= 1,
            _ => {
                self.added += 1;
                if self.added_sample.len() < self.sample_rows {
                    self.added_sample.push(sample(&row, &self.shape.after));
                }
            }
        }
        let Some(key) = &self.shape.key else { return };
        let k = key_hash(&row, key);
        let Some(i) = self.key_index(k) else {
            self.keyed.only_after += 1;
            if self.keyed.only_after_sample.len() < self.sample_rows {
                self.keyed
                    .only_after_sample
                    .push(sample(&row, &self.shape.after));
            }
            return;
        };
        if self.key_flags[i] & SEEN != 0 {
            self.keyed.duplicate_after += 1;
            return;
        }
        self.key_flags[i] |= SEEN;
        if self.keys[i].1 != row_hash(&row, &self.shape.common) {
            self.keyed.changed += 1;
            if self.keyed.pending.len() < self.sample_rows {
                self.keyed.pending.push((k, row));
            }
        }
    }

    /// The preview is read: what is left to look up in the saved result.
    pub(crate) fn finish(mut self) -> SecondLook {
        let removed: u64 = self.counts.iter().map(|c| u64::from(*c)).sum();
        // Only a key's first saved entry is marked seen; its duplicates were counted apart.
        let unseen = self
            .key_flags
            .iter()
            .filter(|f| *f & (SEEN | DUPLICATE) == 0)
            .count() as u64;
        self.keyed.only_before = unseen;
        let pending: HashMap<u64, usize> = self
            .keyed
            .pending
            .iter()
            .enumerate()
            .map(|(n, (k, _))| (*k, n))
            .collect();
        let befores = vec![None; self.keyed.pending.len()];
        SecondLook {
            removed,
            removed_sample: Vec::new(),
            pending,
            befores,
            reported: vec![false; self.keys.len()],
            pass: self,
        }
    }
}

/// Pass 3: the saved result again, for the rows the report shows.
#[derive(Debug)]
pub(crate) struct SecondLook {
    pass: PreviewPass,
    removed: u64,
    removed_sample: Vec<SampleRow>,
    /// Key hash → index into the pending changed rows.
    pending: HashMap<u64, usize>,
    befores: Vec<Option<Row>>,
    /// Keys only in the saved result already sampled.
    reported: Vec<bool>,
}

impl SecondLook {
    fn removed_wanted(&self) -> bool {
        (self.removed_sample.len() as u64) < self.removed.min(self.pass.sample_rows as u64)
    }

    fn only_before_wanted(&self) -> bool {
        let k = &self.pass.keyed;
        (k.only_before_sample.len() as u64) < k.only_before.min(self.pass.sample_rows as u64)
    }

    /// Whether the report still misses rows of the saved result (else it need not be read again).
    pub(crate) fn wants_more(&self) -> bool {
        self.removed_wanted()
            || self.only_before_wanted()
            || self.befores.iter().any(Option::is_none)
    }

    /// One row of the saved result, read again in the same order as in pass 1.
    pub(crate) fn row(&mut self, row: Row) {
        let h = row_hash(&row, &self.pass.shape.before_names);
        if let Ok(i) = self.pass.hashes.binary_search(&h)
            && self.pass.counts[i] > 0
        {
            self.pass.counts[i] -= 1;
            if self.removed_wanted() {
                self.removed_sample
                    .push(sample(&row, &self.pass.shape.before));
            }
        }
        let Some(key) = &self.pass.shape.key else {
            return;
        };
        let k = key_hash(&row, key);
        if let Some(n) = self.pending.get(&k)
            && self.befores[*n].is_none()
        {
            self.befores[*n] = Some(row);
            return;
        }
        if let Some(i) = self.pass.key_index(k)
            && self.pass.key_flags[i] & SEEN == 0
            && !self.reported[i]
            && self.only_before_wanted()
        {
            self.reported[i] = true;
            self.pass
                .keyed
                .only_before_sample
                .push(sample(&row, &self.pass.shape.before));
        }
    }

    /// The diff.
    pub(crate) fn finish(self) -> DataDiff {
        let SecondLook {
            pass,
            removed,
            removed_sample,
            befores,
            ..
        } = self;
        let shape = pass.shape;
        let keyed = shape.settings.key.clone().map(|key| {
            let mut k = pass.keyed;
            let pending = std::mem::take(&mut k.pending);
            let changed_sample = pending
                .into_iter()
                .zip(befores)
                .map(|((_, after), before)| changed_row(&key, &shape, before.as_ref(), &after))
                .collect();
            KeyedDiff {
                key,
                changed: k.changed,
                changed_sample,
                only_before: k.only_before,
                only_before_sample: k.only_before_sample,
                only_after: k.only_after,
                only_after_sample: k.only_after_sample,
                duplicate_before: k.duplicate_before,
                duplicate_after: k.duplicate_after,
                missing: shape.missing.clone(),
            }
        });
        DataDiff {
            rows_before: pass.rows_before,
            rows_after: pass.rows_after,
            columns: ColumnChanges::between(&shape.before, &shape.after),
            columns_before: shape.before,
            columns_after: shape.after,
            removed,
            removed_sample,
            added: pass.added,
            added_sample: pass.added_sample,
            keyed,
        }
    }
}

fn changed_row(key: &[String], shape: &Shape, before: Option<&Row>, after: &Row) -> ChangedRow {
    let mut cells: Vec<CellChange> = shape
        .after
        .iter()
        .map(|c| {
            let in_before = shape.before.iter().any(|b| b.name == c.name);
            let (b, a) = (before.and_then(|r| r.get(&c.name)), after.get(&c.name));
            CellChange {
                column: c.name.clone(),
                before: if in_before { cell_text(b) } else { None },
                after: cell_text(a),
                changed: in_before && before.is_some() && value_hash(b) != value_hash(a),
            }
        })
        .collect();
    for c in &shape.before {
        if !shape.after.iter().any(|a| a.name == c.name) {
            cells.push(CellChange {
                column: c.name.clone(),
                before: cell_text(before.and_then(|r| r.get(&c.name))),
                after: None,
                changed: false,
            });
        }
    }
    ChangedRow {
        key: key.iter().map(|k| cell_text(after.get(k))).collect(),
        cells,
    }
}

/// Diffs two results held in memory (tests, and small results): the three passes in order.
#[cfg(test)]
pub(crate) fn diff_in_memory(
    settings: DiffSettings,
    before: (&[Column], &[Row]),
    after: (&[Column], &[Row]),
) -> DataDiff {
    let mut saved = SavedPass::new(settings, before.0.to_vec(), after.0.to_vec());
    for r in before.1 {
        saved.row(r);
    }
    let mut preview = saved.finish();
    for r in after.1 {
        preview.row(r.clone());
    }
    let mut look = preview.finish();
    for r in before.1 {
        if !look.wants_more() {
            break;
        }
        look.row(r.clone());
    }
    look.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn cols(spec: &[(&str, &str)]) -> Vec<Column> {
        spec.iter()
            .map(|(n, t)| Column {
                name: (*n).into(),
                kind: Some((*t).into()),
            })
            .collect()
    }

    fn row(v: Value) -> Row {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn settings(key: Option<&[&str]>) -> DiffSettings {
        DiffSettings {
            sample_rows: 10,
            key: key.map(|k| k.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn equal_results_in_another_order_are_unchanged() {
        let c = cols(&[("a", "bigint"), ("b", "varchar")]);
        let before = [
            row(json!({"a": 1, "b": "x"})),
            row(json!({"a": 2, "b": "y"})),
        ];
        let after = [
            row(json!({"b": "y", "a": 2})),
            row(json!({"a": 1.0, "b": "x"})),
        ];
        let d = diff_in_memory(settings(None), (&c, &before), (&c, &after));
        assert!(d.unchanged(), "{d:?}");
        assert_eq!((d.rows_before, d.rows_after), (2, 2));
    }

    #[test]
    fn rows_only_on_one_side_are_counted_and_shown() {
        let c = cols(&[("a", "bigint")]);
        let before: Vec<Row> = [1, 2, 2, 3].iter().map(|i| row(json!({"a": i}))).collect();
        let after: Vec<Row> = [2, 3, 4, 4].iter().map(|i| row(json!({"a": i}))).collect();
        let d = diff_in_memory(settings(None), (&c, &before), (&c, &after));
        assert_eq!((d.removed, d.added), (2, 2));
        assert_eq!(
            d.removed_sample,
            vec![vec![Some("1".to_string())], vec![Some("2".into())]]
        );
        assert_eq!(
            d.added_sample,
            vec![vec![Some("4".to_string())], vec![Some("4".into())]]
        );
        assert!(!d.unchanged());
    }

    #[test]
    fn columns_added_removed_and_retyped_by_name() {
        let before = cols(&[("a", "bigint"), ("b", "varchar"), ("c", "double")]);
        let after = cols(&[("c", "varchar"), ("a", "bigint"), ("d", "date")]);
        let ch = ColumnChanges::between(&before, &after);
        assert_eq!(ch.added, cols(&[("d", "date")]));
        assert_eq!(ch.removed, cols(&[("b", "varchar")]));
        assert_eq!(
            ch.retyped,
            vec![Retyped {
                name: "c".into(),
                before: "double".into(),
                after: "varchar".into()
            }]
        );
    }

    #[test]
    fn a_keyed_diff_marks_the_changed_cell() {
        let before_c = cols(&[("id", "bigint"), ("v", "double"), ("old", "varchar")]);
        let after_c = cols(&[("id", "bigint"), ("v", "double"), ("new", "varchar")]);
        let before = [
            row(json!({"id": 1, "v": 10, "old": "o"})),
            row(json!({"id": 2, "v": 20, "old": "o"})),
            row(json!({"id": 3, "v": 30, "old": "o"})),
        ];
        let after = [
            row(json!({"id": 1, "v": 10, "new": "n"})),
            row(json!({"id": 2, "v": 21, "new": "n"})),
            row(json!({"id": 4, "v": 40, "new": "n"})),
        ];
        let d = diff_in_memory(
            settings(Some(&["id"])),
            (&before_c, &before),
            (&after_c, &after),
        );
        let k = d.keyed.as_ref().expect("keyed");
        assert_eq!((k.changed, k.only_before, k.only_after), (1, 1, 1));
        let ch = &k.changed_sample[0];
        assert_eq!(ch.key, vec![Some("2".to_string())]);
        let marked: Vec<&str> = ch
            .cells
            .iter()
            .filter(|c| c.changed)
            .map(|c| c.column.as_str())
            .collect();
        assert_eq!(marked, vec!["v"]);
        let v = ch.cells.iter().find(|c| c.column == "v").expect("v");
        assert_eq!(
            (v.before.as_deref(), v.after.as_deref()),
            (Some("20"), Some("21"))
        );
        assert_eq!(
            k.only_before_sample,
            vec![vec![Some("3".into()), Some("30".into()), Some("o".into())]]
        );
        assert_eq!(
            k.only_after_sample,
            vec![vec![Some("4".into()), Some("40".into()), Some("n".into())]]
        );
    }

    #[test]
    fn a_key_column_missing_on_a_side_is_said() {
        let before_c = cols(&[("id", "bigint")]);
        let after_c = cols(&[("key", "bigint")]);
        let d = diff_in_memory(settings(Some(&["id"])), (&before_c, &[]), (&after_c, &[]));
        assert_eq!(d.keyed.map(|k| k.missing), Some(vec!["id".to_string()]));
    }

    #[test]
    fn duplicate_keys_are_counted_not_compared() {
        let c = cols(&[("id", "bigint"), ("v", "bigint")]);
        let before = [row(json!({"id": 1, "v": 1})), row(json!({"id": 1, "v": 2}))];
        let after = [row(json!({"id": 1, "v": 1})), row(json!({"id": 1, "v": 3}))];
        let d = diff_in_memory(settings(Some(&["id"])), (&c, &before), (&c, &after));
        let k = d.keyed.expect("keyed");
        assert_eq!((k.duplicate_before, k.duplicate_after), (1, 1));
        assert_eq!((k.only_before, k.only_after), (0, 0));
    }

    #[test]
    fn the_second_look_stops_once_the_samples_are_full() {
        let c = cols(&[("a", "bigint")]);
        let before: Vec<Row> = (0..100).map(|i| row(json!({"a": i}))).collect();
        let s = DiffSettings {
            sample_rows: 3,
            key: None,
        };
        let mut saved = SavedPass::new(s, c.clone(), c.clone());
        for r in &before {
            saved.row(r);
        }
        let mut look = saved.finish().finish();
        let mut read = 0;
        for r in &before {
            if !look.wants_more() {
                break;
            }
            look.row(r.clone());
            read += 1;
        }
        assert_eq!(read, 3);
        let d = look.finish();
        assert_eq!((d.removed, d.removed_sample.len()), (100, 3));
    }

    #[test]
    fn no_second_look_when_nothing_was_removed() {
        let c = cols(&[("a", "bigint")]);
        let mut saved = SavedPass::new(settings(None), c.clone(), c.clone());
        saved.row(&row(json!({"a": 1})));
        let mut p = saved.finish();
        p.row(row(json!({"a": 1})));
        p.row(row(json!({"a": 2})));
        assert!(!p.finish().wants_more());
    }

    fn naive_multiset(before: &[i64], after: &[i64]) -> (u64, u64) {
        let mut m: BTreeMap<i64, i64> = BTreeMap::new();
        for b in before {
            *m.entry(*b).or_default() += 1;
        }
        for a in after {
            *m.entry(*a).or_default() -= 1;
        }
        let removed = m.values().filter(|v| **v > 0).map(|v| *v as u64).sum();
        let added = m.values().filter(|v| **v < 0).map(|v| (-*v) as u64).sum();
        (removed, added)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The multiset difference equals a naive count, and the samples are rows that really are extra.
        #[test]
        fn multiset_difference_matches_a_naive_count(
            before in proptest::collection::vec(0i64..8, 0..40),
            after in proptest::collection::vec(0i64..8, 0..40),
            sample_rows in 0usize..5,
        ) {
            let c = cols(&[("a", "bigint")]);
            let b: Vec<Row> = before.iter().map(|i| row(json!({"a": i}))).collect();
            let a: Vec<Row> = after.iter().map(|i| row(json!({"a": i}))).collect();
            let s = DiffSettings { sample_rows, key: None };
            let d = diff_in_memory(s, (&c, &b), (&c, &a));
            let (removed, added) = naive_multiset(&before, &after);
            prop_assert_eq!((d.removed, d.added), (removed, added));
            prop_assert_eq!(d.removed_sample.len() as u64, removed.min(sample_rows as u64));
            prop_assert_eq!(d.added_sample.len() as u64, added.min(sample_rows as u64));
            let mut extra: BTreeMap<i64, i64> = BTreeMap::new();
            for x in &after { *extra.entry(*x).or_default() += 1; }
            for x in &before { *extra.entry(*x).or_default() -= 1; }
            for s in &d.added_sample {
                let v: i64 = s[0].as_deref().unwrap_or("").parse().unwrap_or(-1);
                prop_assert!(extra.get(&v).is_some_and(|n| *n > 0));
            }
            prop_assert_eq!(d.unchanged(), removed == 0 && added == 0);
        }

        /// Row order never changes the diff's counts.
        #[test]
        fn order_does_not_matter(
            rows in proptest::collection::vec((0i64..6, 0i64..3), 0..30),
            seed in any::<u64>(),
        ) {
            let c = cols(&[("k", "bigint"), ("v", "bigint")]);
            let b: Vec<Row> = rows.iter().map(|(k, v)| row(json!({"k": k, "v": v}))).collect();
            let mut a = b.clone();
            // A deterministic shuffle.
            let n = a.len();
            for i in 0..n {
                let j = (seed.wrapping_mul(i as u64 + 1).wrapping_add(7) % n as u64) as usize;
                a.swap(i, j);
            }
            let d = diff_in_memory(settings(Some(&["k"])), (&c, &b), (&c, &a));
            prop_assert!(d.unchanged());
            let k = d.keyed.expect("keyed");
            prop_assert_eq!(k.only_before + k.only_after, 0);
        }

        /// Keyed counts match a naive comparison (unique keys on each side).
        #[test]
        fn keyed_counts_match_a_naive_comparison(
            before in proptest::collection::btree_map(0i64..20, 0i64..3, 0..15),
            after in proptest::collection::btree_map(0i64..20, 0i64..3, 0..15),
        ) {
            let c = cols(&[("k", "bigint"), ("v", "bigint")]);
            let b: Vec<Row> = before.iter().map(|(k, v)| row(json!({"k": k, "v": v}))).collect();
            let a: Vec<Row> = after.iter().rev().map(|(k, v)| row(json!({"k": k, "v": v}))).collect();
            let d = diff_in_memory(settings(Some(&["k"])), (&c, &b), (&c, &a));
            let k = d.keyed.expect("keyed");
            let changed = before.iter().filter(|(k, v)| after.get(k).is_some_and(|w| w != *v)).count() as u64;
            let only_before = before.keys().filter(|k| !after.contains_key(k)).count() as u64;
            let only_after = after.keys().filter(|k| !before.contains_key(k)).count() as u64;
            prop_assert_eq!((k.changed, k.only_before, k.only_after), (changed, only_before, only_after));
            prop_assert_eq!(k.changed_sample.len() as u64, changed.min(10));
            for ch in &k.changed_sample {
                prop_assert_eq!(ch.cells.iter().filter(|c| c.changed).count(), 1);
                prop_assert!(ch.cells.iter().all(|c| c.changed == (c.column == "v")));
            }
        }
    }
}
