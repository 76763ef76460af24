//! Loading a scenario file and checking everything serde cannot: node kinds, ids, dependencies, cycles,
//! clock settings, faults. `check_graph` also checks the pipelines a client posts.

use std::collections::{HashMap, HashSet};

use anyhow::{Context as _, bail};

use crate::scenario::model::{NodeDef, Scenario};
use crate::scenario::time::parse_epoch;

impl Scenario {
    /// Parses a scenario from YAML or JSON (JSON is YAML) and validates it. Errors name the offending
    /// field, e.g. `queries[0].nodes[1].duraton: unknown field ...`.
    pub fn from_yaml_or_json(text: &str) -> anyhow::Result<Scenario> {
        // serde_yaml_ng errors already carry the path, e.g. `queries[0].nodes[0]: unknown field ...`.
        let scenario: Scenario =
            serde_yaml_ng::from_str(text).map_err(|e| anyhow::anyhow!("invalid scenario: {e}"))?;
        scenario.validate().context("invalid scenario")?;
        Ok(scenario)
    }

    /// Checks everything serde cannot: node kinds, ids, dependencies, cycles, clock settings, faults.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            bail!(
                "time_scale must be a positive number (got {})",
                self.time_scale
            );
        }
        if let Some(epoch) = &self.epoch {
            parse_epoch(epoch)?;
        }
        if self.max_page_rows == 0 {
            bail!("max_page_rows must be at least 1");
        }
        if let Some(key) = &self.api_key
            && key.is_empty()
        {
            bail!("api_key must not be empty (omit it to accept any key)");
        }
        let mut seen = HashSet::new();
        for (qi, q) in self.queries.iter().enumerate() {
            if !seen.insert(q.query_id) {
                bail!("queries[{qi}]: query_id {} is defined twice", q.query_id);
            }
            validate_nodes(&q.nodes)
                .with_context(|| format!("queries[{qi}] (query {})", q.query_id))?;
        }
        let mut latest = HashSet::new();
        for (li, l) in self.latest_results.iter().enumerate() {
            if !latest.insert(l.query_id) {
                bail!(
                    "latest_results[{li}]: query_id {} is listed twice",
                    l.query_id
                );
            }
            if l.columns == Some(0) {
                bail!("latest_results[{li}]: columns must be at least 1");
            }
        }
        let mut views = HashSet::new();
        for (vi, v) in self.materialized_views.iter().enumerate() {
            if v.name.trim().is_empty() {
                bail!("materialized_views[{vi}]: name must not be empty");
            }
            if !views.insert(v.name.to_ascii_lowercase()) {
                bail!("materialized_views[{vi}]: {} is listed twice", v.name);
            }
            if v.credits.is_some_and(|c| !c.is_finite() || c < 0.0) {
                bail!("materialized_views[{vi}]: credits must be a number of at least 0");
            }
        }
        for (fi, f) in self.faults.iter().enumerate() {
            if f.responses.is_empty() {
                bail!("faults[{fi}]: responses must not be empty");
            }
            for (ri, r) in f.responses.iter().enumerate() {
                r.kind()
                    .with_context(|| format!("faults[{fi}].responses[{ri}]"))?;
            }
        }
        Ok(())
    }
}

fn validate_nodes(nodes: &[NodeDef]) -> anyhow::Result<()> {
    if nodes.is_empty() {
        bail!("nodes must not be empty");
    }
    let mut ids = HashSet::new();
    for n in nodes {
        if !ids.insert(n.id) {
            bail!("duplicate node id {}", n.id);
        }
        match (&n.materialized_view, n.query_id) {
            (Some(_), Some(_)) => bail!(
                "node {}: set exactly one of materialized_view and query_id, not both",
                n.id
            ),
            (None, None) => bail!(
                "node {}: set exactly one of materialized_view and query_id",
                n.id
            ),
            (Some(name), None) if name.is_empty() => {
                bail!("node {}: materialized_view must not be empty", n.id)
            }
            _ => {}
        }
        if n.columns == Some(0) {
            bail!("node {}: columns must be at least 1", n.id);
        }
        if let Some(c) = n.credits
            && !(c.is_finite() && c >= 0.0)
        {
            bail!("node {}: credits must be a non-negative number", n.id);
        }
    }
    let edges: Vec<(u64, Vec<u64>)> = nodes
        .iter()
        .map(|n| (n.id, n.dependencies.clone()))
        .collect();
    check_graph(&edges)?;
    Ok(())
}

/// Checks dependencies exist and form no cycle; returns a topological order (indices into `nodes`).
pub(crate) fn check_graph(nodes: &[(u64, Vec<u64>)]) -> anyhow::Result<Vec<usize>> {
    let index: HashMap<u64, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let mut indegree = vec![0usize; nodes.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, (id, deps)) in nodes.iter().enumerate() {
        let mut unique = HashSet::new();
        for dep in deps {
            let Some(&d) = index.get(dep) else {
                bail!("node {id} depends on node {dep}, which does not exist");
            };
            if unique.insert(d) {
                indegree[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
    ready.reverse();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &j in &dependents[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(j);
            }
        }
    }
    if order.len() != nodes.len() {
        let mut cyclic: Vec<u64> = (0..nodes.len())
            .filter(|&i| indegree[i] > 0)
            .map(|i| nodes[i].0)
            .collect();
        cyclic.sort_unstable();
        let list: Vec<String> = cyclic.iter().map(u64::to_string).collect();
        bail!("dependency cycle among nodes {}", list.join(", "));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    #[test]
    fn parses_full_yaml() {
        let s = Scenario::from_yaml_or_json(
            r#"
api_key: sim-key
time_scale: 60
epoch: "2026-01-01T00:00:00Z"
status_style: query_state
status_names: {executing: running, blocked: skipped}
pipeline_status_names: {failed: executing}
pipeline_error: false
max_page_rows: 1000
queries:
  - query_id: 7
    nodes:
      - {id: 1, materialized_view: dune.a.mv, queue: 1s, duration: 20}
      - id: 2
        query_id: 7
        dependencies: [1]
        duration: 1m 30s
        outcome: failed
        error: boom
        error_line: 1
        error_column: 8
        credits: 12.5
        rows: 100
        status: weird_state
faults:
  - endpoint: pipeline_status
    after: 2
    responses:
      - status: 503
      - {status: 429, retry_after: "2"}
      - drop: true
      - delay: 5s
      - {status: 502, apply: true}
"#,
        )
        .unwrap();
        assert_eq!(s.time_scale, 60.0);
        assert_eq!(s.status_names.executing.as_deref(), Some("running"));
        let n2 = &s.queries[0].nodes[1];
        assert_eq!(n2.duration, Duration::from_secs(90));
        assert_eq!(s.queries[0].nodes[0].duration, Duration::from_secs(20));
        assert_eq!(s.faults[0].after, 2);
        assert_eq!(s.faults[0].responses[3].delay, Some(Duration::from_secs(5)));
    }

    #[test]
    fn errors_name_the_field() {
        let e = Scenario::from_yaml_or_json(
            "queries:\n  - query_id: 1\n    nodes:\n      - {id: 1, query_id: 1, duraton: 5s}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("queries[0].nodes[0]"), "{e}");
        assert!(e.contains("duraton"), "{e}");

        let e = Scenario::from_yaml_or_json(r#"{"time_scale": 2, "bogus": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");

        let e = format!(
            "{:#}",
            Scenario::from_yaml_or_json(
                "queries:\n  - query_id: 1\n    nodes:\n      - {id: 1, query_id: 1, dependencies: [2]}\n",
            )
            .unwrap_err()
        );
        assert!(e.contains("depends on node 2"), "{e}");

        let e = format!(
            "{:#}",
            Scenario::from_yaml_or_json(
                "faults:\n  - endpoint: any\n    responses:\n      - {status: 500, drop: true}\n"
            )
            .unwrap_err()
        );
        assert!(e.contains("faults[0].responses[0]"), "{e}");
    }

    #[test]
    fn readme_example_is_valid() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```yaml\n").unwrap() + "```yaml\n".len();
        let end = start + readme[start..].find("```").unwrap();
        let s = Scenario::from_yaml_or_json(&readme[start..end]).unwrap();
        assert_eq!(s.queries[0].nodes.len(), 3);
        assert_eq!(s.faults[0].responses.len(), 11);
        assert_eq!(s.latest_results[0].age, Duration::from_secs(600));
        assert_eq!(s.queries[0].nodes[1].columns, Some(4));
        assert!(s.faults[1].responses[0].apply);
    }

    #[test]
    fn detects_cycles() {
        let e = check_graph(&[(1, vec![2]), (2, vec![1]), (3, vec![])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cycle among nodes 1, 2"), "{e}");
        assert_eq!(
            check_graph(&[(2, vec![1]), (1, vec![])]).unwrap(),
            vec![1, 0]
        );
    }
}
