//! Reading the store: instant selectors (latest sample within the lookback)
//! and range arguments (every sample in a closed window), each with one
//! store read per query.

use std::time::{SystemTime, UNIX_EPOCH};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use crate::error::{QueryError, too_many_samples};
use crate::eval::{self, Ctx, Grid, Series};
use crate::labels::{self, Labels};
use crate::storage::{MatchOp, Matcher, SelectError, SeriesData};

/// The store matchers of a selector; the metric name becomes `__name__="…"`.
pub(crate) fn matchers(vs: &VectorSelector) -> Vec<Matcher> {
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher {
            name: labels::NAME.to_string(),
            op: MatchOp::Equal,
            value: name.clone(),
            regex: None,
        });
    }
    for m in &vs.matchers.matchers {
        let (op, regex) = match &m.op {
            PMatchOp::Equal => (MatchOp::Equal, None),
            PMatchOp::NotEqual => (MatchOp::NotEqual, None),
            // The parser already compiled the anchored (and Go-compatible) regex.
            PMatchOp::Re(r) => (MatchOp::Regex, Some(r.clone())),
            PMatchOp::NotRe(r) => (MatchOp::NotRegex, Some(r.clone())),
        };
        out.push(Matcher {
            name: m.name.clone(),
            op,
            value: m.value.clone(),
            regex,
        });
    }
    out
}

/// An offset in milliseconds (negative offsets look ahead).
pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

/// The fixed evaluation time of an `@` modifier, if any.
pub(crate) fn at_ms(ctx: &Ctx, at: &Option<AtModifier>) -> Option<i64> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(ctx.query_start),
        Some(AtModifier::End) => Some(ctx.query_end),
        Some(AtModifier::At(t)) => Some(system_time_ms(*t)),
    }
}

fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Read matching series in `[mint, maxt]`, counting the samples against the budget.
fn select(
    ctx: &Ctx,
    matchers: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Result<Vec<SeriesData>, QueryError> {
    let out = ctx
        .storage
        .select_limited(matchers, mint, maxt, ctx.remaining())
        .map_err(|e| match e {
            SelectError::TooManySamples => too_many_samples(),
            SelectError::Storage(e) => e.into(),
        })?;
    ctx.charge(out.iter().map(|s| s.samples.len()).sum())?;
    Ok(out)
}

/// An instant selector over the grid: at each step, the latest sample no
/// older than the lookback (closed at both ends, as in Prometheus 2.x).
/// With `timestamps`, the value is the sample's time in seconds (`timestamp()`).
pub(crate) fn instant(
    ctx: &Ctx,
    vs: &VectorSelector,
    grid: Grid,
    timestamps: bool,
) -> Result<Vec<Series>, QueryError> {
    let offset = offset_ms(&vs.offset);
    let at = at_ms(ctx, &vs.at);
    let reft = |i: usize| at.unwrap_or_else(|| grid.ts(i)).saturating_sub(offset);
    let lookback = ctx.opts.lookback_ms;
    let data = select(
        ctx,
        &matchers(vs),
        reft(0).saturating_sub(lookback),
        reft(grid.n - 1),
    )?;
    ctx.check_cells(data.len(), grid.n)?;
    let mut out = Vec::with_capacity(data.len());
    for s in data {
        ctx.check_deadline()?;
        let mut vals = vec![None; grid.n];
        let mut j = 0; // samples[..j] are at or before the current reference time
        for (i, slot) in vals.iter_mut().enumerate() {
            let r = reft(i);
            while j < s.samples.len() && s.samples[j].0 <= r {
                j += 1;
            }
            if j > 0 {
                let (t, v) = s.samples[j - 1];
                if t >= r.saturating_sub(lookback) {
                    *slot = Some(if timestamps { t as f64 / 1000.0 } else { v });
                }
            }
        }
        out.push(Series {
            labels: s.labels,
            vals,
        });
    }
    Ok(out)
}

/// The samples behind a range argument (`x[5m]` or a subquery) and how to
/// cut its window at each step.
pub(crate) struct RangeArg {
    pub series: Vec<SeriesData>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
    /// Labels `absent_over_time` reports (from the selector's equality matchers).
    pub absent_labels: Labels,
}

impl RangeArg {
    /// End of the window evaluated at `ts`; the window is `[end - range, end]`.
    pub fn window_end(&self, ts: i64) -> i64 {
        self.at.unwrap_or(ts).saturating_sub(self.offset)
    }

    /// Call `f(step, window)` for every step of `grid` on series `s`.
    pub fn windows(&self, s: usize, grid: Grid, mut f: impl FnMut(usize, &[(i64, f64)])) {
        let samples = &self.series[s].samples;
        let (mut lo, mut hi) = (0, 0);
        for i in 0..grid.n {
            let end = self.window_end(grid.ts(i));
            let start = end.saturating_sub(self.range);
            while hi < samples.len() && samples[hi].0 <= end {
                hi += 1;
            }
            while lo < hi && samples[lo].0 < start {
                lo += 1;
            }
            f(i, &samples[lo.min(hi)..hi]);
        }
    }

    /// The raw samples of each series in the window at `t` (an instant query
    /// whose result is a range vector).
    pub fn top_level(self, t: i64) -> Vec<SeriesData> {
        let end = self.window_end(t);
        let start = end.saturating_sub(self.range);
        self.series
            .into_iter()
            .map(|mut s| {
                s.samples.retain(|(ts, _)| *ts >= start && *ts <= end);
                s
            })
            .collect()
    }
}

/// Evaluate a range argument: a matrix selector (read from the store) or a
/// subquery (its inner expression evaluated on its own aligned grid).
pub(crate) fn range_arg(ctx: &Ctx, expr: &Expr, grid: Grid) -> Result<RangeArg, QueryError> {
    match expr {
        Expr::Paren(p) => range_arg(ctx, &p.expr, grid),
        Expr::MatrixSelector(ms) => {
            let vs = &ms.vs;
            let range = ms.range.as_millis() as i64;
            let offset = offset_ms(&vs.offset);
            let at = at_ms(ctx, &vs.at);
            let first = at.unwrap_or(grid.start).saturating_sub(offset);
            let last = at.unwrap_or(grid.end()).saturating_sub(offset);
            let series = select(ctx, &matchers(vs), first.saturating_sub(range), last)?;
            Ok(RangeArg {
                series,
                range,
                offset,
                at,
                absent_labels: absent_labels(vs),
            })
        }
        Expr::Subquery(sq) => {
            let range = sq.range.as_millis() as i64;
            let offset = offset_ms(&sq.offset);
            let step = sq
                .step
                .map(|d| d.as_millis() as i64)
                .unwrap_or(ctx.opts.subquery_step_ms);
            if step <= 0 {
                return Err(QueryError::BadData(
                    "zero or negative subquery resolution step widths are not accepted".into(),
                ));
            }
            // First timestamp at or after (start - offset - range) that is a multiple of step.
            let lower = grid.start.saturating_sub(offset).saturating_sub(range);
            let sub_start =
                lower.div_euclid(step) * step + if lower.rem_euclid(step) == 0 { 0 } else { step };
            let sub_end = grid.end().saturating_sub(offset);
            let n = if sub_end < sub_start {
                0
            } else {
                (sub_end as i128 - sub_start as i128) / step as i128 + 1
            };
            if n > ctx.opts.max_samples as i128 {
                return Err(too_many_samples());
            }
            let n = n as usize;
            let series = if n == 0 {
                Vec::new()
            } else {
                let sub = Grid {
                    start: sub_start,
                    step,
                    n,
                };
                eval::eval_vector(ctx, &sq.expr, sub)?
                    .into_iter()
                    .map(|s| SeriesData {
                        samples: s
                            .vals
                            .iter()
                            .enumerate()
                            .filter_map(|(i, v)| v.map(|v| (sub.ts(i), v)))
                            .collect(),
                        labels: s.labels,
                    })
                    .filter(|s| !s.samples.is_empty())
                    .collect()
            };
            Ok(RangeArg {
                series,
                range,
                offset,
                at: None,
                absent_labels: Vec::new(),
            })
        }
        _ => Err(QueryError::BadData(
            "expected a range vector (a selector with [range], or a subquery)".into(),
        )),
    }
}

/// Labels `absent()`/`absent_over_time()` give their output: the equality
/// matchers of the selector, except a label matched more than once or by
/// another kind of matcher (Prometheus' historic rule).
pub(crate) fn absent_labels(vs: &VectorSelector) -> Labels {
    let mut out: Labels = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == labels::NAME {
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) && !seen.contains(&m.name.as_str()) {
            labels::set(&mut out, &m.name, &m.value);
            seen.push(&m.name);
        } else {
            labels::set(&mut out, &m.name, "");
        }
    }
    out
}
