//! Aggregation operators (`sum by (…)`, `topk`, …) and `histogram_quantile`,
//! computed per step in input order, as Prometheus 2.x does, so ties and NaN
//! handling come out the same.

use std::cmp::Ordering;
use std::collections::HashMap;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV,
    T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use crate::error::{QueryError, exec};
use crate::eval::{self, Ctx, Grid, OutBuilder, Series, Val};
use crate::gomath::format_float;
use crate::labels::{self, Labels};
use crate::rangefns::quantile;

/// Aggregation operators this engine evaluates.
pub(crate) const NAMES: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];

/// Running state of one group at one step (Prometheus' `groupedAggregation`).
#[derive(Clone, Default)]
struct Acc {
    value: f64,
    mean: f64,
    count: f64,
    /// (value, input series) for topk/bottomk/quantile.
    heap: Vec<(f64, usize)>,
    seen: bool,
}

/// Evaluate an aggregation over `grid`.
pub(crate) fn eval(ctx: &Ctx, a: &AggregateExpr, grid: Grid) -> Result<Val, QueryError> {
    let op = a.op.id();
    let (without, mut grouping) = match &a.modifier {
        None => (false, Vec::new()),
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
    };
    grouping.sort();
    if op == T_COUNT_VALUES {
        let label = match &a.param {
            Some(p) => eval::string_arg(p)?,
            None => {
                return Err(QueryError::BadData(
                    "count_values needs a label name".into(),
                ));
            }
        };
        let input = eval::eval_vector(ctx, &a.expr, grid)?;
        return count_values(&input, &label, without, &grouping, grid).map(Val::Vector);
    }
    let param = match (&a.param, op) {
        (Some(p), T_TOPK | T_BOTTOMK | T_QUANTILE) => Some(eval::eval_scalar(ctx, p, grid)?),
        _ => None,
    };
    let input = eval::eval_vector(ctx, &a.expr, grid)?;

    // Labels do not change across steps, so groups are found once.
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut group_labels: Vec<Labels> = Vec::new();
    let mut group_of = Vec::with_capacity(input.len());
    let mut drop: Vec<String> = grouping.clone();
    drop.push(labels::NAME.to_string());
    for s in &input {
        let key = labels::grouping_key(&s.labels, without, &grouping);
        let g = *index.entry(key).or_insert_with(|| {
            group_labels.push(if without {
                labels::remove(&s.labels, &drop)
            } else {
                labels::keep(&s.labels, &grouping)
            });
            group_labels.len() - 1
        });
        group_of.push(g);
    }
    let ng = group_labels.len();

    if op == T_TOPK || op == T_BOTTOMK {
        let k = param.unwrap_or_else(|| vec![0.0; grid.n]);
        return top_bottom(ctx, &input, &group_of, ng, &k, op == T_TOPK, grid).map(Val::Vector);
    }

    ctx.check_cells(ng, grid.n)?;
    let mut out: Vec<Series> = group_labels
        .into_iter()
        .map(|labels| Series {
            labels,
            vals: vec![None; grid.n],
        })
        .collect();
    let mut accs = vec![Acc::default(); ng];
    let mut touched: Vec<usize> = Vec::new();
    for i in 0..grid.n {
        if i % 1024 == 0 {
            ctx.check_deadline()?;
        }
        for (si, s) in input.iter().enumerate() {
            let Some(v) = s.vals[i] else { continue };
            let g = group_of[si];
            let acc = &mut accs[g];
            if !acc.seen {
                *acc = Acc {
                    value: v,
                    mean: v,
                    count: 1.0,
                    heap: Vec::new(),
                    seen: true,
                };
                match op {
                    T_STDDEV | T_STDVAR => acc.value = 0.0,
                    T_GROUP => acc.value = 1.0,
                    T_QUANTILE => acc.heap.push((v, si)),
                    _ => {}
                }
                touched.push(g);
                continue;
            }
            match op {
                T_SUM => acc.value += v,
                T_AVG => {
                    acc.count += 1.0;
                    if acc.mean.is_infinite() {
                        if v.is_infinite() && (acc.mean > 0.0) == (v > 0.0) {
                            continue;
                        }
                        if !v.is_infinite() && !v.is_nan() {
                            continue;
                        }
                    }
                    acc.mean += v / acc.count - acc.mean / acc.count;
                }
                T_MAX if acc.value < v || acc.value.is_nan() => acc.value = v,
                T_MIN if acc.value > v || acc.value.is_nan() => acc.value = v,
                T_COUNT => acc.count += 1.0,
                T_STDDEV | T_STDVAR => {
                    acc.count += 1.0;
                    let delta = v - acc.mean;
                    acc.mean += delta / acc.count;
                    acc.value += delta * (v - acc.mean);
                }
                T_QUANTILE => acc.heap.push((v, si)),
                _ => {}
            }
        }
        for &g in &touched {
            let acc = &mut accs[g];
            let v = match op {
                T_AVG => acc.mean,
                T_COUNT => acc.count,
                T_STDVAR => acc.value / acc.count,
                T_STDDEV => (acc.value / acc.count).sqrt(),
                T_QUANTILE => {
                    let mut vals: Vec<f64> = acc.heap.iter().map(|p| p.0).collect();
                    quantile(param.as_ref().map_or(f64::NAN, |q| q[i]), &mut vals)
                }
                _ => acc.value,
            };
            out[g].vals[i] = Some(v);
            acc.seen = false;
        }
        touched.clear();
    }
    if grid.n == 1 {
        // An instant vector lists groups in the order their first member came.
        let mut first = vec![usize::MAX; ng];
        for (si, s) in input.iter().enumerate() {
            if s.vals[0].is_some() {
                first[group_of[si]] = first[group_of[si]].min(si);
            }
        }
        let mut order: Vec<usize> = (0..ng).collect();
        order.sort_by_key(|&g| first[g]);
        let mut slots: Vec<Option<Series>> = out.into_iter().map(Some).collect();
        out = order.into_iter().filter_map(|g| slots[g].take()).collect();
    }
    Ok(Val::Vector(out))
}

/// Go's `container/heap` on (value, series) with a given `less`, so the
/// kept elements among ties are the ones Prometheus keeps.
struct GoHeap<'a> {
    h: &'a mut Vec<(f64, usize)>,
    less: fn(f64, f64) -> bool,
}

impl GoHeap<'_> {
    fn less(&self, i: usize, j: usize) -> bool {
        (self.less)(self.h[i].0, self.h[j].0)
    }
    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !self.less(j, i) {
                break;
            }
            self.h.swap(i, j);
            j = i;
        }
    }
    fn down(&mut self, i0: usize, n: usize) {
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && self.less(j1 + 1, j1) {
                j = j1 + 1;
            }
            if !self.less(j, i) {
                break;
            }
            self.h.swap(i, j);
            i = j;
        }
    }
    fn push(&mut self, x: (f64, usize)) {
        self.h.push(x);
        let n = self.h.len() - 1;
        self.up(n);
    }
    fn pop(&mut self) {
        let n = self.h.len() - 1;
        self.h.swap(0, n);
        self.down(0, n);
        self.h.pop();
    }
}

/// topk's heap keeps the smallest on top; NaN counts as smallest.
fn topk_less(a: f64, b: f64) -> bool {
    a.is_nan() || a < b
}

/// bottomk's heap keeps the largest on top; NaN counts as largest.
fn bottomk_less(a: f64, b: f64) -> bool {
    a.is_nan() || a > b
}

fn top_bottom(
    ctx: &Ctx,
    input: &[Series],
    group_of: &[usize],
    ng: usize,
    k: &[f64],
    top: bool,
    grid: Grid,
) -> Result<Vec<Series>, QueryError> {
    let less: fn(f64, f64) -> bool = if top { topk_less } else { bottomk_less };
    let mut heaps: Vec<Vec<(f64, usize)>> = vec![Vec::new(); ng];
    let mut slot_of: Vec<Option<usize>> = vec![None; input.len()];
    let mut out: Vec<Series> = Vec::new();
    let mut group_order: Vec<usize> = Vec::new();
    for (i, &kf) in k.iter().enumerate().take(grid.n) {
        if i % 1024 == 0 {
            ctx.check_deadline()?;
        }
        if !(kf <= i64::MAX as f64 && kf >= i64::MIN as f64) {
            return Err(exec(format!(
                "Scalar value {} overflows int64",
                format_float(kf)
            )));
        }
        let kk = kf as i64;
        if kk < 1 {
            continue;
        }
        let kk = kk as usize;
        group_order.clear();
        for (si, s) in input.iter().enumerate() {
            let Some(v) = s.vals[i] else { continue };
            let g = group_of[si];
            let mut h = GoHeap {
                h: &mut heaps[g],
                less,
            };
            if h.h.is_empty() {
                h.h.push((v, si));
                group_order.push(g);
                continue;
            }
            let replace = if top { h.h[0].0 < v } else { h.h[0].0 > v };
            if h.h.len() < kk || replace || h.h[0].0.is_nan() {
                if h.h.len() == kk {
                    if kk == 1 {
                        h.h[0] = (v, si);
                        continue;
                    }
                    h.pop();
                }
                h.push((v, si));
            }
        }
        for &g in &group_order {
            let mut members = std::mem::take(&mut heaps[g]);
            // Prometheus sorts with sort.Reverse on the heap's Less.
            members.sort_by(|a, b| {
                let ab = less(b.0, a.0);
                let ba = less(a.0, b.0);
                match (ab, ba) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    _ => Ordering::Equal,
                }
            });
            for (v, si) in members {
                let slot = *slot_of[si].get_or_insert_with(|| {
                    out.push(Series {
                        labels: input[si].labels.clone(),
                        vals: vec![None; grid.n],
                    });
                    out.len() - 1
                });
                out[slot].vals[i] = Some(v);
            }
        }
    }
    Ok(out)
}

fn count_values(
    input: &[Series],
    label: &str,
    without: bool,
    grouping: &[String],
    grid: Grid,
) -> Result<Vec<Series>, QueryError> {
    let valid = {
        let mut c = label.chars();
        matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    };
    if !valid {
        return Err(exec(format!("invalid label name {label:?}")));
    }
    let mut by = grouping.to_vec();
    let mut drop = grouping.to_vec();
    if without {
        drop.push(labels::NAME.to_string());
    } else {
        by.push(label.to_string());
    }
    let mut out = OutBuilder::new(grid.n);
    for i in 0..grid.n {
        let mut counts: Vec<(usize, f64)> = Vec::new();
        for s in input {
            let Some(v) = s.vals[i] else { continue };
            let mut ls = s.labels.clone();
            labels::set(&mut ls, label, &format_float(v));
            let key = if without {
                labels::remove(&ls, &drop)
            } else {
                labels::keep(&ls, &by)
            };
            let slot = out.slot(key);
            match counts.iter_mut().find(|(k, _)| *k == slot) {
                Some(c) => c.1 += 1.0,
                None => counts.push((slot, 1.0)),
            }
        }
        for (slot, c) in counts {
            out.put(slot, i, c)?;
        }
    }
    Ok(out.finish())
}

/// `histogram_quantile(q, buckets)`: per step, group bucket series by their
/// labels without `le`, interpolate within the bucket holding the rank.
pub(crate) fn histogram_quantile(
    q: &[f64],
    input: &[Series],
    grid: Grid,
) -> Result<Vec<Series>, QueryError> {
    // Group keys and bounds are per series, so compute them once.
    let le = vec!["le".to_string()];
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut group_labels: Vec<Labels> = Vec::new();
    let mut members: Vec<(usize, f64, usize)> = Vec::new(); // (series, bound, group)
    for (si, s) in input.iter().enumerate() {
        let Ok(bound) = labels::get(&s.labels, "le").parse::<f64>() else {
            continue; // no or malformed `le`: Prometheus skips the sample
        };
        let key = labels::signature(&s.labels, false, &le);
        // `signature` ignores __name__; Prometheus keys on it, so add it back.
        let mut key = key;
        key.extend_from_slice(labels::get(&s.labels, labels::NAME).as_bytes());
        let g = *index.entry(key).or_insert_with(|| {
            let mut l = labels::drop_name(s.labels.clone());
            labels::set(&mut l, "le", "");
            group_labels.push(l);
            group_labels.len() - 1
        });
        members.push((si, bound, g));
    }
    let mut out = OutBuilder::new(grid.n);
    let slots: Vec<usize> = group_labels.into_iter().map(|l| out.slot(l)).collect();
    let mut buckets: Vec<Vec<(f64, f64)>> = vec![Vec::new(); slots.len()];
    for (i, &qi) in q.iter().enumerate().take(grid.n) {
        for &(si, bound, g) in &members {
            if let Some(v) = input[si].vals[i] {
                buckets[g].push((bound, v));
            }
        }
        for (g, b) in buckets.iter_mut().enumerate() {
            if b.is_empty() {
                continue;
            }
            let v = bucket_quantile(qi, b);
            out.put(slots[g], i, v)?;
            b.clear();
        }
    }
    Ok(out
        .finish()
        .into_iter()
        .filter(|s| s.vals.iter().any(Option::is_some))
        .collect())
}

/// Prometheus' `bucketQuantile` over (upper bound, cumulative count) pairs.
fn bucket_quantile(q: f64, b: &mut [(f64, f64)]) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(Ordering::Equal));
    match b.last() {
        Some(&(ub, _)) if ub.is_infinite() && ub > 0.0 => {}
        _ => return f64::NAN,
    }
    // Coalesce equal bounds (several series for one bucket), then force monotonicity.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for &(ub, c) in b.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    let mut max = f64::NEG_INFINITY;
    for m in merged.iter_mut() {
        if m.1 > max {
            max = m.1;
        } else if m.1 < max {
            m.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let n = merged.len();
    // Go's sort.Search for the first bucket with count >= rank; a NaN rank finds none.
    let b_idx = merged[..n - 1]
        .iter()
        .position(|m| m.1 >= rank)
        .unwrap_or(n - 1);
    if b_idx == n - 1 {
        return merged[n - 2].0;
    }
    if b_idx == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b_idx].0, merged[b_idx].1);
    if b_idx > 0 {
        start = merged[b_idx - 1].0;
        count -= merged[b_idx - 1].1;
        rank -= merged[b_idx - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_quantile_interpolates() {
        let mut b = [(0.1, 10.0), (0.5, 30.0), (f64::INFINITY, 40.0)];
        // rank 20 falls in (0.1, 0.5]: 0.1 + 0.4 * (10/20).
        assert!((bucket_quantile(0.5, &mut b) - 0.3).abs() < 1e-12);
        // rank 39 is in the +Inf bucket: the highest finite bound.
        assert_eq!(bucket_quantile(0.975, &mut b), 0.5);
        assert!(bucket_quantile(0.5, &mut [(0.1, 1.0)]).is_nan());
        assert!(bucket_quantile(0.5, &mut [(0.1, 0.0), (f64::INFINITY, 0.0)]).is_nan());
        assert_eq!(bucket_quantile(-1.0, &mut b), f64::NEG_INFINITY);
    }

    #[test]
    fn go_heap_keeps_the_largest_k() {
        let mut v = Vec::new();
        let mut h = GoHeap {
            h: &mut v,
            less: topk_less,
        };
        for (i, x) in [5.0, 1.0, 9.0, 3.0].into_iter().enumerate() {
            h.push((x, i));
        }
        h.pop();
        assert_eq!(h.h[0].0, 3.0);
        assert_eq!(h.h.len(), 3);
    }
}
