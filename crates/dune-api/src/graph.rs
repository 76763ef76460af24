//! A pipeline definition as a graph of node ids and their dependencies: a stable dependency order (for tables and
//! logs) and the cycles that make a definition impossible to run (for validation messages).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

/// One node of a graph: its id and the ids it depends on.
pub type Edge<'a> = (i64, &'a [i64]);

/// For each node, the positions of its known dependencies (the first node with an id wins; dependencies
/// on unknown ids and repeated dependencies are left out).
fn dependency_positions(graph: &[Edge<'_>]) -> Vec<Vec<usize>> {
    let mut index: HashMap<i64, usize> = HashMap::with_capacity(graph.len());
    for (i, (id, _)) in graph.iter().enumerate() {
        index.entry(*id).or_insert(i);
    }
    graph
        .iter()
        .map(|(_, deps)| {
            let set: BTreeSet<usize> = deps.iter().filter_map(|d| index.get(d).copied()).collect();
            set.into_iter().collect()
        })
        .collect()
}

/// Kahn's algorithm over dependency positions: the nodes it can place, dependencies first, the earliest
/// listed first among those ready. Nodes in or behind a cycle are left out.
fn placeable(deps: &[Vec<usize>]) -> Vec<usize> {
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); deps.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..deps.len())
        .filter(|&i| waiting[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    order
}

/// Positions in `graph` such that every node comes after its dependencies; among the nodes that are ready,
/// the one listed first goes first, so an already ordered list keeps its order. Nodes that can never be
/// ready (in or behind a cycle) follow at the end, in list order.
pub fn dependency_order(graph: &[Edge<'_>]) -> Vec<usize> {
    let mut order = placeable(&dependency_positions(graph));
    if order.len() < graph.len() {
        let placed: BTreeSet<usize> = order.iter().copied().collect();
        order.extend((0..graph.len()).filter(|i| !placed.contains(i)));
    }
    order
}

/// The dependency cycles in `graph`, each as node ids in which every node depends on the next and the last
/// on the first (`[3]` is a node that depends on itself). Each cycle is reported once; a node is in at most
/// one reported cycle.
pub fn cycles(graph: &[Edge<'_>]) -> Vec<Vec<i64>> {
    let deps = dependency_positions(graph);
    // What Kahn's algorithm cannot place is in a cycle or behind one; each such node has at least one
    // dependency that cannot be placed either, so following those always comes back round.
    let mut stuck = vec![true; graph.len()];
    for i in placeable(&deps) {
        stuck[i] = false;
    }
    let mut in_reported = vec![false; graph.len()];
    let mut found = Vec::new();
    for start in 0..graph.len() {
        if !stuck[start] || in_reported[start] {
            continue;
        }
        let mut path: Vec<usize> = Vec::new();
        let mut at = start;
        let cycle = loop {
            if let Some(pos) = path.iter().position(|&p| p == at) {
                break path.split_off(pos);
            }
            path.push(at);
            match deps[at].iter().find(|&&d| stuck[d]) {
                Some(&next) => at = next,
                None => break Vec::new(),
            }
        };
        if cycle.is_empty() || cycle.iter().any(|&i| in_reported[i]) {
            continue;
        }
        for &i in &cycle {
            in_reported[i] = true;
        }
        found.push(cycle.into_iter().map(|i| graph[i].0).collect());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(i64, Vec<i64>)]) -> Vec<(i64, Vec<i64>)> {
        edges.to_vec()
    }

    fn edges(g: &[(i64, Vec<i64>)]) -> Vec<Edge<'_>> {
        g.iter().map(|(id, d)| (*id, d.as_slice())).collect()
    }

    #[test]
    fn order_puts_dependencies_first_and_is_stable() {
        let g = graph(&[
            (3, vec![2]),
            (1, vec![]),
            (2, vec![1]),
            (4, vec![]),
            (5, vec![1, 4]),
        ]);
        let ids: Vec<i64> = dependency_order(&edges(&g))
            .into_iter()
            .map(|i| g[i].0)
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        let sorted = graph(&[(1, vec![]), (2, vec![1]), (3, vec![2])]);
        assert_eq!(dependency_order(&edges(&sorted)), vec![0, 1, 2]);
    }

    #[test]
    fn order_keeps_every_node_even_with_a_cycle() {
        let g = graph(&[(1, vec![2]), (2, vec![1]), (3, vec![]), (4, vec![9])]);
        let order = dependency_order(&edges(&g));
        assert_eq!(order, vec![2, 3, 0, 1]);
    }

    #[test]
    fn cycles_are_named_once() {
        let g = graph(&[
            (1, vec![]),
            (2, vec![4]),
            (3, vec![2]),
            (4, vec![3]),
            (5, vec![4]),
            (6, vec![6]),
        ]);
        assert_eq!(cycles(&edges(&g)), vec![vec![2, 4, 3], vec![6]]);
        let ok = graph(&[(1, vec![]), (2, vec![1]), (3, vec![1, 2])]);
        assert!(cycles(&edges(&ok)).is_empty());
    }
}
