//! Binary operators: arithmetic, comparison (with and without `bool`) and
//! set operators, between scalars and vectors, with `on`/`ignoring` and
//! `group_left`/`group_right` matching.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, TokenId,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use crate::error::{QueryError, exec};
use crate::eval::{self, Ctx, Grid, OutBuilder, Series, Val};
use crate::labels::{self, Labels};

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic drops the metric name; comparisons keep it (unless `bool`).
fn drops_name(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD)
}

/// Prometheus' `vectorElemBinop`: (value, keep).
fn apply(op: TokenId, l: f64, r: f64) -> (f64, bool) {
    match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

/// Evaluate a binary expression over `grid`.
pub(crate) fn eval(ctx: &Ctx, b: &BinaryExpr, grid: Grid) -> Result<Val, QueryError> {
    let op = b.op.id();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = eval::eval(ctx, &b.lhs, grid)?;
    let rhs = eval::eval(ctx, &b.rhs, grid)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(&r)
                .map(|(&l, &r)| {
                    let (v, keep) = apply(op, l, r);
                    if is_comparison(op) {
                        if keep { 1.0 } else { 0.0 }
                    } else {
                        v
                    }
                })
                .collect(),
        )),
        (Val::Vector(l), Val::Scalar(r)) => vector_scalar(l, &r, op, return_bool, false, grid),
        (Val::Scalar(l), Val::Vector(r)) => vector_scalar(r, &l, op, return_bool, true, grid),
        (Val::Vector(l), Val::Vector(r)) => {
            ctx.check_deadline()?;
            let (on, names) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
                Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
                None => (false, Vec::new()),
            };
            let card = b
                .modifier
                .as_ref()
                .map(|m| m.card.clone())
                .unwrap_or(VectorMatchCardinality::OneToOne);
            let m = Matching { on, names, card };
            match op {
                T_LAND | T_LUNLESS => Ok(Val::Vector(and_unless(l, r, &m, op == T_LAND, grid))),
                T_LOR => or(l, r, &m, grid).map(Val::Vector),
                _ => vector_vector(ctx, l, r, op, return_bool, &m, grid).map(Val::Vector),
            }
        }
        _ => Err(QueryError::BadData(
            "binary expression must contain only scalar and instant vector types".into(),
        )),
    }
}

fn vector_scalar(
    vec: Vec<Series>,
    scalar: &[f64],
    op: TokenId,
    return_bool: bool,
    swap: bool,
    grid: Grid,
) -> Result<Val, QueryError> {
    let drop = drops_name(op) || return_bool;
    let mut out = OutBuilder::new(grid.n);
    for s in vec {
        let mut slot = None;
        for (i, v) in s.vals.iter().enumerate() {
            let Some(v) = *v else { continue };
            let (l, r) = if swap { (scalar[i], v) } else { (v, scalar[i]) };
            let (mut value, mut keep) = apply(op, l, r);
            // A comparison always yields the vector's value, whichever side it is on.
            if is_comparison(op) && swap {
                value = r;
            }
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if keep {
                let k = *slot.get_or_insert_with(|| {
                    out.slot(if drop {
                        labels::drop_name(s.labels.clone())
                    } else {
                        s.labels.clone()
                    })
                });
                out.put(k, i, value)?;
            }
        }
    }
    Ok(Val::Vector(out.finish()))
}

struct Matching {
    on: bool,
    names: Vec<String>,
    card: VectorMatchCardinality,
}

impl Matching {
    fn sig(&self, ls: &Labels) -> Vec<u8> {
        labels::signature(ls, self.on, &self.names)
    }
}

fn vector_vector(
    ctx: &Ctx,
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    op: TokenId,
    return_bool: bool,
    m: &Matching,
    grid: Grid,
) -> Result<Vec<Series>, QueryError> {
    // With group_right the right side is the "many" side: swap, then swap values back.
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    let many_to_one = matches!(m.card, VectorMatchCardinality::ManyToOne(_));
    let include: Vec<String> = match &m.card {
        VectorMatchCardinality::OneToMany(l) | VectorMatchCardinality::ManyToOne(l) => {
            l.labels.clone()
        }
        _ => Vec::new(),
    };
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };

    // Signatures are per series; group the "one" side by signature once.
    let mut sig_index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut one_group = Vec::with_capacity(one.len());
    for s in &one {
        let n = sig_index.len();
        one_group.push(*sig_index.entry(m.sig(&s.labels)).or_insert(n));
    }
    let many_group: Vec<Option<usize>> = many
        .iter()
        .map(|s| sig_index.get(&m.sig(&s.labels)).copied())
        .collect();
    let ngroups = sig_index.len();

    let mut out = OutBuilder::new(grid.n);
    let mut result_slot: HashMap<(usize, usize), usize> = HashMap::new();
    let mut one_at: Vec<Option<usize>> = vec![None; ngroups];
    let mut matched: Vec<bool> = vec![false; ngroups];
    let mut inserted: HashSet<(usize, usize)> = HashSet::new();
    for i in 0..grid.n {
        if i % 1024 == 0 {
            ctx.check_deadline()?;
        }
        one_at.iter_mut().for_each(|x| *x = None);
        matched.iter_mut().for_each(|x| *x = false);
        inserted.clear();
        for (oi, s) in one.iter().enumerate() {
            if s.vals[i].is_none() {
                continue;
            }
            let g = one_group[oi];
            if let Some(prev) = one_at[g] {
                let side = if one_to_many { "left" } else { "right" };
                let ml = match_labels(&s.labels, m);
                return Err(exec(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    labels::to_string(&ml),
                    labels::to_string(&s.labels),
                    labels::to_string(&one[prev].labels)
                )));
            }
            one_at[g] = Some(oi);
        }
        for (mi, s) in many.iter().enumerate() {
            let Some(mv) = s.vals[i] else { continue };
            let Some(g) = many_group[mi] else { continue };
            let Some(oi) = one_at[g] else { continue };
            let Some(ov) = one[oi].vals[i] else { continue };
            let (l, r) = if one_to_many { (ov, mv) } else { (mv, ov) };
            let (mut value, keep) = apply(op, l, r);
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            let slot = match result_slot.get(&(mi, oi)) {
                Some(&k) => k,
                None => {
                    let mut ls = result_labels(&s.labels, &one[oi].labels, op, m, &include);
                    if return_bool {
                        ls = labels::drop_name(ls);
                    }
                    let k = out.slot(ls);
                    result_slot.insert((mi, oi), k);
                    k
                }
            };
            if many_to_one || one_to_many {
                if !inserted.insert((g, slot)) {
                    return Err(exec(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
            } else {
                if matched[g] {
                    return Err(exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                matched[g] = true;
            }
            out.put(slot, i, value)?;
        }
    }
    Ok(out
        .finish()
        .into_iter()
        .filter(|s| s.vals.iter().any(Option::is_some))
        .collect())
}

/// The labels the match is made on (for error messages).
fn match_labels(ls: &Labels, m: &Matching) -> Labels {
    if m.on {
        labels::keep(ls, &m.names)
    } else {
        let mut drop = m.names.clone();
        drop.push(labels::NAME.to_string());
        labels::remove(ls, &drop)
    }
}

/// Prometheus' `resultMetric`: the "many" side's labels, minus the name for
/// arithmetic, reduced by `on`/`ignoring` for one-to-one, plus the
/// `group_x(…)` labels copied from the "one" side.
fn result_labels(
    many: &Labels,
    one: &Labels,
    op: TokenId,
    m: &Matching,
    include: &[String],
) -> Labels {
    let mut ls = many.clone();
    if drops_name(op) {
        ls = labels::drop_name(ls);
    }
    if matches!(m.card, VectorMatchCardinality::OneToOne) {
        ls = if m.on {
            labels::keep(&ls, &m.names)
        } else {
            labels::remove(&ls, &m.names)
        };
    }
    for n in include {
        let v = labels::get(one, n).to_string();
        labels::set(&mut ls, n, &v);
    }
    ls
}

fn and_unless(
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    m: &Matching,
    and: bool,
    grid: Grid,
) -> Vec<Series> {
    let rsigs: Vec<Vec<u8>> = rhs.iter().map(|s| m.sig(&s.labels)).collect();
    let mut index: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (ri, sig) in rsigs.iter().enumerate() {
        index.entry(sig.as_slice()).or_default().push(ri);
    }
    lhs.into_iter()
        .filter_map(|mut s| {
            let sig = m.sig(&s.labels);
            let partners = index.get(sig.as_slice());
            for i in 0..grid.n {
                if s.vals[i].is_none() {
                    continue;
                }
                let present =
                    partners.is_some_and(|p| p.iter().any(|&ri| rhs[ri].vals[i].is_some()));
                if present != and {
                    s.vals[i] = None;
                }
            }
            s.vals.iter().any(Option::is_some).then_some(s)
        })
        .collect()
}

fn or(
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    m: &Matching,
    grid: Grid,
) -> Result<Vec<Series>, QueryError> {
    let lsigs: Vec<Vec<u8>> = lhs.iter().map(|s| m.sig(&s.labels)).collect();
    let mut index: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (li, sig) in lsigs.iter().enumerate() {
        index.entry(sig.as_slice()).or_default().push(li);
    }
    let mut out = OutBuilder::new(grid.n);
    for s in &lhs {
        let k = out.slot(s.labels.clone());
        for (i, v) in s.vals.iter().enumerate() {
            if let Some(v) = v {
                out.put(k, i, *v)?;
            }
        }
    }
    for s in &rhs {
        let sig = m.sig(&s.labels);
        let partners = index.get(sig.as_slice());
        let mut slot = None;
        for (i, v) in s.vals.iter().enumerate() {
            let Some(v) = v else { continue };
            if partners.is_some_and(|p| p.iter().any(|&li| lhs[li].vals[i].is_some())) {
                continue;
            }
            let k = *slot.get_or_insert_with(|| out.slot(s.labels.clone()));
            out.put(k, i, *v)?;
        }
    }
    Ok(out
        .finish()
        .into_iter()
        .filter(|s| s.vals.iter().any(Option::is_some))
        .collect())
}
