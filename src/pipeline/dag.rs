//! The tracked pipeline in dependency order, for tables, logs and diagrams.

use dune_api::graph::{Edge, dependency_order};

use super::node::Node;

/// Tracked nodes in dependency order (stable: the listed order wherever dependencies allow it).
pub fn nodes_in_order(nodes: &[Node]) -> Vec<&Node> {
    let graph: Vec<Edge<'_>> = nodes
        .iter()
        .map(|n| (n.id, n.dependencies.as_deref().unwrap_or_default()))
        .collect();
    dependency_order(&graph)
        .into_iter()
        .map(|i| &nodes[i])
        .collect()
}
