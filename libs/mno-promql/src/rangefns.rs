//! Functions over range vectors (`rate`, `*_over_time`, …), one window per
//! step, with Prometheus 2.x's arithmetic (extrapolation, counter resets,
//! Kahan summation where it uses it).

use crate::error::QueryError;
use crate::eval::{Ctx, Grid, Series, check_unique};
use crate::gomath::{self, kahan_inc};
use crate::labels;
use crate::selector::RangeArg;

/// Range-vector functions this engine evaluates.
pub(crate) const NAMES: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "changes",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "present_over_time",
    "absent_over_time",
];

/// A function of one window's samples.
type WindowFn = fn(&[(i64, f64)], &Step) -> Option<f64>;

/// What a window function needs besides the samples.
struct Step {
    /// Evaluation timestamp (the `@` time when set).
    ts: i64,
    /// Window bounds in ms.
    start: i64,
    end: i64,
    range_secs: f64,
    /// The scalar parameter of the step (quantile, predict_linear's duration).
    param: f64,
}

/// Evaluate range function `name` on `arg` at every step of `grid`.
pub(crate) fn eval(
    ctx: &Ctx,
    name: &str,
    arg: &RangeArg,
    param: Option<&[f64]>,
    grid: Grid,
) -> Result<Vec<Series>, QueryError> {
    if name == "absent_over_time" {
        return Ok(absent_over_time(arg, grid));
    }
    let f: WindowFn = match name {
        "rate" => |w, s| extrapolated_rate(w, s, true, true),
        "increase" => |w, s| extrapolated_rate(w, s, true, false),
        "delta" => |w, s| extrapolated_rate(w, s, false, false),
        "irate" => |w, _| instant_value(w, true),
        "idelta" => |w, _| instant_value(w, false),
        "deriv" => |w, _| (w.len() >= 2).then(|| linear_regression(w, w[0].0).0),
        "predict_linear" => |w, s| {
            (w.len() >= 2).then(|| {
                let (slope, intercept) = linear_regression(w, s.ts);
                slope * s.param + intercept
            })
        },
        "changes" => |w, _| {
            non_empty(w)?;
            let mut n = 0.0;
            for p in w.windows(2) {
                let (prev, cur) = (p[0].1, p[1].1);
                if cur != prev && !(cur.is_nan() && prev.is_nan()) {
                    n += 1.0;
                }
            }
            Some(n)
        },
        "resets" => |w, _| {
            non_empty(w)?;
            Some(w.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64)
        },
        "avg_over_time" => |w, _| non_empty(w).map(|_| avg(w)),
        "sum_over_time" => |w, _| {
            non_empty(w)?;
            let (mut sum, mut c) = (0.0, 0.0);
            for &(_, v) in w {
                (sum, c) = kahan_inc(v, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        },
        "count_over_time" => |w, _| non_empty(w).map(|_| w.len() as f64),
        "min_over_time" => |w, _| {
            let mut m = non_empty(w)?;
            for &(_, v) in w {
                if v < m || m.is_nan() {
                    m = v;
                }
            }
            Some(m)
        },
        "max_over_time" => |w, _| {
            let mut m = non_empty(w)?;
            for &(_, v) in w {
                if v > m || m.is_nan() {
                    m = v;
                }
            }
            Some(m)
        },
        "last_over_time" => |w, _| w.last().map(|p| p.1),
        "present_over_time" => |w, _| non_empty(w).map(|_| 1.0),
        "stdvar_over_time" => |w, _| non_empty(w).map(|_| stdvar(w)),
        "stddev_over_time" => |w, _| non_empty(w).map(|_| stdvar(w).sqrt()),
        "quantile_over_time" => |w, s| {
            non_empty(w)?;
            let mut vals: Vec<f64> = w.iter().map(|p| p.1).collect();
            Some(quantile(s.param, &mut vals))
        },
        other => {
            return Err(QueryError::BadData(format!(
                "function {other:?} is not supported by this agent"
            )));
        }
    };
    // Series with no point are dropped, as Prometheus does, before the
    // duplicate check: foo and bar with equal labels only clash when both yield.
    ctx.check_cells(arg.series.len(), grid.n)?;
    let mut out = Vec::with_capacity(arg.series.len());
    for (si, s) in arg.series.iter().enumerate() {
        ctx.check_deadline()?;
        let mut vals = vec![None; grid.n];
        let mut any = false;
        let mut late = None;
        arg.windows(si, grid, |i, w| {
            // Wide windows over many steps are the slow case: look at the clock as we go.
            if late.is_some()
                || (i % 64 == 63 && ctx.check_deadline().map_err(|e| late = Some(e)).is_err())
            {
                return;
            }
            let ts = arg.at.unwrap_or_else(|| grid.ts(i));
            let end = arg.window_end(grid.ts(i));
            let step = Step {
                ts,
                start: end.saturating_sub(arg.range),
                end,
                range_secs: arg.range as f64 / 1000.0,
                param: param.map(|p| p[i]).unwrap_or(0.0),
            };
            vals[i] = f(w, &step);
            any |= vals[i].is_some();
        });
        if let Some(e) = late {
            return Err(e);
        }
        if any {
            // Prometheus 2.x keeps the metric name for last_over_time only.
            let labels = if name == "last_over_time" {
                s.labels.clone()
            } else {
                labels::drop_name(s.labels.clone())
            };
            out.push(Series { labels, vals });
        }
    }
    check_unique(&out)?;
    Ok(out)
}

fn non_empty(w: &[(i64, f64)]) -> Option<f64> {
    w.first().map(|p| p.1)
}

/// `rate`, `increase` and `delta` (Prometheus' `extrapolatedRate`).
fn extrapolated_rate(w: &[(i64, f64)], s: &Step, is_counter: bool, is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first_t, first_v) = w[0];
    let (last_t, last_v) = w[w.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in &w[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut duration_to_start = (first_t - s.start) as f64 / 1000.0;
    let duration_to_end = (s.end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled_interval / (w.len() - 1) as f64;
    if is_counter && result > 0.0 && first_v >= 0.0 {
        // A counter cannot go below zero: extrapolate no further back than
        // where the line through the samples reaches zero.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = avg_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        avg_between / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        avg_between / 2.0
    };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= s.range_secs;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: the last two samples only.
fn instant_value(w: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (lt, lv) = w[w.len() - 1];
    let (pt, pv) = w[w.len() - 2];
    let mut result = if is_rate && lv < pv { lv } else { lv - pv };
    let interval = lt - pt;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares slope (per second) and intercept at `intercept_time`.
pub(crate) fn linear_regression(w: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = w[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in w.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y) = (sum_x + c_x, sum_y + c_y);
    let (sum_xy, sum_x2) = (sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Incremental mean with Kahan compensation, guarding infinities (Prometheus' `avg_over_time`).
fn avg(w: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for &(_, v) in w {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

/// Population variance (Welford with Kahan compensation, as Prometheus).
fn stdvar(w: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in w {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Prometheus' `quantile`: linear interpolation between the closest ranks;
/// q < 0 is -Inf, q > 1 is +Inf.
pub(crate) fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go sorts NaN first (its Less treats NaN as smallest).
    vals.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = gomath::max(0.0, rank.floor());
    let upper = gomath::min(n - 1.0, lower + 1.0);
    let weight = rank - rank.floor();
    vals[lower as usize] * (1.0 - weight) + vals[upper as usize] * weight
}

/// 1 at the steps where no series has a sample in the window.
fn absent_over_time(arg: &RangeArg, grid: Grid) -> Vec<Series> {
    let mut found = vec![false; grid.n];
    for si in 0..arg.series.len() {
        arg.windows(si, grid, |i, w| found[i] |= !w.is_empty());
    }
    if found.iter().all(|f| *f) {
        return Vec::new();
    }
    vec![Series {
        labels: arg.absent_labels.clone(),
        vals: found.iter().map(|f| (!f).then_some(1.0)).collect(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(start: i64, end: i64) -> Step {
        Step {
            ts: end,
            start,
            end,
            range_secs: (end - start) as f64 / 1000.0,
            param: 0.0,
        }
    }

    #[test]
    fn rate_extrapolates_to_the_window_edges() {
        // Samples every 10s, window 60s, first sample 5s after the start.
        let w: Vec<(i64, f64)> = (0..6)
            .map(|i| (5_000 + i * 10_000, 100.0 + i as f64 * 10.0))
            .collect();
        let s = step(0, 60_000);
        // 50 over 50s sampled; 5s missing at each side (< 1.1 * 10s): extrapolate to 60s.
        let inc = extrapolated_rate(&w, &s, true, false).unwrap();
        assert!((inc - 60.0).abs() < 1e-12, "{inc}");
        let rate = extrapolated_rate(&w, &s, true, true).unwrap();
        assert!((rate - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rate_handles_counter_resets_and_the_zero_point() {
        let w = vec![(0, 5.0), (10_000, 15.0), (20_000, 3.0), (30_000, 13.0)];
        let s = step(0, 30_000);
        // 13 - 5 + 15 (reset) = 23 over 30s, no extrapolation needed.
        assert_eq!(extrapolated_rate(&w, &s, true, false), Some(23.0));
        // delta ignores resets.
        assert_eq!(extrapolated_rate(&w, &s, false, false), Some(8.0));
        // Starting near zero: extrapolation stops at the zero point.
        let w = vec![(20_000, 1.0), (30_000, 11.0), (40_000, 21.0)];
        let s = step(0, 40_000);
        // duration to start 20s > threshold 11s -> +5s; zero point 1s back < 5s... capped at 1s.
        let inc = extrapolated_rate(&w, &s, true, false).unwrap();
        assert!((inc - 21.0).abs() < 1e-12, "{inc}");
        assert_eq!(extrapolated_rate(&w[..1], &s, true, false), None);
    }

    #[test]
    fn irate_and_idelta() {
        let w = vec![(0, 10.0), (10_000, 20.0), (15_000, 5.0)];
        assert_eq!(instant_value(&w, true), Some(1.0));
        assert_eq!(instant_value(&w, false), Some(-15.0));
        assert_eq!(instant_value(&w[..1], true), None);
    }

    #[test]
    fn regression_and_quantile() {
        let w = vec![(0, 1.0), (1_000, 3.0), (2_000, 5.0)];
        let (slope, intercept) = linear_regression(&w, 0);
        assert!((slope - 2.0).abs() < 1e-12 && (intercept - 1.0).abs() < 1e-12);
        let (slope, intercept) = linear_regression(&[(0, 7.0), (1_000, 7.0)], 0);
        assert_eq!((slope, intercept), (0.0, 7.0));
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
        assert_eq!(quantile(-1.0, &mut v), f64::NEG_INFINITY);
        assert!((stdvar(&[(0, 1.0), (0, 3.0)]) - 1.0).abs() < 1e-12);
        assert!((avg(&[(0, 1.0), (0, 2.0), (0, 4.0)]) - 7.0 / 3.0).abs() < 1e-12);
    }
}
