//! CSV pages as Dune's `/results/csv` serves them: every page starts with the header row. Records are
//! found with the quoting rules of RFC 4180, so a quoted value with a line break in it is one row.

/// A page split into its header record and its data records.
#[derive(Debug, PartialEq, Eq)]
pub struct CsvPage<'a> {
    /// The header record, with its line break.
    pub header: &'a [u8],
    /// The data records (each ending with a line break, the last one possibly without).
    pub records: &'a [u8],
    /// How many data records.
    pub rows: u64,
}

/// Ends of records in `data`: the index just past each line break outside quotes, and the end of `data`
/// when its last record has no line break.
fn record_ends(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut quoted = false;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < data.len() {
            let b = data[i];
            i += 1;
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => return Some(i),
                _ => {}
            }
        }
        if i == data.len() {
            i += 1;
            // A last record without a line break (ignore a stray `\r` or nothing at all).
            let tail_start = data[..data.len()]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1);
            if data[tail_start..].iter().any(|b| *b != b'\r') {
                return Some(data.len());
            }
        }
        None
    })
}

/// Splits a page. An empty body is an empty page with no header.
pub fn split(body: &[u8]) -> CsvPage<'_> {
    let mut ends = record_ends(body);
    let Some(header_end) = ends.next() else {
        return CsvPage {
            header: &[],
            records: &[],
            rows: 0,
        };
    };
    let rows = ends.count() as u64;
    CsvPage {
        header: &body[..header_end],
        records: &body[header_end..],
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_rows() {
        let p = split(b"a,b\n1,2\n3,4\n");
        assert_eq!(p.header, b"a,b\n");
        assert_eq!(p.records, b"1,2\n3,4\n");
        assert_eq!(p.rows, 2);
    }

    #[test]
    fn quoted_line_breaks_and_missing_final_newline() {
        let p = split(b"a,\"b\nc\"\r\n\"x\ny\",\"say \"\"hi\"\"\"\r\nlast,1");
        assert_eq!(p.header, b"a,\"b\nc\"\r\n");
        assert_eq!(p.rows, 2);
        assert_eq!(split(b"a\n").rows, 0);
        assert_eq!(split(b"a").header, b"a");
        assert_eq!(split(b"").rows, 0);
        assert_eq!(split(b"a\n1\n\r").rows, 1);
    }
}
