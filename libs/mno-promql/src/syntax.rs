//! Where a syntax error is, and what token is unexpected there.
//!
//! `promql-parser` reports a grammar error only as "invalid promql query" (its
//! parser's error list is not public). When that happens, this module walks the
//! public lexer's tokens with a small recursive-descent recognizer of PromQL's
//! syntax and names the first token that cannot continue the expression, with
//! its line and column, in Prometheus' words: `1:6: parse error: unexpected end
//! of input`, `1:11: parse error: unexpected identifier "baz"`. The recognizer
//! is only consulted after the real parser has refused the text, so it decides
//! nothing about validity; if it accepts the text anyway, the parser's own
//! message stands.

use lrpar::{Lexeme, Lexer as _, NonStreamingLexer};
use promql_parser::parser::lexer;
use promql_parser::parser::token::*;

/// The parser's message when its grammar rejects the text.
const GRAMMAR_ERROR: &str = "invalid promql query";

/// A located syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Line within the expression, 1-based.
    pub line: usize,
    /// Column within that line, 1-based, in characters.
    pub column: usize,
    /// What is wrong (`unexpected end of input`).
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: parse error: {}",
            self.line, self.column, self.message
        )
    }
}

/// The parser's error `raw` for `expr`, located when possible: `L:C: parse error: …` (as
/// Prometheus words it), else `parse error: raw`.
pub fn describe(expr: &str, raw: &str) -> String {
    match locate(expr, raw) {
        Some(e) => e.to_string(),
        None => format!("parse error: {raw}"),
    }
}

/// Locate the error `raw` that the parser gave for `expr`.
pub fn locate(expr: &str, raw: &str) -> Option<SyntaxError> {
    if raw.starts_with("unclosed left parenthesis") {
        // The lexer stops before the parser sees anything; close the parentheses to let the
        // recognizer look for an earlier error, else report the end of input (Prometheus'
        // position for an unclosed parenthesis).
        let mut closed = expr.to_string();
        for _ in 0..64 {
            closed.push(')');
            if let Ok(lx) = lexer(&closed) {
                let toks = tokens(&lx);
                if let Some((at, msg)) = recognize(&toks)
                    && toks.get(at).is_some_and(|t| t.start < expr.len())
                {
                    return Some(at_offset(expr, toks[at].start, msg));
                }
                break;
            }
        }
        return Some(at_offset(expr, expr.len(), raw.to_string()));
    }
    if raw != GRAMMAR_ERROR {
        return lexer_error_at(expr, raw);
    }
    let lx = lexer(expr).ok()?;
    let toks = tokens(&lx);
    let (at, msg) = recognize(&toks)?;
    let offset = toks.get(at).map_or(expr.len(), |t| t.start);
    Some(at_offset(expr, offset, msg))
}

/// Where the lexer error `raw` is: the end of the shortest prefix of `expr` that gives
/// the same error (found by bisection: once the offending character is in, the error is).
fn lexer_error_at(expr: &str, raw: &str) -> Option<SyntaxError> {
    let same = |end: usize| matches!(lexer(&expr[..end]), Err(e) if e == raw);
    if !same(expr.len()) {
        return None;
    }
    let bounds: Vec<usize> = expr.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    // The first char boundary whose prefix already fails the same way.
    let first = bounds.partition_point(|&end| !same(end));
    // Prometheus' lexer reports the position after the offending character.
    let end = *bounds.get(first)?;
    Some(at_offset(expr, end, raw.to_string()))
}

fn at_offset(expr: &str, offset: usize, message: String) -> SyntaxError {
    let before = &expr[..offset.min(expr.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    SyntaxError {
        line,
        column: before[line_start..].chars().count() + 1,
        message,
    }
}

/// One token: its kind and where it is in the text.
#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    id: TokenId,
    start: usize,
    text: &'a str,
}

fn tokens<'a>(
    lx: &'a lrlex::LRNonStreamingLexer<'a, 'a, lrlex::DefaultLexerTypes<TokenId>>,
) -> Vec<Tok<'a>> {
    lx.iter()
        .filter_map(Result::ok)
        .filter(|l| l.tok_id() != T_EOF)
        .map(|l| {
            let span = l.span();
            Tok {
                id: l.tok_id(),
                start: span.start(),
                text: lx.span_str(span),
            }
        })
        .collect()
}

/// The index of the first token that cannot continue the expression (the token count for
/// the end of input) and what to say about it; `None` when the tokens form an expression.
fn recognize(toks: &[Tok]) -> Option<(usize, String)> {
    let mut r = Recognizer { toks, pos: 0 };
    let res = r.expr().and_then(|_| match r.peek() {
        None => Ok(()),
        Some(_) => Err(r.unexpected("")),
    });
    res.err()
}

type Step = Result<(), (usize, String)>;

struct Recognizer<'t, 'a> {
    toks: &'t [Tok<'a>],
    pos: usize,
}

const BINARY: &[TokenId] = &[
    T_ADD, T_SUB, T_MUL, T_DIV, T_MOD, T_POW, T_EQLC, T_NEQ, T_GTR, T_LSS, T_GTE, T_LTE, T_LAND,
    T_LOR, T_LUNLESS, T_ATAN2,
];
const MATCH_OPS: &[TokenId] = &[T_EQL, T_NEQ, T_EQL_REGEX, T_NEQ_REGEX];
const KEYWORDS: &[TokenId] = &[
    T_BY,
    T_WITHOUT,
    T_ON,
    T_IGNORING,
    T_GROUP_LEFT,
    T_GROUP_RIGHT,
    T_BOOL,
    T_OFFSET,
    T_SMOOTHED,
    T_ANCHORED,
    T_FILL,
    T_FILL_LEFT,
    T_FILL_RIGHT,
    T_START,
    T_END,
    T_STEP,
];

fn is_aggregator(id: TokenId) -> bool {
    TokenType::new(id).is_aggregator()
}

impl Recognizer<'_, '_> {
    fn peek(&self) -> Option<TokenId> {
        self.toks.get(self.pos).map(|t| t.id)
    }

    fn peek_at(&self, n: usize) -> Option<TokenId> {
        self.toks.get(self.pos + n).map(|t| t.id)
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    /// "unexpected X[ in context]" at the current token.
    fn unexpected(&self, context: &str) -> (usize, String) {
        let what = match self.toks.get(self.pos) {
            None => "end of input".to_string(),
            Some(t) => describe_token(t),
        };
        let ctx = if context.is_empty() {
            String::new()
        } else {
            format!(" in {context}")
        };
        (self.pos, format!("unexpected {what}{ctx}"))
    }

    fn expect(&mut self, id: TokenId, context: &str) -> Step {
        if self.peek() == Some(id) {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(context))
        }
    }

    fn expr(&mut self) -> Step {
        self.unary()?;
        while self.peek().is_some_and(|t| BINARY.contains(&t)) {
            self.bump();
            if self.peek() == Some(T_BOOL) {
                self.bump();
            }
            if matches!(self.peek(), Some(T_ON | T_IGNORING)) {
                self.bump();
                self.label_list("grouping opts")?;
                if matches!(self.peek(), Some(T_GROUP_LEFT | T_GROUP_RIGHT)) {
                    self.bump();
                    if self.peek() == Some(T_LEFT_PAREN) {
                        self.label_list("grouping opts")?;
                    }
                }
            }
            self.unary()?;
        }
        Ok(())
    }

    fn unary(&mut self) -> Step {
        while matches!(self.peek(), Some(T_ADD | T_SUB)) {
            self.bump();
        }
        self.primary()?;
        self.postfix()
    }

    fn primary(&mut self) -> Step {
        match self.peek() {
            Some(T_NUMBER | T_STRING | T_DURATION) => {
                self.bump();
                Ok(())
            }
            Some(T_LEFT_PAREN) => {
                self.bump();
                self.expr()?;
                self.expect(T_RIGHT_PAREN, "paren expression")
            }
            Some(t) if is_aggregator(t) => self.aggregation(),
            Some(T_IDENTIFIER) if self.peek_at(1) == Some(T_LEFT_PAREN) => {
                self.bump();
                self.args("function call")
            }
            Some(T_IDENTIFIER | T_METRIC_IDENTIFIER) => {
                self.bump();
                if self.peek() == Some(T_LEFT_BRACE) {
                    self.matchers()?;
                }
                Ok(())
            }
            Some(T_LEFT_BRACE) => self.matchers(),
            _ => Err(self.unexpected("")),
        }
    }

    fn aggregation(&mut self) -> Step {
        self.bump();
        if matches!(self.peek(), Some(T_BY | T_WITHOUT)) {
            self.bump();
            self.label_list("grouping opts")?;
        }
        self.args("aggregation")?;
        if matches!(self.peek(), Some(T_BY | T_WITHOUT)) {
            self.bump();
            self.label_list("grouping opts")?;
        }
        Ok(())
    }

    /// `( [expr {, expr}] )`.
    fn args(&mut self, context: &str) -> Step {
        self.expect(T_LEFT_PAREN, context)?;
        if self.peek() == Some(T_RIGHT_PAREN) {
            self.bump();
            return Ok(());
        }
        loop {
            self.expr()?;
            match self.peek() {
                Some(T_COMMA) => self.bump(),
                Some(T_RIGHT_PAREN) => {
                    self.bump();
                    return Ok(());
                }
                _ => return Err(self.unexpected(context)),
            }
        }
    }

    fn label_name(&mut self, context: &str) -> Step {
        match self.peek() {
            Some(T_IDENTIFIER | T_METRIC_IDENTIFIER | T_STRING) => {
                self.bump();
                Ok(())
            }
            Some(t) if is_aggregator(t) || KEYWORDS.contains(&t) || BINARY.contains(&t) => {
                // Keywords and operator words (`on`, `and`) are valid label names.
                if matches!(t, T_ADD | T_SUB | T_MUL | T_DIV | T_MOD | T_POW)
                    || matches!(t, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
                {
                    return Err(self.unexpected(context));
                }
                self.bump();
                Ok(())
            }
            _ => Err(self.unexpected(context)),
        }
    }

    /// `( [label {, label} [,]] )`.
    fn label_list(&mut self, context: &str) -> Step {
        self.expect(T_LEFT_PAREN, context)?;
        loop {
            if self.peek() == Some(T_RIGHT_PAREN) {
                self.bump();
                return Ok(());
            }
            self.label_name(context)?;
            match self.peek() {
                Some(T_COMMA) => self.bump(),
                Some(T_RIGHT_PAREN) => {}
                _ => return Err(self.unexpected(context)),
            }
        }
    }

    /// `{ [matcher {, matcher} [,]] }`.
    fn matchers(&mut self) -> Step {
        const CTX: &str = "label matching";
        self.expect(T_LEFT_BRACE, CTX)?;
        loop {
            if self.peek() == Some(T_RIGHT_BRACE) {
                self.bump();
                return Ok(());
            }
            let quoted_name = self.peek() == Some(T_STRING);
            self.label_name(CTX)?;
            if self.peek().is_some_and(|t| MATCH_OPS.contains(&t)) {
                self.bump();
                self.expect(T_STRING, CTX)?;
            } else if !quoted_name {
                return Err(self.unexpected(CTX));
            }
            match self.peek() {
                Some(T_COMMA) => self.bump(),
                Some(T_RIGHT_BRACE) => {}
                _ => return Err(self.unexpected(CTX)),
            }
        }
    }

    /// Range, subquery, `offset` and `@` after a primary expression.
    fn postfix(&mut self) -> Step {
        loop {
            match self.peek() {
                Some(T_LEFT_BRACKET) => {
                    self.bump();
                    if matches!(self.peek(), Some(T_DURATION | T_NUMBER)) {
                        self.bump();
                    } else {
                        return Err(self.unexpected("range or subquery"));
                    }
                    if self.peek() == Some(T_COLON) {
                        self.bump();
                        if matches!(self.peek(), Some(T_DURATION | T_NUMBER)) {
                            self.bump();
                        }
                    }
                    self.expect(T_RIGHT_BRACKET, "range or subquery")?;
                }
                Some(T_OFFSET) => {
                    self.bump();
                    if matches!(self.peek(), Some(T_SUB | T_ADD)) {
                        self.bump();
                    }
                    if matches!(self.peek(), Some(T_DURATION | T_NUMBER)) {
                        self.bump();
                    } else {
                        return Err(self.unexpected("offset"));
                    }
                }
                Some(T_AT) => {
                    self.bump();
                    match self.peek() {
                        Some(T_NUMBER) => self.bump(),
                        Some(T_START | T_END) => {
                            self.bump();
                            self.expect(T_LEFT_PAREN, "@ modifier")?;
                            self.expect(T_RIGHT_PAREN, "@ modifier")?;
                        }
                        _ => return Err(self.unexpected("@ modifier")),
                    }
                }
                _ => return Ok(()),
            }
        }
    }
}

/// A token as Prometheus describes it in "unexpected …" messages.
fn describe_token(t: &Tok) -> String {
    let quoted = |s: &str| format!("{s:?}");
    match t.id {
        T_IDENTIFIER => format!("identifier {}", quoted(t.text)),
        T_METRIC_IDENTIFIER => format!("metric identifier {}", quoted(t.text)),
        T_NUMBER => format!("number {}", quoted(t.text)),
        T_STRING => format!("string {}", quoted(t.text)),
        T_DURATION => format!("duration {}", quoted(t.text)),
        T_LEFT_PAREN => "left parenthesis '('".into(),
        T_RIGHT_PAREN => "right parenthesis ')'".into(),
        T_LEFT_BRACE => "left brace '{'".into(),
        T_RIGHT_BRACE => "right brace '}'".into(),
        T_LEFT_BRACKET => "left bracket '['".into(),
        T_RIGHT_BRACKET => "right bracket ']'".into(),
        T_COMMA => "comma ','".into(),
        T_COLON => "colon ':'".into(),
        T_EQL => "'='".into(),
        T_AT => "<@>".into(),
        id if BINARY.contains(&id) || MATCH_OPS.contains(&id) => format!("<op:{}>", t.text),
        id if is_aggregator(id) => format!("<aggr:{}>", t.text),
        _ => format!("<{}>", t.text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(expr: &str) -> String {
        let raw = promql_parser::parser::parse(expr).unwrap_err();
        describe(expr, &raw)
    }

    #[test]
    fn grammar_errors_name_position_and_token() {
        // The same position and token as Prometheus 2.42's parser reports.
        assert_eq!(msg("up =="), "1:6: parse error: unexpected end of input");
        assert_eq!(
            msg("up == bar baz"),
            "1:11: parse error: unexpected identifier \"baz\""
        );
        assert_eq!(
            msg("up{job=\"a\"} and on() vector(1) +"),
            "1:33: parse error: unexpected end of input"
        );
        assert_eq!(
            msg("foo{a=\"b\"} + bar )"),
            "1:19: parse error: unexpected right parenthesis ')'"
        );
        assert_eq!(
            msg("sum(rate(x[5m]) by (job)"),
            "1:17: parse error: unexpected <by> in aggregation"
        );
        assert_eq!(
            msg("sum by (job) (\n  rate(x[5m]\n)"),
            "3:2: parse error: unclosed left parenthesis"
        );
        assert_eq!(
            msg("rate(x[5m]) > on(job"),
            "1:21: parse error: unclosed left parenthesis"
        );
    }

    #[test]
    fn valid_expressions_are_recognized() {
        for e in [
            "up",
            "-up{job=~\"a|b\",}",
            "sum without (instance) (rate(x_total[5m] offset -1h)) > bool 0",
            "a / on(job) group_left(instance) b",
            "max_over_time(up[1h:5m] @ end())",
            "topk(3, sum by (on, and) (x))",
            "{\"quoted.name\", job=\"a\"}",
            "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
        ] {
            let lx = lexer(e).unwrap();
            assert_eq!(recognize(&tokens(&lx)), None, "{e}");
        }
    }
}
