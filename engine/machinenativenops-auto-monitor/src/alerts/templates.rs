//! Annotation and label templates: Prometheus' Go-template forms translated to Jinja.
//!
//! Prometheus users write `{{ $labels.mountpoint }}`, `{{ $value | humanize }}`,
//! `{{ humanize $value }}`, `{{ printf "%.1f" $value }}` and `{{ if gt $value 90.0 }}…{{ end }}`.
//! Rather than a template engine of our own, each `{{ … }}` action is rewritten into Jinja
//! (`$labels` → `labels`, `$value` → `value`, Go calls → Jinja calls, `if/else/end` → Jinja
//! blocks) and rendered by minijinja, with Prometheus' functions (`humanize`,
//! `humanizePercentage`, `humanizeDuration`, `printf`, …) as filters and functions. Native
//! Jinja (`{{ value | round(1) }}`, `{% if … %}`) works too. Templates are compiled and
//! test-rendered when rules load, so a bad one is an error at load time.

use std::collections::BTreeMap;

use minijinja::value::{Rest, Value};
use minijinja::{Environment, Error, UndefinedBehavior};

use super::template_funcs::{
    humanize, humanize_duration, humanize_percentage, humanize_timestamp, humanize1024, printf,
    title, to_f64,
};

/// Compiled templates of one rule set, rendered by name.
pub struct TemplateSet {
    env: Environment<'static>,
    next: usize,
}

impl std::fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateSet")
            .field("templates", &self.next)
            .finish()
    }
}

/// What a template sees.
pub struct TemplateData<'a> {
    /// The alert's labels (`$labels`).
    pub labels: &'a [(String, String)],
    /// The sample value (`$value`).
    pub value: f64,
    /// External labels (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// External URL (`$externalURL`).
    pub external_url: &'a str,
}

/// A reference to a compiled template; plain text needs no rendering.
#[derive(Debug, Clone, PartialEq)]
pub enum Tmpl {
    /// Text without template actions.
    Plain(String),
    /// A compiled template, by name in the [`TemplateSet`].
    Compiled(String),
}

impl Default for TemplateSet {
    fn default() -> Self {
        Self::new()
    }
}

impl TemplateSet {
    /// An empty set with Prometheus' template functions registered.
    pub fn new() -> TemplateSet {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_fuel(Some(100_000)); // a runaway loop in a template must not stall evaluation
        for (name, f) in [
            ("humanize", humanize as fn(f64) -> String),
            ("humanize1024", humanize1024),
            ("humanizePercentage", humanize_percentage),
            ("humanizeDuration", humanize_duration),
            ("humanizeTimestamp", humanize_timestamp),
        ] {
            env.add_filter(name, move |v: Value| -> Result<String, Error> {
                Ok(f(to_f64(&v)?))
            });
            env.add_function(name, move |v: Value| -> Result<String, Error> {
                Ok(f(to_f64(&v)?))
            });
        }
        env.add_function("printf", |fmt: String, args: Rest<Value>| {
            printf(&fmt, &args)
        });
        // Go pipes pass the value as the last argument: `$value | printf "%.2f"`.
        env.add_filter(
            "printf",
            |v: Value, fmt: String, args: Rest<Value>| -> Result<String, Error> {
                let mut all: Vec<Value> = args.to_vec();
                all.push(v);
                printf(&fmt, &all)
            },
        );
        for (name, f) in [
            ("toUpper", str::to_uppercase as fn(&str) -> String),
            ("toLower", str::to_lowercase),
        ] {
            env.add_filter(name, move |s: String| f(&s));
            env.add_function(name, move |s: String| f(&s));
        }
        env.add_function("title", |s: String| title(&s));
        type Cmp = fn(&Value, &Value) -> bool;
        for (name, f) in [
            ("eq", (|a, b| a == b) as Cmp),
            ("ne", |a, b| a != b),
            ("lt", |a, b| a < b),
            ("le", |a, b| a <= b),
            ("gt", |a, b| a > b),
            ("ge", |a, b| a >= b),
        ] {
            env.add_function(name, move |a: Value, b: Value| f(&a, &b));
        }
        TemplateSet { env, next: 0 }
    }

    /// Compile `source` (Prometheus or Jinja syntax) and test-render it.
    pub fn add(&mut self, source: &str) -> Result<Tmpl, String> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(Tmpl::Plain(source.to_string()));
        }
        let jinja = translate(source)?;
        let name = format!("t{}", self.next);
        self.next += 1;
        self.env
            .add_template_owned(name.clone(), jinja)
            .map_err(|e| describe(&e))?;
        let t = Tmpl::Compiled(name);
        let probe = TemplateData {
            labels: &[],
            value: 1.0,
            external_labels: &BTreeMap::new(),
            external_url: "",
        };
        self.try_render(&t, &probe)?;
        Ok(t)
    }

    /// Render; an error is rendered as Prometheus does: `<error expanding template: …>`.
    pub fn render(&self, t: &Tmpl, data: &TemplateData) -> String {
        match self.try_render(t, data) {
            Ok(s) => s,
            Err(e) => format!("<error expanding template: {e}>"),
        }
    }

    fn try_render(&self, t: &Tmpl, data: &TemplateData) -> Result<String, String> {
        let name = match t {
            Tmpl::Plain(s) => return Ok(s.clone()),
            Tmpl::Compiled(n) => n,
        };
        let tmpl = self.env.get_template(name).map_err(|e| describe(&e))?;
        let labels: BTreeMap<String, String> = data.labels.iter().cloned().collect();
        let mut ctx: BTreeMap<&str, Value> = BTreeMap::new();
        ctx.insert("labels", Value::from(labels));
        ctx.insert("value", Value::from(data.value));
        ctx.insert("external_labels", Value::from(data.external_labels.clone()));
        ctx.insert("external_url", Value::from(data.external_url));
        tmpl.render(Value::from(ctx)).map_err(|e| describe(&e))
    }
}

fn describe(e: &Error) -> String {
    let mut s = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        s.push_str(&format!(" (template line {line})"));
    }
    s
}

/// Go template functions that take their arguments space-separated.
const GO_FUNCS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizePercentage",
    "humanizeDuration",
    "humanizeTimestamp",
    "printf",
    "title",
    "toUpper",
    "toLower",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
];

/// Rewrite Prometheus (Go template) actions into Jinja; other text is kept.
pub fn translate(src: &str) -> Result<String, String> {
    let mut out = String::with_capacity(src.len() + 16);
    let mut blocks: Vec<&str> = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        out.push_str(&escape_text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = find_close(after).ok_or_else(|| "unclosed {{ action".to_string())?;
        let mut inner = &after[..end];
        rest = &after[end + 2..];
        let (mut ltrim, mut rtrim) = ("", "");
        if let Some(s) = inner.strip_prefix('-') {
            inner = s;
            ltrim = "-";
        }
        if let Some(s) = inner.strip_suffix('-') {
            inner = s;
            rtrim = "-";
        }
        let inner = inner.trim();
        if inner.starts_with("/*") {
            continue; // a Go comment
        }
        let toks = tokenize(inner)?;
        let first = toks.first().map(String::as_str).unwrap_or("");
        let block = |body: String| format!("{{%{ltrim} {body} {rtrim}%}}");
        match first {
            "if" => {
                blocks.push("if");
                out.push_str(&block(format!("if {}", pipeline(&toks[1..])?)));
            }
            "else" if toks.get(1).map(String::as_str) == Some("if") => {
                out.push_str(&block(format!("elif {}", pipeline(&toks[2..])?)));
            }
            "else" => out.push_str(&block("else".into())),
            "end" => match blocks.pop() {
                Some("if") => out.push_str(&block("endif".into())),
                _ => return Err("{{ end }} without a matching {{ if }}".into()),
            },
            "range" | "with" | "define" | "template" | "block" => {
                return Err(format!(
                    "the Go template action {{{{ {first} }}}} is not supported; write it in Jinja syntax ({{% for … %}})"
                ));
            }
            _ => out.push_str(&format!("{{{{{ltrim} {} {rtrim}}}}}", pipeline(&toks)?)),
        }
    }
    out.push_str(&escape_text(rest));
    if let Some(b) = blocks.pop() {
        return Err(format!("{{{{ {b} }}}} without {{{{ end }}}}"));
    }
    Ok(out)
}

/// The end of an action, skipping `}}` inside quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' && q == b'"' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => {
                if b[i] == b'"' || b[i] == b'`' {
                    quote = Some(b[i]);
                } else if b[i] == b'}' && b.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// Literal text may contain `{%` or `{#`, which Jinja would read as tags.
fn escape_text(s: &str) -> String {
    if s.contains("{%") || s.contains("{#") {
        s.replace("{%", "{{ '{%' }}").replace("{#", "{{ '{#' }}")
    } else {
        s.to_string()
    }
}

fn tokenize(s: &str) -> Result<Vec<String>, String> {
    let mut toks = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            let mut t = String::from('"');
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                t.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        t.push(n);
                    }
                } else if c == '"' {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(format!("unterminated string in {{{{ {s} }}}}"));
            }
            toks.push(t);
        } else if c == '`' {
            chars.next();
            let raw: String = chars.by_ref().take_while(|c| *c != '`').collect();
            toks.push(format!("{raw:?}"));
        } else if c == '|' || c == '(' || c == ')' || c == ',' {
            chars.next();
            // `||` is not Go; keep Jinja's `|` as one token each time.
            toks.push(c.to_string());
        } else {
            let mut t = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || "|(),\"".contains(c) {
                    break;
                }
                t.push(c);
                chars.next();
            }
            toks.push(t);
        }
    }
    Ok(toks)
}

fn operand(t: &str) -> String {
    if t.starts_with('"') {
        return t.to_string();
    }
    let map = [
        ("$labels", "labels"),
        ("$value", "value"),
        ("$externalLabels", "external_labels"),
        ("$externalURL", "external_url"),
        (".Labels", "labels"),
        (".Value", "value"),
    ];
    for (from, to) in map {
        if let Some(rest) = t.strip_prefix(from)
            && (rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
        {
            return format!("{to}{rest}");
        }
    }
    t.to_string()
}

/// A Go pipeline (`f a b | g c`) as a Jinja expression (`f(a, b) | g(c)`).
fn pipeline(toks: &[String]) -> Result<String, String> {
    let mut segs: Vec<&[String]> = Vec::new();
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if t == "|" {
            segs.push(&toks[start..i]);
            start = i + 1;
        }
    }
    segs.push(&toks[start..]);
    let mut parts = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        if seg.is_empty() {
            return Err("empty pipeline segment".into());
        }
        let go_call = GO_FUNCS.contains(&seg[0].as_str())
            && seg.len() >= 2
            && seg[1] != "("
            && !seg[1..].iter().any(|t| t == "(" || t == ")" || t == ",");
        let s = if go_call {
            let args: Vec<String> = seg[1..].iter().map(|t| operand(t)).collect();
            format!("{}({})", seg[0], args.join(", "))
        } else if i > 0 && seg.len() == 1 {
            seg[0].clone()
        } else {
            join_tokens(seg)
        };
        parts.push(s);
    }
    Ok(parts.join(" | "))
}

fn join_tokens(seg: &[String]) -> String {
    let mut s = String::new();
    for (i, t) in seg.iter().enumerate() {
        let glue = i > 0 && !(t == "(" || t == ")" || t == "," || seg[i - 1] == "(");
        if glue {
            s.push(' ');
        }
        s.push_str(&operand(t));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, labels: &[(&str, &str)], value: f64) -> Result<String, String> {
        let mut set = TemplateSet::new();
        let t = set.add(src)?;
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Ok(set.render(
            &t,
            &TemplateData {
                labels: &labels,
                value,
                external_labels: &BTreeMap::new(),
                external_url: "http://x",
            },
        ))
    }

    #[test]
    fn prometheus_templates_render_like_prometheus() {
        let l = [("mountpoint", "/var"), ("service", "api")];
        for (src, want) in [
            ("Disk {{ $labels.mountpoint }} full", "Disk /var full"),
            ("{{ $value | humanize }}", "1.235M"),
            ("{{ humanize $value }}", "1.235M"),
            ("{{ printf \"%.2f\" $value }}", "1234567.00"),
            ("{{ $value | printf \"%.1f\" }}", "1234567.0"),
            ("{{ .Labels.service }}={{ .Value }}", "api=1234567.0"),
            ("{{ if gt $value 100.0 }}big{{ else }}small{{ end }}", "big"),
            ("{{ $labels.missing }}|", "|"),
            ("{{- $labels.service -}} !", "api!"),
            ("{{ $externalURL }}", "http://x"),
            ("{{ value | round(1) }}", "1234567.0"),
            ("100{%} {{ $labels.service }}", "100{%} api"),
        ] {
            assert_eq!(render(src, &l, 1234567.0).unwrap(), want, "{src}");
        }
    }

    #[test]
    fn bad_templates_fail_at_load() {
        for src in [
            "{{ $labels.x",
            "{{ if $value }}x",
            "{{ end }}",
            "{{ $value | nosuchfilter }}",
            "{{ range $labels }}{{ end }}",
            "{{ nosuchfunc($value) }}",
        ] {
            assert!(render(src, &[], 1.0).is_err(), "{src} should fail");
        }
    }
}
