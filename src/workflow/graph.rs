//! The work-package dependency graph: `{"WP02": ["WP01"], …}` maps each WP to the WPs it depends on (edges
//! point at dependencies, as upstream's `core/dependency_graph.py`). Used by finalize-tasks (validation), move-task
//! (dependents), implement and the orchestrator (order, readiness).
//!
//! A `BTreeMap` makes every traversal deterministic: upstream iterated dicts in insertion order, which is the
//! order of `tasks.md` sections or of the `tasks/` glob; ours is id order, which is the same for `WP01…WP99`.

use std::collections::{BTreeMap, BTreeSet};

use super::tasks_md::is_wp_id;

/// WP id → the WP ids it depends on.
pub type DependencyGraph = BTreeMap<String, Vec<String>>;

/// Why the graph has no valid order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("{}", cycles_message(.cycles))]
    Cycle { cycles: Vec<Vec<String>> },
    /// Upstream's `topological_sort` reported this as a cycle; it is a missing work package.
    #[error("{wp} depends on {dependency}, which is not a work package of this feature")]
    UnknownDependency { wp: String, dependency: String },
}

/// One problem with a WP's declared dependencies; `Display` is upstream's message, word for word, since
/// finalize-tasks prints these in its JSON `errors`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyIssue {
    #[error("Invalid WP ID format: {0} (must be WP## like WP01)")]
    InvalidFormat(String),
    #[error("Cannot depend on self: {0} → {0}")]
    SelfDependency(String),
    #[error("Dependency {0} not found in graph")]
    NotFound(String),
    #[error("Circular dependency detected: {}", .0.join(" → "))]
    Circular(Vec<String>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Colour {
    /// Not visited yet.
    White,
    /// On the current DFS path.
    Grey,
    /// Finished.
    Black,
}

/// Every back edge found by a depth-first search (three colours, roots and neighbours in graph order), each as
/// the path from the repeated node back to itself: `[["WP01", "WP02", "WP01"]]`. Empty when acyclic.
/// Dependencies that are not keys of the graph are leaves. Iterative, so deep chains cannot overflow the stack.
pub fn detect_cycles(graph: &DependencyGraph) -> Vec<Vec<String>> {
    let mut colour: BTreeMap<&str, Colour> = BTreeMap::new();
    let mut cycles = Vec::new();
    for root in graph.keys() {
        if colour.get(root.as_str()).copied().unwrap_or(Colour::White) == Colour::White {
            visit_from(graph, root, &mut colour, &mut cycles);
        }
    }
    cycles
}

fn visit_from<'g>(
    graph: &'g DependencyGraph,
    root: &'g str,
    colour: &mut BTreeMap<&'g str, Colour>,
    cycles: &mut Vec<Vec<String>>,
) {
    // `path` is the chain of grey nodes; `next` holds, per path entry, the index of its next neighbour.
    let mut path: Vec<&str> = vec![root];
    let mut next: Vec<usize> = vec![0];
    colour.insert(root, Colour::Grey);
    while let (Some(&node), Some(index)) = (path.last(), next.last_mut()) {
        let neighbours = graph.get(node).map_or(&[][..], Vec::as_slice);
        let Some(neighbour) = neighbours.get(*index).map(String::as_str) else {
            colour.insert(node, Colour::Black);
            path.pop();
            next.pop();
            continue;
        };
        *index += 1;
        match colour.get(neighbour).copied().unwrap_or(Colour::White) {
            Colour::Grey => {
                // Grey means "on the path", so the position always exists.
                if let Some(start) = path.iter().position(|&n| n == neighbour) {
                    let mut cycle: Vec<String> = path[start..].iter().map(|n| n.to_string()).collect();
                    cycle.push(neighbour.to_string());
                    cycles.push(cycle);
                }
            }
            Colour::White => {
                colour.insert(neighbour, Colour::Grey);
                path.push(neighbour);
                next.push(0);
            }
            Colour::Black => {}
        }
    }
}

/// Upstream's finalize-tasks error text: `Circular dependencies detected: [['WP01', 'WP02', 'WP01']]` (the
/// cycles in Python `repr`).
pub fn cycles_message(cycles: &[Vec<String>]) -> String {
    let cycles: Vec<String> = cycles
        .iter()
        .map(|cycle| format!("[{}]", cycle.iter().map(|wp| python_str_repr(wp)).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("Circular dependencies detected: [{}]", cycles.join(", "))
}

/// `repr()` of a Python str for the characters WP ids can hold (single quotes, backslash escapes).
fn python_str_repr(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Problems with `wp` declaring `deps` within `graph`, in upstream's order: per dependency the first of
/// format / self / existence, then the first cycle through `wp` once `wp`'s entry is replaced by `deps`.
/// A self-dependency is therefore reported twice (self, then the `wp → wp` cycle), as upstream does.
pub fn dependency_issues(wp: &str, deps: &[String], graph: &DependencyGraph) -> Vec<DependencyIssue> {
    let mut issues: Vec<DependencyIssue> = deps
        .iter()
        .filter_map(|dep| {
            if !is_wp_id(dep) {
                Some(DependencyIssue::InvalidFormat(dep.clone()))
            } else if dep == wp {
                Some(DependencyIssue::SelfDependency(wp.to_string()))
            } else if !graph.contains_key(dep) {
                Some(DependencyIssue::NotFound(dep.clone()))
            } else {
                None
            }
        })
        .collect();
    let mut candidate = graph.clone();
    candidate.insert(wp.to_string(), deps.to_vec());
    if let Some(cycle) = detect_cycles(&candidate).into_iter().find(|c| c.iter().any(|n| n == wp)) {
        issues.push(DependencyIssue::Circular(cycle));
    }
    issues
}

/// [`dependency_issues`] as upstream's `validate_dependencies` error strings (empty = valid).
pub fn validate_dependencies(wp: &str, deps: &[String], graph: &DependencyGraph) -> Vec<String> {
    dependency_issues(wp, deps, graph).iter().map(ToString::to_string).collect()
}

/// Dependencies before dependents (Kahn's algorithm); among WPs ready at the same time, the smallest id first,
/// as upstream's `topological_sort` (which re-sorted its queue after every step).
pub fn topological_order(graph: &DependencyGraph) -> Result<Vec<String>, GraphError> {
    if let Some((wp, dependency)) = first_unknown_dependency(graph) {
        return Err(GraphError::UnknownDependency { wp: wp.to_string(), dependency: dependency.to_string() });
    }
    // Distinct dependencies still unfinished per WP, and the reverse edges to update when a WP finishes.
    let mut unfinished: BTreeMap<&str, BTreeSet<&str>> =
        graph.iter().map(|(wp, deps)| (wp.as_str(), deps.iter().map(String::as_str).collect())).collect();
    let mut dependents_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (wp, deps) in &unfinished {
        for dep in deps {
            dependents_of.entry(dep).or_default().push(wp);
        }
    }
    let mut ready: BTreeSet<&str> = unfinished.iter().filter(|(_, deps)| deps.is_empty()).map(|(wp, _)| *wp).collect();
    let mut order = Vec::with_capacity(graph.len());
    while let Some(wp) = ready.pop_first() {
        order.push(wp.to_string());
        for dependent in dependents_of.get(wp).into_iter().flatten() {
            if let Some(deps) = unfinished.get_mut(dependent)
                && deps.remove(wp)
                && deps.is_empty()
            {
                ready.insert(dependent);
            }
        }
    }
    if order.len() == graph.len() { Ok(order) } else { Err(GraphError::Cycle { cycles: detect_cycles(graph) }) }
}

fn first_unknown_dependency(graph: &DependencyGraph) -> Option<(&str, &str)> {
    graph.iter().find_map(|(wp, deps)| deps.iter().find(|d| !graph.contains_key(*d)).map(|d| (wp.as_str(), d.as_str())))
}

/// WPs that list `wp` as a direct dependency, sorted (move-task's dependency alert, DependencyResolved).
pub fn dependents(graph: &DependencyGraph, wp: &str) -> Vec<String> {
    graph.iter().filter(|(_, deps)| deps.iter().any(|d| d == wp)).map(|(id, _)| id.clone()).collect()
}

/// WPs not yet done whose dependencies are all done, sorted. Ready WPs never depend on one another, so this is
/// also a topological order of them. A dependency missing from the graph is never done, so it blocks.
pub fn ready(graph: &DependencyGraph, done: &BTreeSet<String>) -> Vec<String> {
    graph
        .iter()
        .filter(|(wp, deps)| !done.contains(*wp) && deps.iter().all(|d| done.contains(d)))
        .map(|(wp, _)| wp.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> DependencyGraph {
        edges.iter().map(|(wp, deps)| (wp.to_string(), deps.iter().map(|d| d.to_string()).collect())).collect()
    }

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn acyclic_graphs_have_no_cycles() {
        let g = graph(&[("WP01", &[]), ("WP02", &["WP01"]), ("WP03", &["WP01", "WP02"])]);
        assert!(detect_cycles(&g).is_empty());
        assert!(detect_cycles(&DependencyGraph::new()).is_empty());
    }

    #[test]
    fn cycles_are_reported_from_the_repeated_node_back_to_itself() {
        let two = graph(&[("WP01", &["WP02"]), ("WP02", &["WP01"])]);
        assert_eq!(detect_cycles(&two), [strings(&["WP01", "WP02", "WP01"])]);
        let self_loop = graph(&[("WP01", &["WP01"])]);
        assert_eq!(detect_cycles(&self_loop), [strings(&["WP01", "WP01"])]);
        let three = graph(&[("WP01", &["WP02"]), ("WP02", &["WP03"]), ("WP03", &["WP01"]), ("WP04", &["WP03"])]);
        assert_eq!(detect_cycles(&three), [strings(&["WP01", "WP02", "WP03", "WP01"])]);
    }

    #[test]
    fn disjoint_cycles_come_in_id_order() {
        let g = graph(&[("WP05", &["WP06"]), ("WP06", &["WP05"]), ("WP01", &["WP02"]), ("WP02", &["WP01"])]);
        assert_eq!(detect_cycles(&g), [strings(&["WP01", "WP02", "WP01"]), strings(&["WP05", "WP06", "WP05"])]);
    }

    #[test]
    fn unknown_dependencies_are_leaves_for_cycle_detection() {
        let g = graph(&[("WP02", &["WP09"]), ("WP03", &["WP09", "WP02"])]);
        assert!(detect_cycles(&g).is_empty());
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let g: DependencyGraph = (0..200_000).map(|i| (format!("N{i:06}"), vec![format!("N{:06}", i + 1)])).collect();
        assert!(detect_cycles(&g).is_empty());
    }

    #[test]
    fn validation_messages_are_upstreams() {
        let g = graph(&[("WP01", &[]), ("WP02", &["WP01"])]);
        assert!(validate_dependencies("WP02", &strings(&["WP01"]), &g).is_empty());
        assert_eq!(
            validate_dependencies("WP02", &strings(&["WP1", "WP99"]), &g),
            ["Invalid WP ID format: WP1 (must be WP## like WP01)", "Dependency WP99 not found in graph"]
        );
        assert_eq!(
            validate_dependencies("WP02", &strings(&["WP02"]), &g),
            ["Cannot depend on self: WP02 → WP02", "Circular dependency detected: WP02 → WP02"]
        );
        assert_eq!(
            validate_dependencies("WP01", &strings(&["WP02"]), &g),
            ["Circular dependency detected: WP01 → WP02 → WP01"]
        );
    }

    #[test]
    fn only_cycles_through_the_validated_wp_are_reported() {
        let g = graph(&[("WP01", &[]), ("WP05", &["WP06"]), ("WP06", &["WP05"]), ("WP02", &["WP01"])]);
        assert!(validate_dependencies("WP02", &strings(&["WP01"]), &g).is_empty());
    }

    #[test]
    fn typed_issues_match_their_messages() {
        let g = graph(&[("WP01", &[])]);
        let issues = dependency_issues("WP01", &strings(&["WP07"]), &g);
        assert_eq!(issues, [DependencyIssue::NotFound("WP07".into())]);
    }

    #[test]
    fn topological_order_breaks_ties_by_id() {
        let diamond = graph(&[("WP04", &["WP02", "WP03"]), ("WP03", &["WP01"]), ("WP02", &["WP01"]), ("WP01", &[])]);
        assert_eq!(topological_order(&diamond).unwrap(), ["WP01", "WP02", "WP03", "WP04"]);
        let wide = graph(&[("WP03", &[]), ("WP02", &["WP03"]), ("WP01", &[])]);
        assert_eq!(topological_order(&wide).unwrap(), ["WP01", "WP03", "WP02"]);
        let repeated = graph(&[("WP01", &[]), ("WP02", &["WP01", "WP01"])]);
        assert_eq!(topological_order(&repeated).unwrap(), ["WP01", "WP02"]);
        assert_eq!(topological_order(&DependencyGraph::new()).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn topological_order_refuses_cycles_and_unknown_dependencies() {
        let cyclic = graph(&[("WP01", &[]), ("WP02", &["WP03"]), ("WP03", &["WP02"])]);
        let err = topological_order(&cyclic).unwrap_err();
        assert_eq!(err, GraphError::Cycle { cycles: vec![strings(&["WP02", "WP03", "WP02"])] });
        assert_eq!(err.to_string(), "Circular dependencies detected: [['WP02', 'WP03', 'WP02']]");
        let missing = graph(&[("WP01", &[]), ("WP02", &["WP07"])]);
        let err = topological_order(&missing).unwrap_err();
        assert_eq!(err, GraphError::UnknownDependency { wp: "WP02".into(), dependency: "WP07".into() });
        assert_eq!(err.to_string(), "WP02 depends on WP07, which is not a work package of this feature");
    }

    #[test]
    fn cycles_message_is_python_repr() {
        assert_eq!(cycles_message(&[]), "Circular dependencies detected: []");
        let cycles = vec![strings(&["WP01", "WP01"]), strings(&["a'b", "WP02"])];
        assert_eq!(cycles_message(&cycles), r"Circular dependencies detected: [['WP01', 'WP01'], ['a\'b', 'WP02']]");
    }

    #[test]
    fn dependents_are_direct_and_sorted() {
        let g = graph(&[("WP01", &[]), ("WP03", &["WP01"]), ("WP02", &["WP01", "WP01"]), ("WP04", &["WP02"])]);
        assert_eq!(dependents(&g, "WP01"), ["WP02", "WP03"]);
        assert_eq!(dependents(&g, "WP04"), Vec::<String>::new());
        assert_eq!(dependents(&g, "WP09"), Vec::<String>::new());
    }

    #[test]
    fn ready_wps_have_all_dependencies_done() {
        let g = graph(&[("WP01", &[]), ("WP02", &["WP01"]), ("WP03", &["WP01", "WP02"]), ("WP04", &["WP08"])]);
        let done = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(ready(&g, &done(&[])), ["WP01"]);
        assert_eq!(ready(&g, &done(&["WP01"])), ["WP02"]);
        assert_eq!(ready(&g, &done(&["WP01", "WP02"])), ["WP03"]);
        assert_eq!(ready(&g, &done(&["WP01", "WP02", "WP03"])), Vec::<String>::new(), "WP04 waits on a missing WP");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn small_graph() -> impl Strategy<Value = DependencyGraph> {
            let ids = (1..=8u8).map(|i| format!("WP{i:02}")).collect::<Vec<_>>();
            let deps = prop::collection::vec(prop::sample::select(ids.clone()), 0..4);
            prop::collection::btree_map(prop::sample::select(ids), deps, 0..8).prop_map(|mut g| {
                // Keep every dependency inside the graph so order and cycles are the only question.
                let keys: BTreeSet<String> = g.keys().cloned().collect();
                g.values_mut().for_each(|d| d.retain(|id| keys.contains(id)));
                g
            })
        }

        proptest! {
            #[test]
            fn order_exists_exactly_when_there_is_no_cycle(g in small_graph()) {
                let cycles = detect_cycles(&g);
                match topological_order(&g) {
                    Ok(order) => {
                        prop_assert!(cycles.is_empty());
                        let position: BTreeMap<&str, usize> =
                            order.iter().enumerate().map(|(i, wp)| (wp.as_str(), i)).collect();
                        prop_assert_eq!(position.len(), g.len());
                        for (wp, deps) in &g {
                            prop_assert!(deps.iter().all(|d| position[d.as_str()] < position[wp.as_str()]));
                        }
                    }
                    Err(GraphError::Cycle { cycles: reported }) => {
                        prop_assert!(!cycles.is_empty());
                        prop_assert_eq!(reported, cycles.clone());
                        for cycle in &cycles {
                            prop_assert_eq!(cycle.first(), cycle.last());
                            for pair in cycle.windows(2) {
                                prop_assert!(g[&pair[0]].contains(&pair[1]), "{:?} is not an edge", pair);
                            }
                        }
                    }
                    Err(other) => prop_assert!(false, "unexpected {other}"),
                }
            }
        }
    }
}
