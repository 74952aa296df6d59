//! Entry points and the expression walker.
//!
//! Every node is evaluated once over the whole step grid of the query and
//! yields a dense per-step result ([`Val`]); a selector therefore reads the
//! store once per query, whatever the number of steps.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

use crate::error::{QueryError, duplicate_labelset, too_many_samples};
use crate::labels::{self, Labels};
use crate::storage::{SeriesData, Storage};
use crate::value::{InstantSample, Value};
use crate::{aggregations, binary, check, functions, selector};

/// Limits and defaults of one query.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// How far back an instant selector looks for the latest sample (Prometheus: 5m).
    pub lookback_ms: i64,
    /// Most samples the query may hold: samples read from the store, and
    /// points of any one intermediate result.
    pub max_samples: usize,
    /// Deadline for the whole evaluation.
    pub timeout: Duration,
    /// Step of subqueries written without one (`x[1h:]`); Prometheus uses the
    /// global evaluation interval, 1m by default.
    pub subquery_step_ms: i64,
    /// Most points per series a range query may ask for (Prometheus: 11,000).
    pub max_points_per_series: i64,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            lookback_ms: 5 * 60 * 1000,
            // Prometheus defaults to 50M; an agent shares its host, so a
            // quarter of that (about 320 MiB of samples) is the ceiling here.
            max_samples: 12_500_000,
            timeout: Duration::from_secs(120),
            subquery_step_ms: 60_000,
            max_points_per_series: 11_000,
        }
    }
}

/// Evaluate `expr` at one instant (`/api/v1/query`).
pub fn instant_query(
    storage: &dyn Storage,
    expr: &str,
    time_ms: i64,
    opts: &QueryOptions,
) -> Result<Value, QueryError> {
    let ast = check::parse_for_query(expr)?;
    let ctx = Ctx::new(storage, opts, time_ms, time_ms);
    let grid = Grid {
        start: time_ms,
        step: 1,
        n: 1,
    };
    match eval(&ctx, &ast, grid)? {
        Val::Scalar(v) => Ok(Value::Scalar {
            t: time_ms,
            v: v.first().copied().unwrap_or(f64::NAN),
        }),
        Val::String(s) => Ok(Value::String { t: time_ms, v: s }),
        Val::Vector(series) => Ok(Value::Vector(
            series
                .into_iter()
                .filter_map(|s| {
                    s.vals.first().copied().flatten().map(|v| InstantSample {
                        labels: s.labels,
                        t: time_ms,
                        v,
                    })
                })
                .collect(),
        )),
        Val::Matrix(mut m) => {
            m.retain(|s| !s.samples.is_empty());
            m.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(Value::Matrix(m))
        }
    }
}

/// Evaluate `expr` at every step from `start_ms` to `end_ms` (`/api/v1/query_range`).
pub fn range_query(
    storage: &dyn Storage,
    expr: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    opts: &QueryOptions,
) -> Result<Value, QueryError> {
    check_range(start_ms, end_ms, step_ms, opts)?;
    let ast = check::parse_for_query(expr)?;
    match ast.value_type() {
        ValueType::Scalar | ValueType::Vector => {}
        other => {
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_name(other)
            )));
        }
    }
    let n = ((end_ms - start_ms) / step_ms) as usize + 1;
    let ctx = Ctx::new(storage, opts, start_ms, end_ms);
    let grid = Grid {
        start: start_ms,
        step: step_ms,
        n,
    };
    let series = match eval(&ctx, &ast, grid)? {
        Val::Scalar(v) => vec![SeriesData {
            labels: Vec::new(),
            samples: v
                .into_iter()
                .enumerate()
                .map(|(i, v)| (grid.ts(i), v))
                .collect(),
        }],
        Val::Vector(series) => series
            .into_iter()
            .map(|s| SeriesData {
                samples: s
                    .vals
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| (grid.ts(i), v)))
                    .collect(),
                labels: s.labels,
            })
            .filter(|s| !s.samples.is_empty())
            .collect(),
        Val::String(_) | Val::Matrix(_) => {
            return Err(QueryError::BadData(
                "invalid expression type for range query, must be Scalar or instant Vector".into(),
            ));
        }
    };
    let mut series = series;
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Value::Matrix(series))
}

/// The checks Prometheus' API makes on a range query's times, with its messages.
fn check_range(
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    opts: &QueryOptions,
) -> Result<(), QueryError> {
    if end_ms < start_ms {
        return Err(QueryError::BadData(
            "end timestamp must not be before start time".into(),
        ));
    }
    if step_ms <= 0 {
        return Err(QueryError::BadData(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
                .into(),
        ));
    }
    if (end_ms as i128 - start_ms as i128) / step_ms as i128 > opts.max_points_per_series as i128 {
        return Err(QueryError::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                .into(),
        ));
    }
    Ok(())
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// The evaluation timestamps: `start + i * step` for `i < n`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub start: i64,
    pub step: i64,
    pub n: usize,
}

impl Grid {
    /// Timestamp of step `i`.
    pub fn ts(&self, i: usize) -> i64 {
        self.start + self.step * i as i64
    }

    /// Timestamp of the last step.
    pub fn end(&self) -> i64 {
        self.ts(self.n.saturating_sub(1))
    }
}

/// A series of an intermediate instant-vector result: one slot per step.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub labels: Labels,
    pub vals: Vec<Option<f64>>,
}

/// The value of an evaluated node.
#[derive(Debug)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Vector(Vec<Series>),
    /// A range vector; only an instant query's top level yields one.
    Matrix(Vec<SeriesData>),
    String(String),
}

/// What every node of one query shares.
pub(crate) struct Ctx<'a> {
    pub storage: &'a dyn Storage,
    pub opts: &'a QueryOptions,
    deadline: Instant,
    loaded: Cell<usize>,
    /// Query start and end, for `@ start()` and `@ end()`.
    pub query_start: i64,
    pub query_end: i64,
}

impl<'a> Ctx<'a> {
    pub fn new(storage: &'a dyn Storage, opts: &'a QueryOptions, start: i64, end: i64) -> Self {
        let now = Instant::now();
        Ctx {
            storage,
            opts,
            deadline: now
                .checked_add(opts.timeout)
                .unwrap_or(now + Duration::from_secs(86_400)),
            loaded: Cell::new(0),
            query_start: start,
            query_end: end,
        }
    }

    /// Fail once the deadline has passed.
    pub fn check_deadline(&self) -> Result<(), QueryError> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout(
                "query timed out in expression evaluation".into(),
            ));
        }
        Ok(())
    }

    /// Samples the store may still return to this query.
    pub fn remaining(&self) -> usize {
        self.opts.max_samples.saturating_sub(self.loaded.get())
    }

    /// Count `n` samples read from the store against the budget.
    pub fn charge(&self, n: usize) -> Result<(), QueryError> {
        let total = self.loaded.get().saturating_add(n);
        if total > self.opts.max_samples {
            return Err(too_many_samples());
        }
        self.loaded.set(total);
        Ok(())
    }

    /// Refuse an intermediate result of more than the budget in points.
    pub fn check_cells(&self, series: usize, steps: usize) -> Result<(), QueryError> {
        if series.saturating_mul(steps) > self.opts.max_samples {
            return Err(too_many_samples());
        }
        Ok(())
    }
}

/// Evaluate one node over `grid`.
pub(crate) fn eval(ctx: &Ctx, expr: &Expr, grid: Grid) -> Result<Val, QueryError> {
    ctx.check_deadline()?;
    match expr {
        Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; grid.n])),
        Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
        Expr::Paren(p) => eval(ctx, &p.expr, grid),
        Expr::Unary(u) => match eval(ctx, &u.expr, grid)? {
            Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
            Val::Vector(series) => {
                let out: Vec<Series> = series
                    .into_iter()
                    .map(|s| Series {
                        labels: labels::drop_name(s.labels),
                        vals: s.vals.into_iter().map(|v| v.map(|x| -x)).collect(),
                    })
                    .collect();
                check_unique(&out)?;
                Ok(Val::Vector(out))
            }
            _ => Err(QueryError::BadData(
                "unary expression only allowed on expressions of type scalar or instant vector"
                    .into(),
            )),
        },
        Expr::VectorSelector(vs) => Ok(Val::Vector(selector::instant(ctx, vs, grid, false)?)),
        Expr::MatrixSelector(_) | Expr::Subquery(_) => {
            // Only reachable at the top of an instant query (functions take
            // their range arguments through `selector::range_arg`).
            let arg = selector::range_arg(ctx, expr, grid)?;
            Ok(Val::Matrix(arg.top_level(grid.start)))
        }
        Expr::Call(c) => functions::call(ctx, c, grid),
        Expr::Aggregate(a) => aggregations::eval(ctx, a, grid),
        Expr::Binary(b) => binary::eval(ctx, b, grid),
        Expr::Extension(_) => Err(QueryError::BadData(
            "extension expressions are not supported".into(),
        )),
    }
}

/// Evaluate a node that must yield an instant vector.
pub(crate) fn eval_vector(ctx: &Ctx, expr: &Expr, grid: Grid) -> Result<Vec<Series>, QueryError> {
    match eval(ctx, expr, grid)? {
        Val::Vector(v) => Ok(v),
        _ => Err(QueryError::BadData(format!(
            "expected an instant vector, got {}",
            type_name(expr.value_type())
        ))),
    }
}

/// Evaluate a node that must yield a scalar.
pub(crate) fn eval_scalar(ctx: &Ctx, expr: &Expr, grid: Grid) -> Result<Vec<f64>, QueryError> {
    match eval(ctx, expr, grid)? {
        Val::Scalar(v) => Ok(v),
        _ => Err(QueryError::BadData(format!(
            "expected a scalar, got {}",
            type_name(expr.value_type())
        ))),
    }
}

/// The value of a string-literal argument.
pub(crate) fn string_arg(expr: &Expr) -> Result<String, QueryError> {
    match expr {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        Expr::Paren(p) => string_arg(&p.expr),
        _ => Err(QueryError::BadData("expected a string literal".into())),
    }
}

/// Whole-result check: no two non-empty series may share a label set
/// (Prometheus checks this after range functions and unary minus).
pub(crate) fn check_unique(series: &[Series]) -> Result<(), QueryError> {
    let mut seen = std::collections::HashSet::with_capacity(series.len());
    for s in series {
        if s.vals.iter().any(Option::is_some) && !seen.insert(&s.labels) {
            return Err(duplicate_labelset());
        }
    }
    Ok(())
}

/// Collects output series by label set, one value per step; a second value for
/// the same labels at the same step is Prometheus' per-step duplicate error.
pub(crate) struct OutBuilder {
    n: usize,
    index: HashMap<Labels, usize>,
    pub series: Vec<Series>,
}

impl OutBuilder {
    pub fn new(n: usize) -> Self {
        OutBuilder {
            n,
            index: HashMap::new(),
            series: Vec::new(),
        }
    }

    /// The slot of `labels`, created (empty) on first use.
    pub fn slot(&mut self, labels: Labels) -> usize {
        if let Some(&i) = self.index.get(&labels) {
            return i;
        }
        self.series.push(Series {
            labels: labels.clone(),
            vals: vec![None; self.n],
        });
        self.index.insert(labels, self.series.len() - 1);
        self.series.len() - 1
    }

    /// Put a value at `step` in slot `i`.
    pub fn put(&mut self, i: usize, step: usize, v: f64) -> Result<(), QueryError> {
        let cell = &mut self.series[i].vals[step];
        if cell.is_some() {
            return Err(duplicate_labelset());
        }
        *cell = Some(v);
        Ok(())
    }

    pub fn finish(self) -> Vec<Series> {
        self.series
    }
}
