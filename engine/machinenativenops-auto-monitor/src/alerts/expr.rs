//! Rule expressions: plain threshold rules on the latest tick, everything else through PromQL.
//!
//! Most alert rules are `selector OP number` (`mno_disk_usage_percent > 90`). Those are
//! recognised once, at load, and evaluated straight over the latest batch: a family looked up
//! by name, its samples filtered by the matchers and the comparison. That keeps a thousand
//! rules over a hundred thousand series within a few milliseconds per tick. Any other
//! expression (functions, aggregations, ranges, vector-vector operators) goes to the query
//! engine ([`mno_promql::instant_query`]) over a [`Storage`]: the SQLite store when the agent
//! has one, else a buffer of recent batches (see `ring.rs`). Both paths give Prometheus'
//! answer for the same data.

use std::collections::HashMap;
use std::time::Duration;

use mno_promql::{MatchOp, Matcher, Storage};
use promql_parser::parser::{self, Expr as Ast};

use crate::metrics::{Batch, Family, Sample};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// Parse `>`, `>=`, `<`, `<=`, `==`, `!=`.
    pub fn parse(s: &str) -> Option<CmpOp> {
        Some(match s.trim() {
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            _ => return None,
        })
    }

    fn apply(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

/// `selector` or `selector OP number` (or `number OP selector`), evaluated on the latest batch.
#[derive(Debug, Clone)]
pub struct Threshold {
    /// Metric name, when the selector has one.
    pub name: Option<String>,
    /// The other matchers (a `__name__` matcher stays here when there is no plain name).
    pub matchers: Vec<Matcher>,
    /// The comparison; `None` for a bare selector (every series is a result).
    pub cmp: Option<(CmpOp, f64, bool)>,
    kinds: Vec<Quick>,
}

/// Regex matchers common in rules that need no regex engine (`=~".*"`, `=~".+"`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Quick {
    Any,
    NonEmpty,
    General,
}

fn quick(m: &Matcher) -> Quick {
    match (m.op, m.value.as_str()) {
        (MatchOp::Regex, ".*") => Quick::Any,
        (MatchOp::Regex, ".+") => Quick::NonEmpty,
        _ => Quick::General,
    }
}

impl Threshold {
    fn keeps(&self, v: f64) -> bool {
        match self.cmp {
            None => true,
            // `5 < x` keeps x when 5 < x; the vector's value is the result, as in Prometheus.
            Some((op, k, scalar_left)) => {
                if scalar_left {
                    op.apply(k, v)
                } else {
                    op.apply(v, k)
                }
            }
        }
    }

    fn label_ok(&self, family: &str, s: &Sample) -> bool {
        self.matchers.iter().zip(&self.kinds).all(|(m, kind)| {
            let v = if m.name == "__name__" {
                family
            } else {
                s.labels
                    .iter()
                    .find(|(k, _)| *k == m.name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            match kind {
                Quick::Any => true,
                Quick::NonEmpty => !v.is_empty(),
                Quick::General => m.matches(v),
            }
        })
    }

    /// Call `f(family name, sample)` for every sample of the batch in the result.
    pub fn for_each<'a>(&self, index: &BatchIndex<'a>, mut f: impl FnMut(&'a str, &'a Sample)) {
        let fams: &[&'a Family] = match &self.name {
            Some(n) => match index.by_name.get(n.as_str()) {
                Some(v) => v,
                None => return,
            },
            None => &index.all,
        };
        for fam in fams {
            for s in &fam.samples {
                if self.keeps(s.value) && self.label_ok(&fam.name, s) {
                    f(&fam.name, s);
                }
            }
        }
    }
}

/// The latest batch's families by name, built once per evaluation.
pub struct BatchIndex<'a> {
    by_name: HashMap<&'a str, Vec<&'a Family>>,
    all: Vec<&'a Family>,
}

impl<'a> BatchIndex<'a> {
    /// Index `batch`.
    pub fn new(batch: &'a Batch) -> BatchIndex<'a> {
        let mut by_name: HashMap<&'a str, Vec<&'a Family>> =
            HashMap::with_capacity(batch.families.len());
        for f in &batch.families {
            by_name.entry(f.name.as_str()).or_default().push(f);
        }
        BatchIndex {
            by_name,
            all: batch.families.iter().collect(),
        }
    }
}

/// A compiled rule expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// Evaluated directly on the latest batch.
    Threshold(Threshold),
    /// Evaluated by the query engine; `range` is how much history it reads.
    General {
        /// The expression text.
        text: String,
        /// The longest range, offset and lookback the expression reaches back.
        range: Duration,
    },
}

/// One result element: labels (including `__name__` when kept) and value.
pub type Element = (Vec<(String, String)>, f64);

/// Why an expression cannot be used as an alert condition.
pub fn compile(text: &str) -> Result<Expr, String> {
    let ast =
        parser::parse(text).map_err(|e| mno_promql::describe_parse_error(text, &first_line(&e)))?;
    match ast.value_type() {
        parser::value::ValueType::Vector => {}
        t => {
            return Err(format!(
                "an alert expression must return an instant vector, this returns a {t}"
            ));
        }
    }
    if let Some(t) = threshold(&ast)? {
        return Ok(Expr::Threshold(t));
    }
    mno_promql::check(text).map_err(|e| e.to_string())?;
    Ok(Expr::General {
        text: text.to_string(),
        range: reach(&ast) + LOOKBACK,
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

/// Prometheus' lookback for instant selectors.
pub const LOOKBACK: Duration = Duration::from_secs(300);

fn unparen(mut e: &Ast) -> &Ast {
    while let Ast::Paren(p) = e {
        e = &p.expr;
    }
    e
}

fn number(e: &Ast) -> Option<f64> {
    match unparen(e) {
        Ast::NumberLiteral(n) => Some(n.val),
        Ast::Unary(u) => number(&u.expr).map(|v| -v),
        _ => None,
    }
}

fn selector(e: &Ast) -> Result<Option<Threshold>, String> {
    let Ast::VectorSelector(vs) = unparen(e) else {
        return Ok(None);
    };
    if vs.offset.is_some() || vs.at.is_some() || !vs.matchers.or_matchers.is_empty() {
        return Ok(None);
    }
    let mut matchers = Vec::new();
    for m in &vs.matchers.matchers {
        if vs.name.is_some()
            && m.name == "__name__"
            && matches!(m.op, promql_parser::label::MatchOp::Equal)
        {
            continue;
        }
        let op = match m.op {
            promql_parser::label::MatchOp::Equal => MatchOp::Equal,
            promql_parser::label::MatchOp::NotEqual => MatchOp::NotEqual,
            promql_parser::label::MatchOp::Re(_) => MatchOp::Regex,
            promql_parser::label::MatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        matchers.push(Matcher::new(&m.name, op, &m.value).map_err(|e| format!("bad regex: {e}"))?);
    }
    Ok(Some(Threshold {
        name: vs.name.clone(),
        kinds: matchers.iter().map(quick).collect(),
        matchers,
        cmp: None,
    }))
}

fn threshold(e: &Ast) -> Result<Option<Threshold>, String> {
    let e = unparen(e);
    if let Some(t) = selector(e)? {
        return Ok(Some(t));
    }
    let Ast::Binary(b) = e else {
        return Ok(None);
    };
    if !b.op.is_comparison_operator() || b.modifier.as_ref().is_some_and(|m| m.return_bool) {
        return Ok(None);
    }
    let Some(op) = CmpOp::parse(&b.op.to_string()) else {
        return Ok(None);
    };
    if let (Some(mut t), Some(k)) = (selector(&b.lhs)?, number(&b.rhs)) {
        t.cmp = Some((op, k, false));
        return Ok(Some(t));
    }
    if let (Some(k), Some(mut t)) = (number(&b.lhs), selector(&b.rhs)?) {
        t.cmp = Some((op, k, true));
        return Ok(Some(t));
    }
    Ok(None)
}

/// How far back in time an expression reads (ranges, subqueries, offsets).
fn reach(e: &Ast) -> Duration {
    match e {
        Ast::Aggregate(a) => reach(&a.expr).max(a.param.as_deref().map(reach).unwrap_or_default()),
        Ast::Unary(u) => reach(&u.expr),
        Ast::Binary(b) => reach(&b.lhs).max(reach(&b.rhs)),
        Ast::Paren(p) => reach(&p.expr),
        Ast::Subquery(s) => reach(&s.expr) + s.range + offset(&s.offset),
        Ast::MatrixSelector(m) => m.range + offset(&m.vs.offset),
        Ast::VectorSelector(v) => offset(&v.offset),
        Ast::Call(c) => c
            .args
            .args
            .iter()
            .map(|a| reach(a))
            .max()
            .unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

fn offset(o: &Option<promql_parser::parser::Offset>) -> Duration {
    match o {
        Some(promql_parser::parser::Offset::Pos(d)) => *d,
        _ => Duration::ZERO,
    }
}

/// Evaluate a general expression at `t_ms` through the query engine.
pub fn eval_general(storage: &dyn Storage, text: &str, t_ms: i64) -> Result<Vec<Element>, String> {
    let v = mno_promql::instant_query(storage, text, t_ms, &mno_promql::QueryOptions::default())
        .map_err(|e| e.to_string())?;
    match v {
        mno_promql::Value::Vector(samples) => {
            Ok(samples.into_iter().map(|s| (s.labels, s.v)).collect())
        }
        other => Err(format!(
            "expression returned a {}, not an instant vector",
            other.result_type()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Family;

    fn batch() -> Batch {
        let mut disk = Family::gauge("disk", "d");
        disk.push(&[("mountpoint", "/")], 95.0);
        disk.push(&[("mountpoint", "/var")], 50.0);
        disk.push(&[("mountpoint", "/boot")], f64::NAN);
        Batch {
            collected_at: std::time::SystemTime::now(),
            families: vec![disk, Family::gauge("up", "u").with(&[("job", "a")], 0.0)],
        }
    }

    fn run(expr: &str) -> Vec<String> {
        let b = batch();
        let idx = BatchIndex::new(&b);
        let Expr::Threshold(t) = compile(expr).unwrap() else {
            panic!("{expr} should be a threshold rule");
        };
        let mut out = Vec::new();
        t.for_each(&idx, |n, s| {
            out.push(format!(
                "{n}{:?}={}",
                s.labels.first().map(|l| l.1.as_str()).unwrap_or(""),
                s.value
            ))
        });
        out
    }

    #[test]
    fn threshold_rules_filter_like_prometheus() {
        assert_eq!(run("disk > 90"), vec!["disk\"/\"=95"]);
        assert_eq!(run("(90 < disk)"), vec!["disk\"/\"=95"]);
        assert_eq!(
            run("disk{mountpoint=~\"/v.*\"} >= 50"),
            vec!["disk\"/var\"=50"]
        );
        assert_eq!(run("disk < -1"), Vec::<String>::new());
        assert_eq!(run("up == 0").len(), 1);
        assert_eq!(run("{__name__=~\"d.*\"} != 1").len(), 3, "NaN != 1 is true");
        assert_eq!(run("missing > 1").len(), 0);
    }

    #[test]
    fn other_expressions_need_the_engine_or_are_rejected() {
        assert!(matches!(
            compile("rate(x[5m]) > 1").unwrap(),
            Expr::General { range, .. } if range == Duration::from_secs(600)
        ));
        assert!(matches!(
            compile("x > bool 1").unwrap(),
            Expr::General { .. }
        ));
        assert!(compile("1 + 1").unwrap_err().contains("instant vector"));
        assert!(compile("x >").is_err());
        assert!(compile("x[5m]").unwrap_err().contains("instant vector"));
    }
}
