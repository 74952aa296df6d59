//! The dependency graph: modules as indices, cycles with their full path, start layers.
//!
//! Written out rather than taken from petgraph: the checker needs strongly
//! connected components (iterative Tarjan, so 5,000-module chains cannot
//! overflow the stack), one concrete cycle path per component, and Kahn layers
//! restricted to a stage. Each is a few dozen lines over one adjacency list.

use std::collections::{HashMap, VecDeque};

use crate::model::Registry;

/// Modules by index and, for each, the indices of the modules it depends on.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Module index by name (the first module of a name when names repeat).
    pub index: HashMap<String, usize>,
    /// `deps[i]` = `(j, k)`: module `i` depends on module `j` through its `k`-th dependency.
    pub deps: Vec<Vec<(usize, usize)>>,
}

impl Graph {
    /// Build the graph of `reg`; unknown dependencies are left out (reported elsewhere).
    pub fn new(reg: &Registry) -> Graph {
        let mut index = HashMap::with_capacity(reg.modules.len());
        for (i, m) in reg.modules.iter().enumerate() {
            index.entry(m.name.clone()).or_insert(i);
        }
        let deps = reg
            .modules
            .iter()
            .map(|m| {
                m.dependencies
                    .iter()
                    .enumerate()
                    .filter_map(|(k, d)| index.get(&d.name).map(|&j| (j, k)))
                    .collect()
            })
            .collect();
        Graph { index, deps }
    }

    /// Strongly connected components that contain a cycle (size > 1, or a self-loop).
    pub fn cyclic_components(&self) -> Vec<Vec<usize>> {
        let n = self.deps.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0usize; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<usize> = Vec::new();
        let mut next = 0usize;
        let mut out = Vec::new();
        // Explicit call stack of (node, next edge to look at).
        let mut calls: Vec<(usize, usize)> = Vec::new();
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            calls.push((root, 0));
            while let Some(top) = calls.len().checked_sub(1) {
                let (v, edge) = calls[top];
                if edge == 0 && index[v] == usize::MAX {
                    index[v] = next;
                    low[v] = next;
                    next += 1;
                    stack.push(v);
                    on_stack[v] = true;
                }
                if let Some(&(w, _)) = self.deps[v].get(edge) {
                    calls[top].1 += 1;
                    if index[w] == usize::MAX {
                        calls.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    let self_loop = self.deps[v].iter().any(|&(w, _)| w == v);
                    if comp.len() > 1 || self_loop {
                        comp.sort_unstable();
                        out.push(comp);
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// A shortest cycle through `start` inside `component`: `[start, …, start]`.
    pub fn cycle_through(&self, start: usize, component: &[usize]) -> Vec<usize> {
        let inside = |v: usize| component.binary_search(&v).is_ok();
        let mut prev: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(v) = queue.pop_front() {
            for &(w, _) in &self.deps[v] {
                if w == start {
                    let mut chain = vec![v];
                    let mut cur = v;
                    while cur != start {
                        match prev.get(&cur) {
                            Some(&p) => cur = p,
                            None => break,
                        }
                        chain.push(cur);
                    }
                    chain.reverse();
                    chain.push(start);
                    return chain;
                }
                if inside(w) && !prev.contains_key(&w) && w != start {
                    prev.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        vec![start, start]
    }

    /// Kahn layers of `members` using only edges between members: layer 0 has no
    /// dependency among them, layer k depends only on earlier layers. Members left
    /// in a cycle are returned last, in one layer.
    pub fn layers(&self, members: &[usize]) -> Vec<Vec<usize>> {
        let set: HashMap<usize, usize> = members.iter().enumerate().map(|(k, &v)| (v, k)).collect();
        let mut indegree = vec![0usize; members.len()];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); members.len()];
        for (k, &v) in members.iter().enumerate() {
            for &(w, _) in &self.deps[v] {
                if let Some(&kw) = set.get(&w)
                    && kw != k
                {
                    indegree[k] += 1;
                    dependents[kw].push(k);
                }
            }
        }
        let mut current: Vec<usize> = (0..members.len()).filter(|&k| indegree[k] == 0).collect();
        let mut done = vec![false; members.len()];
        let mut out = Vec::new();
        while !current.is_empty() {
            let mut next = Vec::new();
            for &k in &current {
                done[k] = true;
                for &d in &dependents[k] {
                    indegree[d] -= 1;
                    if indegree[d] == 0 {
                        next.push(d);
                    }
                }
            }
            out.push(current.iter().map(|&k| members[k]).collect());
            current = next;
        }
        let rest: Vec<usize> = (0..members.len())
            .filter(|&k| !done[k])
            .map(|k| members[k])
            .collect();
        if !rest.is_empty() {
            out.push(rest);
        }
        out
    }

    /// Module indices in an order where every module comes after its dependencies
    /// (modules in cycles come in file order after the rest).
    pub fn topological(&self) -> Vec<usize> {
        let all: Vec<usize> = (0..self.deps.len()).collect();
        self.layers(&all).into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[&[usize]]) -> Graph {
        Graph {
            index: HashMap::new(),
            deps: edges
                .iter()
                .map(|e| e.iter().map(|&j| (j, 0)).collect())
                .collect(),
        }
    }

    #[test]
    fn finds_cycles_and_their_paths() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3, 4 -> 0
        let g = graph(&[&[1], &[2], &[0], &[3], &[0]]);
        let comps = g.cyclic_components();
        assert_eq!(comps, vec![vec![0, 1, 2], vec![3]]);
        assert_eq!(g.cycle_through(0, &comps[0]), vec![0, 1, 2, 0]);
        assert_eq!(g.cycle_through(3, &comps[1]), vec![3, 3]);
    }

    #[test]
    fn layers_follow_dependencies() {
        // 2 depends on 0 and 1; 3 depends on 2.
        let g = graph(&[&[], &[], &[0, 1], &[2]]);
        assert_eq!(g.layers(&[0, 1, 2, 3]), vec![vec![0, 1], vec![2], vec![3]]);
        assert_eq!(g.layers(&[2, 3]), vec![vec![2], vec![3]]);
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let n = 100_000;
        let edges: Vec<Vec<(usize, usize)>> = (0..n)
            .map(|i| {
                if i + 1 < n {
                    vec![(i + 1, 0)]
                } else {
                    vec![(0, 0)]
                }
            })
            .collect();
        let g = Graph {
            index: HashMap::new(),
            deps: edges,
        };
        assert_eq!(g.cyclic_components()[0].len(), n);
    }
}
