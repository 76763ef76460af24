//! The Mermaid `gantt` subset the summary's timeline keeps to (documented in `src/report/timeline.rs`): a
//! checker written apart from the code that draws the chart. Every line of a chart must be one of the
//! subset's constructs; the unit tests check each construct, the integration tests every chart drawn.

const HEADER: [&str; 4] = [
    "gantt",
    "  dateFormat YYYY-MM-DD HH:mm:ss",
    "  axisFormat %H:%M:%S",
    "  todayMarker off",
];
const KEYWORDS: [&str; 12] = [
    "gantt",
    "section",
    "title",
    "dateFormat",
    "axisFormat",
    "todayMarker",
    "excludes",
    "includes",
    "tickInterval",
    "weekday",
    "click",
    "accTitle",
];

fn date(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

pub fn section(line: &str) -> Result<(), String> {
    let name = line.strip_prefix("  section ").ok_or("not a section")?;
    if name.is_empty() || name.contains([':', '#', ';', '%']) {
        return Err(format!("bad section name {name:?}"));
    }
    Ok(())
}

pub fn task(line: &str) -> Result<(), String> {
    let body = line.strip_prefix("  ").ok_or("not indented")?;
    let (label, rest) = body.split_once(" :").ok_or("no ` :`")?;
    if label.is_empty()
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._/()-".contains(c))
    {
        return Err(format!("bad label {label:?}"));
    }
    let first = label.split(' ').next().unwrap_or_default();
    if KEYWORDS.contains(&first) {
        return Err(format!("label starts with a keyword: {label:?}"));
    }
    let parts: Vec<&str> = rest.split(", ").collect();
    let [tags @ .., id, start, end] = parts.as_slice() else {
        return Err("too few fields".into());
    };
    if tags.is_empty() || !tags.iter().all(|t| ["done", "active", "crit"].contains(t)) {
        return Err(format!("bad tags {tags:?}"));
    }
    let digits = id.strip_prefix("nm").or_else(|| id.strip_prefix('n'));
    if !digits.is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())) {
        return Err(format!("bad id {id:?}"));
    }
    if !date(start) || !date(end) || end < start {
        return Err(format!("bad times {start:?} {end:?}"));
    }
    Ok(())
}

pub fn check(chart: &str) -> Result<(), String> {
    let lines: Vec<&str> = chart.lines().collect();
    if lines.len() < HEADER.len() + 2 || lines[..HEADER.len()] != HEADER {
        return Err("bad header".into());
    }
    section(lines[HEADER.len()])?;
    for line in &lines[HEADER.len() + 1..] {
        task(line).map_err(|e| format!("{line:?}: {e}"))?;
    }
    Ok(())
}
