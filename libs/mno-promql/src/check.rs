//! Parsing and the supported-subset check: everything the evaluator cannot
//! answer exactly is refused up front with a `bad_data` error naming it.

use promql_parser::parser::token::{T_LIMIT_RATIO, T_LIMITK};
use std::time::Duration;

use promql_parser::parser::{self, Expr, Offset, VectorSelector};

use crate::error::QueryError;
use crate::{aggregations, functions, rangefns};

/// Parse `expr` and check that this engine supports every part of it (for `rules check`).
pub fn check(expr: &str) -> Result<(), QueryError> {
    parse(expr).map(|_| ())
}

/// Parse a series selector (`match[]` of the metadata endpoints, Prometheus'
/// `ParseMetricSelector`) into store matchers.
pub fn parse_metric_selector(s: &str) -> Result<Vec<crate::storage::Matcher>, QueryError> {
    let ast = parser::parse(s).map_err(|e| QueryError::BadData(format!("parse error: {e}")))?;
    match ast {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {
            selector(&vs).map_err(|e| QueryError::BadData(format!("parse error: {e}")))?;
            Ok(crate::selector::matchers(&vs))
        }
        _ => Err(QueryError::BadData(format!(
            "parse error: expected a series selector, got {s:?}"
        ))),
    }
}

/// Parse and check, with messages as `/api/v1/query` words them.
pub(crate) fn parse_for_query(expr: &str) -> Result<Expr, QueryError> {
    parse(expr).map_err(|e| QueryError::BadData(format!("invalid parameter \"query\": {e}")))
}

/// Longest query text accepted; real dashboard queries are a few hundred bytes.
pub(crate) const MAX_QUERY_BYTES: usize = 64 * 1024;
/// Deepest bracket nesting accepted before parsing (the parser recurses on it).
const MAX_BRACKET_DEPTH: usize = 64;
/// Most operators accepted (chains of thousands make the parser quadratic).
const MAX_OPERATORS: usize = 1000;
/// Deepest expression tree accepted (the evaluator recurses on it).
const MAX_AST_DEPTH: usize = 128;

/// Stack for the parser thread: generous, since only touched pages cost memory.
const PARSE_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Parse on a thread with a large stack: the parser and the drop of a
/// rejected, deeply nested tree recurse, and the caller may be on a small
/// stack (tokio's blocking pool gives 2 MiB). Accepted trees are shallow.
fn parse(expr: &str) -> Result<Expr, QueryError> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("promql-parse".into())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(s, || parse_here(expr))
            .map_err(|e| QueryError::Execution(format!("cannot start the parser: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(QueryError::BadData("parse error: the parser failed".into())))
    })
}

fn parse_here(expr: &str) -> Result<Expr, QueryError> {
    if expr.trim().is_empty() {
        return Err(QueryError::BadData(
            "parse error: no expression found in input".into(),
        ));
    }
    // Limits that keep a hostile query from exhausting the stack: Go grows
    // its stacks, Rust threads cannot.
    if expr.len() > MAX_QUERY_BYTES {
        return Err(QueryError::BadData(format!(
            "query is too long: {} bytes, at most {MAX_QUERY_BYTES}",
            expr.len()
        )));
    }
    let sh = shape(expr);
    if sh.depth > MAX_BRACKET_DEPTH {
        return Err(QueryError::BadData(format!(
            "query nests brackets more than {MAX_BRACKET_DEPTH} deep"
        )));
    }
    // The parser's time grows with the square of a chain's length.
    if sh.operators > MAX_OPERATORS {
        return Err(QueryError::BadData(format!(
            "query has more than {MAX_OPERATORS} operators"
        )));
    }
    let ast =
        parser::parse(expr).map_err(|e| QueryError::BadData(crate::syntax::describe(expr, &e)))?;
    if too_deep(&ast, 0) {
        return Err(QueryError::BadData(format!(
            "expression is nested more than {MAX_AST_DEPTH} levels deep"
        )));
    }
    invalid(&ast).map_err(|e| QueryError::BadData(format!("parse error: {e}")))?;
    supported(&ast)
        .map_err(|what| QueryError::BadData(format!("not supported by this agent: {what}")))?;
    Ok(ast)
}

/// What a pre-parse scan sees: the deepest bracket nesting, and the number
/// of operators outside label matchers (an upper bound on binary operators).
struct Shape {
    depth: usize,
    operators: usize,
}

/// One pass over the text outside string literals.
fn shape(s: &str) -> Shape {
    let (mut depth, mut max, mut braces, mut operators) = (0usize, 0usize, 0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut word = String::new();
    let end_word = |word: &mut String, operators: &mut usize| {
        if matches!(word.as_str(), "and" | "or" | "unless" | "atan2") {
            *operators += 1;
        }
        word.clear();
    };
    for c in s.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        end_word(&mut word, &mut operators);
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
                braces += usize::from(c == '{');
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                braces = braces.saturating_sub(usize::from(c == '}'));
            }
            '+' | '-' | '*' | '/' | '%' | '^' | '<' | '>' | '=' | '!' if braces == 0 => {
                operators += 1
            }
            _ => {}
        }
    }
    end_word(&mut word, &mut operators);
    Shape {
        depth: max,
        operators,
    }
}

/// Whether the tree is deeper than `MAX_AST_DEPTH` (recursing no deeper than that).
fn too_deep(e: &Expr, depth: usize) -> bool {
    if depth > MAX_AST_DEPTH {
        return true;
    }
    let d = depth + 1;
    match e {
        Expr::Paren(p) => too_deep(&p.expr, d),
        Expr::Unary(u) => too_deep(&u.expr, d),
        Expr::Subquery(s) => too_deep(&s.expr, d),
        Expr::Aggregate(a) => {
            too_deep(&a.expr, d) || a.param.as_ref().is_some_and(|p| too_deep(p, d))
        }
        Expr::Binary(b) => too_deep(&b.lhs, d) || too_deep(&b.rhs, d),
        Expr::Call(c) => c.args.args.iter().any(|a| too_deep(a, d)),
        _ => false,
    }
}

/// The selector must not match the empty label set (Prometheus refuses `{a=~".*"}`).
fn selector(vs: &VectorSelector) -> Result<(), String> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err("'or' between label matchers".into());
    }
    let non_empty = vs.name.is_some() || vs.matchers.matchers.iter().any(|m| !m.is_match(""));
    if !non_empty {
        return Err("vector selector must contain at least one non-empty matcher".into());
    }
    Ok(())
}

/// Go's `time.Duration` limit, which Prometheus' parser enforces.
const MAX_DURATION: Duration = Duration::from_nanos(i64::MAX as u64);

fn duration(d: &Duration) -> Result<(), String> {
    if *d > MAX_DURATION {
        return Err("duration out of range".into());
    }
    Ok(())
}

fn positive_duration(d: &Duration) -> Result<(), String> {
    if d.is_zero() {
        return Err("duration must be greater than 0".into());
    }
    duration(d)
}

fn offset(o: &Option<Offset>) -> Result<(), String> {
    match o {
        Some(Offset::Pos(d)) | Some(Offset::Neg(d)) => duration(d),
        None => Ok(()),
    }
}

/// Syntax the parser accepts but Prometheus (and so this engine) refuses:
/// a `bad_data` parse error.
fn invalid(e: &Expr) -> Result<(), String> {
    match e {
        Expr::Paren(p) => invalid(&p.expr),
        Expr::Unary(u) => invalid(&u.expr),
        Expr::VectorSelector(vs) => offset(&vs.offset),
        Expr::MatrixSelector(ms) => {
            positive_duration(&ms.range)?;
            offset(&ms.vs.offset)
        }
        Expr::Subquery(sq) => {
            positive_duration(&sq.range)?;
            if let Some(step) = &sq.step {
                positive_duration(step)?;
            }
            offset(&sq.offset)?;
            invalid(&sq.expr)
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                invalid(p)?;
            }
            invalid(&a.expr)
        }
        Expr::Binary(b) => {
            invalid(&b.lhs)?;
            invalid(&b.rhs)
        }
        Expr::Call(c) => c.args.args.iter().try_for_each(|a| invalid(a)),
        _ => Ok(()),
    }
}

fn supported(e: &Expr) -> Result<(), String> {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Paren(p) => supported(&p.expr),
        Expr::Unary(u) => supported(&u.expr),
        Expr::VectorSelector(vs) => selector(vs),
        Expr::MatrixSelector(ms) => selector(&ms.vs),
        Expr::Subquery(sq) => {
            if sq.at.is_some() {
                return Err("the @ modifier on a subquery".into());
            }
            supported(&sq.expr)
        }
        Expr::Aggregate(a) => {
            let id = a.op.id();
            if id == T_LIMITK
                || id == T_LIMIT_RATIO
                || !aggregations::NAMES.contains(&a.op.to_string().as_str())
            {
                return Err(format!("aggregation {:?}", a.op.to_string()));
            }
            if let Some(p) = &a.param {
                supported(p)?;
            }
            supported(&a.expr)
        }
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier
                && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return Err("fill modifiers on binary operators".into());
            }
            supported(&b.lhs)?;
            supported(&b.rhs)
        }
        Expr::Call(c) => {
            let name = c.func.name;
            if !functions::NAMES.contains(&name) && !rangefns::NAMES.contains(&name) {
                return Err(format!("function {name:?}"));
            }
            c.args.args.iter().try_for_each(|a| supported(a))
        }
        Expr::Extension(_) => Err("extension expressions".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_subset() {
        for q in [
            "up",
            "rate(node_cpu_seconds_total{mode!=\"idle\"}[5m])",
            "avg by (mode) (rate(node_cpu_seconds_total[1m]))",
            "topk(3, x) / on(job) group_left(instance) y",
            "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
            "max_over_time(rate(x[1m])[10m:1m])",
            "x offset 5m > bool 3",
            "label_replace(up, \"a\", \"$1\", \"job\", \"(.*)\")",
        ] {
            check(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn shape_ignores_strings_and_matchers() {
        let sh = shape("sum by (a) (rate(x{a=~\"(((\", b!=\"-\"}[5m])) / on(a) y and z");
        assert_eq!(sh.depth, 3);
        assert_eq!(sh.operators, 2);
        assert_eq!(
            shape("label_replace(x, \"a\", \"$1\", \"b\", \"(.*)\")").depth,
            1
        );
    }

    #[test]
    fn metric_selectors() {
        let m = parse_metric_selector("up{job=~\"a|b\"}").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "__name__");
        assert!(m[1].matches("a") && !m[1].matches("ab"));
        assert!(parse_metric_selector("rate(up[5m])").is_err());
        assert!(parse_metric_selector("up offset 5m").is_err());
        assert!(parse_metric_selector("{job=~\".*\"}").is_err());
    }

    #[test]
    fn refuses_with_bad_data_naming_the_part() {
        let cases = [
            ("rate(x[5m]", "parse error"),
            ("nosuchfn(x)", "parse error"),
            ("mad_over_time(x[5m])", "mad_over_time"),
            ("limitk(2, x)", "limitk"),
            ("max_over_time(x[5m:1m] @ 100)", "@ modifier"),
            ("{a=~\".*\"}", "non-empty matcher"),
            ("", "no expression"),
            ("rate(x[1000000d])", "duration out of range"),
            ("x offset 300y", "duration out of range"),
            ("x[0s]", "greater than 0"),
            ("rate(x[5m:0s])", "greater than 0"),
            (
                &format!("{}x{}", "sum(".repeat(100), ")".repeat(100)),
                "nests brackets",
            ),
            (&format!("1{}", " + 1".repeat(200)), "nested more than"),
            (&"x".repeat(70_000), "too long"),
            (&format!("1{}", " * 1".repeat(2000)), "operators"),
            (&format!("x{}", " or x".repeat(2000)), "operators"),
        ];
        for (q, want) in cases {
            let e = check(q).expect_err(q);
            let q = &q[..q.len().min(40)];
            assert_eq!(e.error_type(), "bad_data", "{q}");
            assert!(e.to_string().contains(want), "{q}: {e}");
        }
    }
}
