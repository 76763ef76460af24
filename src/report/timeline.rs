//! The summary's timeline: a Mermaid `gantt` chart with one bar per node, from its start to its end (the
//! execution read's `started_at`/`ended_at`, else the clock times the action observed), marked by how it
//! ended; below it the critical path (the chain of dependencies that set the wall time) and the node that
//! waited longest for its inputs.
//!
//! ## The Mermaid subset written here
//! GitHub renders whatever Mermaid parses, so the chart keeps to a small subset, each construct checked by a
//! test against the checker in `crates/test-support/src/gantt_subset.rs` (written apart from this code):
//! - the header `gantt`, then `dateFormat YYYY-MM-DD HH:mm:ss`, `axisFormat %H:%M:%S` and
//!   `todayMarker off`;
//! - one `section Nodes`;
//! - tasks `<label> :<tags>, <id>, <start>, <end>`: the label only letters, digits, spaces and `._/()-`,
//!   starting with the node id (so never a keyword such as `section`); tags from `done`, `active`, `crit`;
//!   the id `n<digits>` or `nm<digits>`; start and end in the `dateFormat`.
//!
//! Times are offsets from 2000-01-01 00:00:00 written as local date-times: Mermaid reads and prints them in
//! the viewer's time zone, so the axis shows the time since the pipeline's first start (`00:02:10`) for
//! everyone, whatever their zone.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::short_duration;
use crate::outcome::Outcome;
use crate::pipeline::node::{Node, NodeStatus};

/// Larger pipelines get no timeline (like the DAG).
pub const MAX_NODES: usize = super::mermaid::MAX_NODES;

/// One node's bar: offsets from the first start.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar<'a> {
    pub node: &'a Node,
    pub start: Duration,
    pub end: Duration,
}

/// When a node ran, from the execution read (absolute) or as the action observed it (clock time since the
/// action started).
enum Span {
    Read(SystemTime, SystemTime),
    Observed(Duration, Duration),
}

fn parse_time(text: Option<&str>) -> Option<SystemTime> {
    let text = text?.trim();
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(text).ok())
}

fn span(n: &Node) -> Option<Span> {
    if let (Some(s), Some(e)) = (
        parse_time(n.started_at.as_deref()),
        parse_time(n.ended_at.as_deref()),
    ) && e >= s
    {
        return Some(Span::Read(s, e));
    }
    match (n.observed_started, n.observed_ended) {
        (Some(s), Some(e)) if e >= s => Some(Span::Observed(s, e)),
        _ => None,
    }
}

/// The bars of the nodes that ran, in order of start (then id). Read and observed times are put on one
/// axis through the nodes that have both (the action started no later than a read start minus the
/// observed start); without such a node, observed times count from the first read start.
pub fn bars(nodes: &[Node]) -> Vec<Bar<'_>> {
    let spans: Vec<(&Node, Span)> = nodes.iter().filter_map(|n| Some((n, span(n)?))).collect();
    let anchor = nodes
        .iter()
        .filter_map(|n| {
            let read = parse_time(n.started_at.as_deref())?;
            read.checked_sub(n.observed_started?)
        })
        .max()
        .or_else(|| {
            spans
                .iter()
                .filter_map(|(_, s)| match s {
                    Span::Read(start, _) => Some(*start),
                    Span::Observed(..) => None,
                })
                .min()
        });
    // Everything as a Duration since the anchor (or since the action's start without read times).
    let since = |t: SystemTime| {
        anchor
            .and_then(|a| t.duration_since(a).ok())
            .unwrap_or_default()
    };
    let absolute: Vec<(&Node, Duration, Duration)> = spans
        .into_iter()
        .map(|(n, s)| match s {
            Span::Read(a, b) => (n, since(a), since(b)),
            Span::Observed(a, b) => (n, a, b),
        })
        .collect();
    let first = absolute
        .iter()
        .map(|(_, s, _)| *s)
        .min()
        .unwrap_or_default();
    let mut bars: Vec<Bar<'_>> = absolute
        .into_iter()
        .map(|(node, s, e)| Bar {
            node,
            start: s - first,
            end: e - first,
        })
        .collect();
    bars.sort_by_key(|b| (b.start, b.node.id));
    bars
}

/// The chain of dependencies that set the wall time: from the bar that ended last, back through the
/// dependency that ended last, to a node with none. Listed first node first.
pub fn critical_path<'a>(bars: &[Bar<'a>]) -> Vec<&'a Node> {
    let latest = |candidates: &mut dyn Iterator<Item = &Bar<'a>>| {
        candidates
            .max_by_key(|b| (b.end, std::cmp::Reverse(b.node.id)))
            .map(|b| b.node)
    };
    let mut path = Vec::new();
    let mut at = latest(&mut bars.iter());
    while let Some(n) = at {
        if path.iter().any(|p: &&Node| p.id == n.id) {
            break;
        }
        path.push(n);
        let deps = n.dependencies.as_deref().unwrap_or_default();
        at = latest(&mut bars.iter().filter(|b| deps.contains(&b.node.id)));
    }
    path.reverse();
    path
}

/// The node that waited longest for its inputs: the time from the pipeline's first start until its last
/// input ended, that input, and the time it then took to start.
pub fn longest_wait<'a>(bars: &[Bar<'a>]) -> Option<(&'a Node, Duration, &'a Node, Duration)> {
    bars.iter()
        .filter_map(|b| {
            let deps = b.node.dependencies.as_deref().unwrap_or_default();
            let last = bars
                .iter()
                .filter(|d| deps.contains(&d.node.id))
                .max_by_key(|d| (d.end, std::cmp::Reverse(d.node.id)))?;
            Some((
                b.node,
                last.end,
                last.node,
                b.start.saturating_sub(last.end),
            ))
        })
        .max_by_key(|(n, wait, _, _)| (*wait, std::cmp::Reverse(n.id)))
}

/// A task label: the node id and what it does, kept to the characters the subset allows.
pub fn task_label(n: &Node) -> String {
    let text = format!("{} {} {}", n.id, n.label(), n.status.as_str());
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " ._/()-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    crate::runner::console::truncate_chars(&clean, 80)
}

/// The task tags of a node's final status.
fn tags(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Completed => "done",
        NodeStatus::Failed => "crit",
        NodeStatus::Cancelled | NodeStatus::Skipped => "crit, done",
        _ => "active",
    }
}

fn task_id(id: i64) -> String {
    if id < 0 {
        format!("nm{}", id.unsigned_abs())
    } else {
        format!("n{id}")
    }
}

/// `2000-01-01 HH:mm:ss` plus `offset` (whole seconds; days roll over into the date).
fn stamp(offset: Duration) -> String {
    let s = offset.as_secs();
    let (days, rest) = (s / 86_400, s % 86_400);
    // NOTE: a pipeline of more than 30 days is not drawn (see `gantt`), so the day stays in January.
    format!(
        "2000-01-{:02} {:02}:{:02}:{:02}",
        days + 1,
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

/// The `gantt` chart (the text inside the ```` ```mermaid ```` fence), or `None` without bars, above
/// [`MAX_NODES`] nodes, or for a pipeline that ran more than 30 days.
pub fn gantt(nodes: &[Node], bars: &[Bar<'_>]) -> Option<String> {
    if bars.is_empty()
        || nodes.len() > MAX_NODES
        || bars
            .iter()
            .any(|b| b.end > Duration::from_secs(30 * 86_400))
    {
        return None;
    }
    let mut out = String::from(
        "gantt\n  dateFormat YYYY-MM-DD HH:mm:ss\n  axisFormat %H:%M:%S\n  todayMarker off\n  section Nodes\n",
    );
    for b in bars {
        // A bar is at least a second long, so that it shows.
        let end = b.end.max(b.start + Duration::from_secs(1));
        let _ = writeln!(
            out,
            "  {} :{}, {}, {}, {}",
            task_label(b.node),
            tags(b.node.status),
            task_id(b.node.id),
            stamp(b.start),
            stamp(end)
        );
    }
    Some(out)
}

/// The summary's "Timeline" section; empty when no node has times or there are too many nodes.
pub fn summary_section(o: &Outcome) -> String {
    let nodes = &o.tracked.nodes;
    if nodes.len() > MAX_NODES {
        return String::new();
    }
    let bars = bars(nodes);
    let Some(chart) = gantt(nodes, &bars) else {
        return String::new();
    };
    let mut md = format!("### Timeline\n\n```mermaid\n{chart}```\n\n");
    // Without the definition, the dependencies (and so the critical path) are unknown.
    if nodes.iter().all(|n| n.dependencies.is_none()) {
        return md;
    }
    let path = critical_path(&bars);
    if !path.is_empty() {
        let ids: Vec<String> = path.iter().map(|n| n.id.to_string()).collect();
        let busy: Duration = path
            .iter()
            .filter_map(|n| bars.iter().find(|b| b.node.id == n.id))
            .map(|b| b.end - b.start)
            .sum();
        let span = bars.iter().map(|b| b.end).max().unwrap_or_default();
        let wall = o.wall_time.max(span);
        let _ = writeln!(
            md,
            "Critical path {}: {} of {}\n",
            ids.join(" → "),
            short_duration(busy),
            short_duration(wall)
        );
    }
    if let Some((n, wait, last, then)) = longest_wait(&bars) {
        let then = if then >= Duration::from_secs(1) {
            format!(" (then {} to start)", short_duration(then))
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "Waited longest for its inputs: node {}, {} until node {} ended{then}\n",
            n.id,
            short_duration(wait),
            last.id,
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::node::NodeKind;
    use crate::runner::testing::gantt_subset as subset;

    fn node(id: i64, deps: &[i64], start: &str, end: &str) -> Node {
        let mut n = Node::new(
            id,
            NodeKind::Query {
                query_id: Some(100 + id),
            },
        );
        n.dependencies = Some(deps.to_vec());
        n.status = NodeStatus::Completed;
        n.started_at = Some(format!("2026-01-01T00:{start}Z"));
        n.ended_at = Some(format!("2026-01-01T00:{end}Z"));
        n
    }

    /// 1 → {2, 3} → 4: node 2 is the slow branch.
    fn diamond() -> Vec<Node> {
        vec![
            node(1, &[], "00:00", "00:10"),
            node(2, &[1], "00:11", "00:41"),
            node(3, &[1], "00:11", "00:21"),
            node(4, &[2, 3], "00:43", "00:53"),
        ]
    }

    fn ids(path: &[&Node]) -> Vec<i64> {
        path.iter().map(|n| n.id).collect()
    }

    #[test]
    fn the_diamond_s_critical_path_is_its_slow_branch() {
        let nodes = diamond();
        let bars = bars(&nodes);
        assert_eq!(ids(&critical_path(&bars)), vec![1, 2, 4]);
        let (n, wait, last, then) = longest_wait(&bars).expect("a wait");
        assert_eq!((n.id, last.id), (4, 2));
        assert_eq!(wait, Duration::from_secs(41));
        assert_eq!(then, Duration::from_secs(2));
        // The other branch slow instead: the path follows it.
        let mut nodes = diamond();
        nodes[2].ended_at = Some("2026-01-01T00:00:42Z".into());
        assert_eq!(ids(&critical_path(&bars_of(&nodes))), vec![1, 3, 4]);
    }

    fn bars_of(nodes: &[Node]) -> Vec<Bar<'_>> {
        bars(nodes)
    }

    #[test]
    fn observed_times_stand_in_and_share_the_axis() {
        let mut nodes = diamond();
        // Node 3 was never read: the action saw it run from 12s to 23s after its start, and saw node 1
        // start 1s after it did.
        nodes[0].observed_started = Some(Duration::from_secs(1));
        nodes[2].started_at = None;
        nodes[2].ended_at = None;
        nodes[2].observed_started = Some(Duration::from_secs(12));
        nodes[2].observed_ended = Some(Duration::from_secs(23));
        let bars = bars(&nodes);
        let three = bars.iter().find(|b| b.node.id == 3).expect("bar");
        assert_eq!(
            (three.start, three.end),
            (Duration::from_secs(11), Duration::from_secs(22))
        );
        // Nothing read at all: observed times only.
        let mut only = Node::new(9, NodeKind::Query { query_id: Some(9) });
        only.observed_started = Some(Duration::from_secs(5));
        only.observed_ended = Some(Duration::from_secs(65));
        let nodes = [only];
        let bars = bars_of(&nodes);
        assert_eq!(
            (bars[0].start, bars[0].end),
            (Duration::ZERO, Duration::from_secs(60))
        );
        // A node that never ran has no bar.
        let pending = [Node::new(1, NodeKind::Query { query_id: None })];
        assert!(bars_of(&pending).is_empty());
    }

    #[test]
    fn the_chart_has_a_bar_per_node_marked_by_how_it_ended() {
        let mut nodes = diamond();
        nodes[1].status = NodeStatus::Failed;
        nodes[3].status = NodeStatus::Cancelled;
        let chart = gantt(&nodes, &bars(&nodes)).expect("chart");
        assert_eq!(
            chart,
            "gantt
  dateFormat YYYY-MM-DD HH:mm:ss
  axisFormat %H:%M:%S
  todayMarker off
  section Nodes
  1 query 101 completed :done, n1, 2000-01-01 00:00:00, 2000-01-01 00:00:10
  2 query 102 failed :crit, n2, 2000-01-01 00:00:11, 2000-01-01 00:00:41
  3 query 103 completed :done, n3, 2000-01-01 00:00:11, 2000-01-01 00:00:21
  4 query 104 cancelled :crit, done, n4, 2000-01-01 00:00:43, 2000-01-01 00:00:53
"
        );
        subset::check(&chart).expect("in the subset");
    }

    #[test]
    fn left_out_above_200_nodes() {
        let many: Vec<Node> = (1..=201).map(|i| node(i, &[], "00:00", "00:01")).collect();
        assert!(gantt(&many, &bars(&many)).is_none());
        assert!(gantt(&many[..200], &bars(&many[..200])).is_some());
    }

    #[test]
    fn labels_keep_to_the_subset() {
        let mut n = Node::new(
            -3,
            NodeKind::MaterializedView {
                name: Some("dune.x:y;z#1%%\"]\n section evil".into()),
            },
        );
        n.status = NodeStatus::Completed;
        let label = task_label(&n);
        assert_eq!(label, "-3 view dune.x_y_z_1_____ section evil completed");
        subset::task(&format!(
            "  {label} :done, nm3, 2000-01-01 00:00:00, 2000-01-01 00:00:01"
        ))
        .expect("a task");
        assert_eq!(
            stamp(Duration::from_secs(86_400 + 3_725)),
            "2000-01-02 01:02:05"
        );
    }

    #[test]
    fn subset_header() {
        assert!(subset::check("gantt\n  section Nodes\n").is_err());
        assert!(subset::check("graph\n  dateFormat YYYY-MM-DD HH:mm:ss\n  axisFormat %H:%M:%S\n  todayMarker off\n  section Nodes\n  1 x :done, n1, 2000-01-01 00:00:00, 2000-01-01 00:00:01\n").is_err());
    }

    #[test]
    fn subset_section() {
        assert!(subset::section("  section Nodes").is_ok());
        assert!(subset::section("  section a:b").is_err());
        assert!(subset::section("  sections").is_err());
    }

    #[test]
    fn subset_task() {
        let ok = "  1 query 5 completed :done, n1, 2000-01-01 00:00:00, 2000-01-01 00:00:10";
        assert!(subset::task(ok).is_ok());
        for bad in [
            "  1 query: 5 :done, n1, 2000-01-01 00:00:00, 2000-01-01 00:00:10",
            "  1 #5 :done, n1, 2000-01-01 00:00:00, 2000-01-01 00:00:10",
            "  section x :done, n1, 2000-01-01 00:00:00, 2000-01-01 00:00:10",
            "  1 q :milestone, n1, 2000-01-01 00:00:00, 2000-01-01 00:00:10",
            "  1 q :done, 1n, 2000-01-01 00:00:00, 2000-01-01 00:00:10",
            "  1 q :done, n1, 2000-01-01 00:00, 2000-01-01 00:00:10",
            "  1 q :done, n1, 2000-01-01 00:00:10, 2000-01-01 00:00:00",
            "  1 q :n1, 2000-01-01 00:00:00, 2000-01-01 00:00:10",
        ] {
            assert!(subset::task(bad).is_err(), "{bad}");
        }
    }
}
