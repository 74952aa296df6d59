//! Function calls: dispatch to range functions, and the instant-vector and
//! scalar functions themselves.

use chrono::{Datelike, Timelike};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Call, Expr};

use crate::error::{QueryError, exec};
use crate::eval::{self, Ctx, Grid, OutBuilder, Series, Val};
use crate::gomath;
use crate::labels::{self, Labels};
use crate::{rangefns, selector};

/// Functions over instant vectors and scalars this engine evaluates.
pub(crate) const NAMES: &[&str] = &[
    "abs",
    "absent",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "ceil",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "exp",
    "floor",
    "histogram_quantile",
    "hour",
    "label_join",
    "label_replace",
    "ln",
    "log10",
    "log2",
    "minute",
    "month",
    "pi",
    "rad",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Evaluate a call over `grid`.
pub(crate) fn call(ctx: &Ctx, c: &Call, grid: Grid) -> Result<Val, QueryError> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|b| b.as_ref()).collect();
    if let Some(mi) = args
        .iter()
        .position(|a| a.value_type() == ValueType::Matrix)
    {
        // The only scalar parameter of a range function comes before
        // (quantile_over_time) or after (predict_linear) the range argument.
        let param = match args.iter().enumerate().find(|(i, _)| *i != mi) {
            Some((_, p)) => Some(eval::eval_scalar(ctx, p, grid)?),
            None => None,
        };
        let arg = selector::range_arg(ctx, args[mi], grid)?;
        let out = rangefns::eval(ctx, name, &arg, param.as_deref(), grid)?;
        return Ok(Val::Vector(out));
    }
    match name {
        "time" => Ok(Val::Scalar(
            (0..grid.n).map(|i| grid.ts(i) as f64 / 1000.0).collect(),
        )),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; grid.n])),
        "vector" => {
            let v = eval::eval_scalar(ctx, args[0], grid)?;
            Ok(Val::Vector(vec![Series {
                labels: Vec::new(),
                vals: v.into_iter().map(Some).collect(),
            }]))
        }
        "scalar" => {
            let series = eval::eval_vector(ctx, args[0], grid)?;
            Ok(Val::Scalar(
                (0..grid.n)
                    .map(|i| {
                        let mut present = series.iter().filter_map(|s| s.vals[i]);
                        match (present.next(), present.next()) {
                            (Some(v), None) => v,
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            ))
        }
        "timestamp" => timestamp(ctx, args[0], grid),
        "absent" => {
            let series = eval::eval_vector(ctx, args[0], grid)?;
            let labels = match args[0] {
                Expr::VectorSelector(vs) => selector::absent_labels(vs),
                _ => Vec::new(),
            };
            let vals: Vec<Option<f64>> = (0..grid.n)
                .map(|i| series.iter().all(|s| s.vals[i].is_none()).then_some(1.0))
                .collect();
            let out = if vals.iter().any(Option::is_some) {
                vec![Series { labels, vals }]
            } else {
                Vec::new()
            };
            Ok(Val::Vector(out))
        }
        "sort" | "sort_desc" => {
            let mut series = eval::eval_vector(ctx, args[0], grid)?;
            // Order only shows in an instant query's vector.
            if grid.n == 1 {
                sort_by_value(&mut series, name == "sort_desc");
            }
            Ok(Val::Vector(series))
        }
        "label_replace" => label_replace(ctx, &args, grid),
        "label_join" => label_join(ctx, &args, grid),
        "histogram_quantile" => {
            let q = eval::eval_scalar(ctx, args[0], grid)?;
            let series = eval::eval_vector(ctx, args[1], grid)?;
            crate::aggregations::histogram_quantile(&q, &series, grid).map(Val::Vector)
        }
        "round" => {
            let to = match args.get(1) {
                Some(a) => eval::eval_scalar(ctx, a, grid)?,
                None => vec![1.0; grid.n],
            };
            map_vector(ctx, args[0], grid, |v, i| {
                let inv = 1.0 / to[i];
                Some((v * inv + 0.5).floor() / inv)
            })
        }
        "clamp" => {
            let lo = eval::eval_scalar(ctx, args[1], grid)?;
            let hi = eval::eval_scalar(ctx, args[2], grid)?;
            // An inverted range yields nothing at that step, as in Prometheus.
            map_vector(ctx, args[0], grid, |v, i| {
                let inverted = hi[i] < lo[i];
                (!inverted).then(|| gomath::max(lo[i], gomath::min(hi[i], v)))
            })
        }
        "clamp_max" => {
            let hi = eval::eval_scalar(ctx, args[1], grid)?;
            map_vector(ctx, args[0], grid, |v, i| Some(gomath::min(hi[i], v)))
        }
        "clamp_min" => {
            let lo = eval::eval_scalar(ctx, args[1], grid)?;
            map_vector(ctx, args[0], grid, |v, i| Some(gomath::max(lo[i], v)))
        }
        "minute" | "hour" | "day_of_week" | "day_of_month" | "day_of_year" | "days_in_month"
        | "month" | "year" => {
            let f = date_fn(name);
            match args.first() {
                Some(a) => map_vector(ctx, a, grid, |v, _| Some(f(v))),
                None => Ok(Val::Vector(vec![Series {
                    labels: Vec::new(),
                    vals: (0..grid.n)
                        .map(|i| Some(f(grid.ts(i) as f64 / 1000.0)))
                        .collect(),
                }])),
            }
        }
        _ => match simple_fn(name) {
            Some(f) => map_vector(ctx, args[0], grid, |v, _| Some(f(v))),
            None => Err(QueryError::BadData(format!(
                "function {name:?} is not supported by this agent"
            ))),
        },
    }
}

/// Apply `f(value, step)` to every point; the metric name is dropped, and
/// label sets must stay unique at each step.
fn map_vector(
    ctx: &Ctx,
    arg: &Expr,
    grid: Grid,
    f: impl Fn(f64, usize) -> Option<f64>,
) -> Result<Val, QueryError> {
    let series = eval::eval_vector(ctx, arg, grid)?;
    let mut out = OutBuilder::new(grid.n);
    for s in series {
        ctx.check_deadline()?;
        let mut slot = None;
        for (i, v) in s.vals.iter().enumerate() {
            if let Some(r) = v.and_then(|v| f(v, i)) {
                let k = *slot.get_or_insert_with(|| out.slot(labels::drop_name(s.labels.clone())));
                out.put(k, i, r)?;
            }
        }
    }
    Ok(Val::Vector(out.finish()))
}

fn simple_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Calendar functions on Unix seconds, in UTC (fractions are truncated as Go's int64() does).
fn date_fn(name: &str) -> fn(f64) -> f64 {
    fn dt(v: f64) -> Option<chrono::DateTime<chrono::Utc>> {
        if !v.is_finite() {
            return None;
        }
        chrono::DateTime::from_timestamp(v.trunc() as i64, 0)
    }
    match name {
        "minute" => |v| dt(v).map_or(f64::NAN, |d| d.minute() as f64),
        "hour" => |v| dt(v).map_or(f64::NAN, |d| d.hour() as f64),
        "day_of_week" => |v| dt(v).map_or(f64::NAN, |d| d.weekday().num_days_from_sunday() as f64),
        "day_of_month" => |v| dt(v).map_or(f64::NAN, |d| d.day() as f64),
        "day_of_year" => |v| dt(v).map_or(f64::NAN, |d| d.ordinal() as f64),
        "month" => |v| dt(v).map_or(f64::NAN, |d| d.month() as f64),
        "year" => |v| dt(v).map_or(f64::NAN, |d| d.year() as f64),
        _ => |v| {
            dt(v).map_or(f64::NAN, |d| {
                let (y, m) = (d.year(), d.month());
                let next = if m == 12 {
                    chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1)
                } else {
                    chrono::NaiveDate::from_ymd_opt(y, m + 1, 1)
                };
                let this = chrono::NaiveDate::from_ymd_opt(y, m, 1);
                match (this, next) {
                    (Some(a), Some(b)) => (b - a).num_days() as f64,
                    _ => f64::NAN,
                }
            })
        },
    }
}

/// `timestamp(v)`: the sample's own time for a plain selector (Prometheus
/// special-cases it), otherwise the evaluation time.
fn timestamp(ctx: &Ctx, arg: &Expr, grid: Grid) -> Result<Val, QueryError> {
    let mut inner = arg;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    let series = match inner {
        Expr::VectorSelector(vs) => selector::instant(ctx, vs, grid, true)?,
        _ => eval::eval_vector(ctx, arg, grid)?
            .into_iter()
            .map(|s| Series {
                vals: s
                    .vals
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v.map(|_| grid.ts(i) as f64 / 1000.0))
                    .collect(),
                labels: s.labels,
            })
            .collect(),
    };
    let mut out = OutBuilder::new(grid.n);
    for s in series {
        let k = out.slot(labels::drop_name(s.labels));
        for (i, v) in s.vals.into_iter().enumerate() {
            if let Some(v) = v {
                out.put(k, i, v)?;
            }
        }
    }
    Ok(Val::Vector(out.finish()))
}

/// Sort an instant query's series by value (NaN last, as Prometheus' sort does).
fn sort_by_value(series: &mut [Series], desc: bool) {
    series.sort_by(|a, b| {
        let (x, y) = (a.vals[0].unwrap_or(f64::NAN), b.vals[0].unwrap_or(f64::NAN));
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if desc => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
            _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        }
    });
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Re-label every series with `f` (labels are constant across steps, so
/// this is done once per series); per-step uniqueness still applies.
fn relabel(
    series: Vec<Series>,
    grid: Grid,
    f: impl Fn(&Labels) -> Labels,
) -> Result<Val, QueryError> {
    let mut out = OutBuilder::new(grid.n);
    for s in series {
        let k = out.slot(f(&s.labels));
        for (i, v) in s.vals.into_iter().enumerate() {
            if let Some(v) = v {
                out.put(k, i, v)?;
            }
        }
    }
    Ok(Val::Vector(
        out.finish()
            .into_iter()
            .filter(|s| s.vals.iter().any(Option::is_some))
            .collect(),
    ))
}

fn label_replace(ctx: &Ctx, args: &[&Expr], grid: Grid) -> Result<Val, QueryError> {
    let dst = eval::string_arg(args[1])?;
    let repl = eval::string_arg(args[2])?;
    let src = eval::string_arg(args[3])?;
    let re_src = eval::string_arg(args[4])?;
    let re = regex::Regex::new(&format!("^(?:{re_src})$")).map_err(|_| {
        exec(format!(
            "invalid regular expression in label_replace(): {re_src}"
        ))
    })?;
    if !valid_label_name(&dst) {
        return Err(exec(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let series = eval::eval_vector(ctx, args[0], grid)?;
    relabel(series, grid, |ls| {
        let src_val = labels::get(ls, &src);
        match re.captures(src_val) {
            None => ls.clone(),
            Some(caps) => {
                let mut res = String::new();
                caps.expand(&repl, &mut res);
                let mut out = ls.clone();
                labels::set(&mut out, &dst, &res);
                out
            }
        }
    })
}

fn label_join(ctx: &Ctx, args: &[&Expr], grid: Grid) -> Result<Val, QueryError> {
    let dst = eval::string_arg(args[1])?;
    let sep = eval::string_arg(args[2])?;
    let srcs = args[3..]
        .iter()
        .map(|a| eval::string_arg(a))
        .collect::<Result<Vec<_>, _>>()?;
    if !valid_label_name(&dst) {
        return Err(exec(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    if let Some(bad) = srcs.iter().find(|s| !valid_label_name(s)) {
        return Err(exec(format!(
            "invalid source label name in label_join(): {bad}"
        )));
    }
    let series = eval::eval_vector(ctx, args[0], grid)?;
    relabel(series, grid, |ls| {
        let joined: Vec<&str> = srcs.iter().map(|s| labels::get(ls, s)).collect();
        let mut out = ls.clone();
        labels::set(&mut out, &dst, &joined.join(&sep));
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_utc() {
        // 2024-02-29T13:45:00Z, a Thursday.
        let t = 1_709_214_300.0;
        assert_eq!(date_fn("year")(t), 2024.0);
        assert_eq!(date_fn("month")(t), 2.0);
        assert_eq!(date_fn("day_of_month")(t), 29.0);
        assert_eq!(date_fn("days_in_month")(t), 29.0);
        assert_eq!(date_fn("day_of_week")(t), 4.0);
        assert_eq!(date_fn("day_of_year")(t), 60.0);
        assert_eq!(date_fn("hour")(t), 13.0);
        assert_eq!(date_fn("minute")(t), 45.0);
        assert!(date_fn("hour")(f64::NAN).is_nan());
    }

    #[test]
    fn label_names() {
        assert!(valid_label_name("a_1"));
        assert!(valid_label_name("_x"));
        assert!(!valid_label_name("1a"));
        assert!(!valid_label_name(""));
        assert!(!valid_label_name("a-b"));
    }

    #[test]
    fn sgn_keeps_nan_and_zero() {
        let f = simple_fn("sgn").unwrap();
        assert_eq!(f(-3.0), -1.0);
        assert_eq!(f(0.0), 0.0);
        assert!(f(f64::NAN).is_nan());
    }
}
