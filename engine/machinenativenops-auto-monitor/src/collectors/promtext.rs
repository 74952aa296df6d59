//! Reading the Prometheus text format 0.0.4 (and a JSON form) written by other programs, for
//! the `textfile` and `exec` collectors.
//!
//! The maintained Rust crates for this format either skip lines they cannot match (so a typo
//! silently loses a metric) or give no line numbers; node_exporter's textfile collector
//! reports a broken file, so this parser is strict: every line is a comment, a `# HELP` /
//! `# TYPE`, a blank or a valid sample, and the first one that is not names its line.
//! Histogram and summary samples are kept as untyped families of their own sample names
//! (`x_bucket`, `x_sum`, `x_count`), since the batch model has no histogram type.

use std::collections::{BTreeMap, BTreeSet};

use crate::metrics::{Family, MetricType, Sample};

/// A syntax or consistency error at a line (1-based; 0 when not tied to a line).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// Line number, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// Whether `s` is a valid metric name.
pub fn valid_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

/// Whether `s` is a valid label name.
pub fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// Parse a sample value as the text format writes it (`NaN`, `+Inf`, `-Inf`, floats).
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => {
            // Rust accepts "infinity" and "nan" spellings the format does not; those are
            // caught above or refused here.
            if s.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
            {
                s.parse().ok()
            } else {
                None
            }
        }
    }
}

fn parse_kind(s: &str) -> Option<(MetricType, bool)> {
    // (type in the batch, whether samples keep their own name as separate families)
    match s {
        "counter" => Some((MetricType::Counter, false)),
        "gauge" => Some((MetricType::Gauge, false)),
        "untyped" => Some((MetricType::Untyped, false)),
        "histogram" | "summary" => Some((MetricType::Untyped, true)),
        _ => None,
    }
}

/// The family name a sample belongs to, given the declared histogram/summary names.
fn owner<'a>(name: &'a str, composite: &BTreeSet<String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && composite.contains(base)
        {
            return base;
        }
    }
    name
}

/// Parse `name{labels} value` (a timestamp is refused, as node_exporter's textfile does).
/// A parsed sample line: name, labels in order, value.
type SampleLine = (String, Vec<(String, String)>, f64);

fn parse_sample(line: &str, n: usize) -> Result<SampleLine, ParseError> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_ascii_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return err(n, format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let mut consumed = None;
        loop {
            // Skip spaces.
            while chars.peek().is_some_and(|(_, c)| *c == ' ') {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    consumed = Some(i + 1);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            while let Some((_, c)) = chars.peek() {
                if *c == '=' || *c == ' ' {
                    break;
                }
                key.push(*c);
                chars.next();
            }
            while chars.peek().is_some_and(|(_, c)| *c == ' ') {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('=') {
                return err(n, format!("expected '=' after label name {key:?}"));
            }
            if !valid_label_name(&key) {
                return err(n, format!("invalid label name {key:?}"));
            }
            while chars.peek().is_some_and(|(_, c)| *c == ' ') {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return err(
                    n,
                    format!("label {key}: the value must be in double quotes"),
                );
            }
            let mut val = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => val.push('\n'),
                        Some('\\') => val.push('\\'),
                        Some('"') => val.push('"'),
                        other => {
                            return err(
                                n,
                                format!("label {key}: invalid escape \\{}", other.unwrap_or(' ')),
                            );
                        }
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => val.push(c),
                }
            }
            if !closed {
                return err(n, format!("label {key}: unterminated value"));
            }
            if labels.iter().any(|(k, _)| *k == key) {
                return err(n, format!("label {key} given twice"));
            }
            labels.push((key, val));
            while chars.peek().is_some_and(|(_, c)| *c == ' ') {
                chars.next();
            }
            match chars.next() {
                Some((_, ',')) => continue,
                Some((i, '}')) => {
                    consumed = Some(i + 1);
                    break;
                }
                _ => return err(n, "expected ',' or '}' after a label value"),
            }
        }
        let Some(end) = consumed else {
            return err(n, "unterminated label set (no '}')");
        };
        rest = &r[end..];
    }
    if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return err(n, "expected a space before the value");
    }
    let mut fields = rest.split_ascii_whitespace();
    let Some(v) = fields.next() else {
        return err(n, "missing value");
    };
    let Some(value) = parse_value(v) else {
        return err(n, format!("invalid value {v:?}"));
    };
    if fields.next().is_some() {
        return err(
            n,
            "client-side timestamps are not supported (the sample gets the tick's time)",
        );
    }
    Ok((name.to_string(), labels, value))
}

/// Parse a whole exposition text into families (in first-seen order).
pub fn parse_text(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut families: Vec<Family> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut declared: BTreeMap<String, (MetricType, bool)> = BTreeMap::new();
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let mut composite: BTreeSet<String> = BTreeSet::new();
    let mut seen_series: BTreeSet<(String, Vec<(String, String)>)> = BTreeSet::new();
    let mut sampled: BTreeSet<String> = BTreeSet::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let c = c.trim_start();
            let (kw, rest) = c.split_once([' ', '\t']).unwrap_or((c, ""));
            match kw {
                "HELP" => {
                    let (name, help) = rest
                        .trim_start()
                        .split_once(' ')
                        .unwrap_or((rest.trim(), ""));
                    if !valid_metric_name(name) {
                        return err(n, format!("HELP for an invalid metric name {name:?}"));
                    }
                    if helps.contains_key(name) {
                        return err(n, format!("second HELP line for {name}"));
                    }
                    let help = help.replace("\\n", "\n").replace("\\\\", "\\");
                    helps.insert(name.to_string(), help);
                }
                "TYPE" => {
                    let mut it = rest.split_ascii_whitespace();
                    let (Some(name), Some(kind), None) = (it.next(), it.next(), it.next()) else {
                        return err(n, "expected '# TYPE <name> <type>'");
                    };
                    if !valid_metric_name(name) {
                        return err(n, format!("TYPE for an invalid metric name {name:?}"));
                    }
                    let Some(k) = parse_kind(kind) else {
                        return err(n, format!("unknown metric type {kind:?}"));
                    };
                    if declared.contains_key(name) {
                        return err(n, format!("second TYPE line for {name}"));
                    }
                    if sampled.contains(name) {
                        return err(n, format!("TYPE line for {name} after its samples"));
                    }
                    if k.1 {
                        composite.insert(name.to_string());
                    }
                    declared.insert(name.to_string(), k);
                }
                _ => {} // a comment
            }
            continue;
        }
        let (name, labels, value) = parse_sample(line, n)?;
        let fam_name = owner(&name, &composite).to_string();
        sampled.insert(fam_name.clone());
        let (kind, split) = declared
            .get(&fam_name)
            .copied()
            .unwrap_or((MetricType::Untyped, false));
        if kind == MetricType::Counter && !(value >= 0.0 || value.is_nan()) {
            return err(n, format!("counter {name} has a negative value {value}"));
        }
        if !seen_series.insert((name.clone(), labels.clone())) {
            return err(n, format!("duplicate series {name}{labels:?}"));
        }
        // Families are keyed by sample name: histogram parts become families of their own.
        let key = if split {
            name.clone()
        } else {
            fam_name.clone()
        };
        let idx = *index.entry(key.clone()).or_insert_with(|| {
            let help = helps
                .get(&fam_name)
                .cloned()
                .unwrap_or_else(|| format!("Metric read from a file or command: {fam_name}."));
            families.push(Family::new(key.clone(), help, kind));
            families.len() - 1
        });
        families[idx].samples.push(Sample { labels, value });
    }
    Ok(families)
}

/// One sample of the JSON form.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSample {
    name: String,
    value: f64,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    help: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum JsonDoc {
    List(Vec<JsonSample>),
    Wrapped { metrics: Vec<JsonSample> },
}

/// Parse the JSON form: `[{"name", "value", "labels"?, "type"?, "help"?}, …]` or
/// `{"metrics": [...]}`. Errors name the line (and column); a sample's own problem names
/// its index.
pub fn parse_json(text: &str) -> Result<Vec<Family>, ParseError> {
    // First as plain JSON, to locate syntax errors; then into the shape.
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError {
        line: e.line(),
        message: format!("{e}"),
    })?;
    let doc: JsonDoc = serde_json::from_value(v).map_err(|e| ParseError {
        line: 0,
        message: format!(
            "expected a list of {{name, value, labels, type, help}} or {{\"metrics\": [...]}}: {e}"
        ),
    })?;
    let samples = match doc {
        JsonDoc::List(v) | JsonDoc::Wrapped { metrics: v } => v,
    };
    let mut families: Vec<Family> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (i, s) in samples.into_iter().enumerate() {
        let bad = |m: String| ParseError {
            line: 0,
            message: format!("metric {i} ({}): {m}", s.name),
        };
        if !valid_metric_name(&s.name) {
            return Err(bad("invalid metric name".into()));
        }
        if let Some(k) = s.labels.keys().find(|k| !valid_label_name(k)) {
            return Err(bad(format!("invalid label name {k:?}")));
        }
        let kind = match s.kind.as_deref().unwrap_or("untyped") {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "untyped" => MetricType::Untyped,
            k => return Err(bad(format!("unknown type {k:?} (counter, gauge, untyped)"))),
        };
        let labels: Vec<(String, String)> = s.labels.into_iter().collect();
        if !seen.insert((s.name.clone(), labels.clone())) {
            return Err(bad("duplicate series".into()));
        }
        let idx = match index.get(&s.name) {
            Some(&idx) => {
                if families[idx].kind != kind {
                    return Err(bad("a different type than earlier samples".into()));
                }
                idx
            }
            None => {
                let help = s
                    .help
                    .clone()
                    .unwrap_or_else(|| format!("Metric read from a file or command: {}.", s.name));
                families.push(Family::new(s.name.clone(), help, kind));
                index.insert(s.name.clone(), families.len() - 1);
                families.len() - 1
            }
        };
        families[idx].samples.push(Sample {
            labels,
            value: s.value,
        });
    }
    Ok(families)
}

/// Names the agent exports itself, which a file or command may not (two families of one name
/// would break the scrape).
pub fn reserved(name: &str) -> bool {
    name.starts_with("mno_") || name.starts_with("node_textfile_")
}

/// Families from several sources merged by name; a source whose families clash with what
/// is already there (another type, a series already present) is refused whole.
#[derive(Default)]
pub struct Merged {
    families: Vec<Family>,
    index: BTreeMap<String, usize>,
    series: BTreeSet<(String, Vec<(String, String)>)>,
}

impl Merged {
    /// Add one source's families, or say why they clash (nothing is added then).
    pub fn add(&mut self, fams: Vec<Family>) -> Result<(), String> {
        let mut new_series = BTreeSet::new();
        for f in &fams {
            if reserved(&f.name) {
                return Err(format!(
                    "{} is one of the agent's own metric names (mno_*, node_textfile_*)",
                    f.name
                ));
            }
            if let Some(&i) = self.index.get(&f.name)
                && self.families[i].kind != f.kind
            {
                return Err(format!(
                    "{} is {} here but {} in an earlier source",
                    f.name,
                    f.kind.as_str(),
                    self.families[i].kind.as_str()
                ));
            }
            for s in &f.samples {
                let mut l = s.labels.clone();
                l.sort();
                let key = (f.name.clone(), l);
                if self.series.contains(&key) || !new_series.insert(key) {
                    return Err(format!(
                        "series {}{:?} is also in an earlier source",
                        f.name, s.labels
                    ));
                }
            }
        }
        self.series.extend(new_series);
        for f in fams {
            match self.index.get(&f.name) {
                Some(&i) => self.families[i].samples.extend(f.samples),
                None => {
                    self.index.insert(f.name.clone(), self.families.len());
                    self.families.push(f);
                }
            }
        }
        Ok(())
    }

    /// The merged families.
    pub fn into_families(self) -> Vec<Family> {
        self.families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_text_format() {
        let t = "# HELP app_jobs_total Jobs done.\n# TYPE app_jobs_total counter\n\
                 app_jobs_total{queue=\"a\",kind=\"x \\\"y\\\" \\\\ z\\n\"} 12\n\
                 app_jobs_total{queue=\"b\",} 3e2\n\
                 # a comment\n\n\
                 app_temp -1.5\n\
                 app_nan NaN\n\
                 # TYPE app_lat histogram\n\
                 app_lat_bucket{le=\"0.1\"} 1\napp_lat_bucket{le=\"+Inf\"} 3\napp_lat_sum 0.7\napp_lat_count 3\n\
                 app_up{} +Inf\n";
        let f = parse_text(t).unwrap();
        let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "app_jobs_total",
                "app_temp",
                "app_nan",
                "app_lat_bucket",
                "app_lat_sum",
                "app_lat_count",
                "app_up"
            ]
        );
        assert_eq!(f[0].kind, MetricType::Counter);
        assert_eq!(f[0].help, "Jobs done.");
        assert_eq!(f[0].samples[0].labels[1].1, "x \"y\" \\ z\n");
        assert_eq!(f[0].samples[1].value, 300.0);
        assert_eq!(f[1].value(&[]), Some(-1.5));
        assert!(f[2].samples[0].value.is_nan());
        assert_eq!(f[3].kind, MetricType::Untyped);
        assert_eq!(f[3].value(&[("le", "+Inf")]), Some(3.0));
        assert_eq!(f[6].value(&[]), Some(f64::INFINITY));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("ok 1\nbad metric 1\n", 2, "invalid value"),
            ("ok 1\n\n9bad 1\n", 3, "invalid metric name"),
            ("x{a=\"1\" 1\n", 1, "expected ',' or '}'"),
            ("x{a=1} 1\n", 1, "double quotes"),
            ("x{a=\"1} 1\n", 1, "unterminated"),
            ("x{a=\"\\t\"} 1\n", 1, "invalid escape"),
            ("x{1a=\"1\"} 1\n", 1, "invalid label name"),
            ("x{a=\"1\",a=\"2\"} 1\n", 1, "given twice"),
            ("x one\n", 1, "invalid value"),
            ("x 1 1700000000000\n", 1, "timestamps"),
            ("x\n", 1, "expected a space"),
            ("# TYPE x gauge\n# TYPE x gauge\n", 2, "second TYPE"),
            ("# TYPE x bogus\n", 1, "unknown metric type"),
            ("x 1\n# TYPE x gauge\n", 2, "after its samples"),
            ("x{a=\"1\"} 1\nx{a=\"1\"} 2\n", 2, "duplicate series"),
            ("# TYPE c_total counter\nc_total -1\n", 2, "negative"),
            ("x 0x10\n", 1, "invalid value"),
            ("x infinity\n", 1, "invalid value"),
        ];
        for (text, line, msg) in cases {
            let e = parse_text(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(msg), "{text:?}: {e}");
        }
    }

    #[test]
    fn parses_the_json_form() {
        let f = parse_json(
            r#"[{"name": "app_up", "value": 1, "labels": {"svc": "a"}, "type": "gauge"},
               {"name": "app_up", "value": 0, "labels": {"svc": "b"}, "type": "gauge"},
               {"name": "app_runs_total", "value": 7, "type": "counter", "help": "Runs."}]"#,
        )
        .unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].value(&[("svc", "b")]), Some(0.0));
        assert_eq!(f[1].help, "Runs.");
        let f = parse_json(r#"{"metrics": [{"name": "a", "value": 2.5}]}"#).unwrap();
        assert_eq!(f[0].kind, MetricType::Untyped);
        let e = parse_json("[\n{\"name\": \"a\",\n \"value\": }]").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = parse_json(r#"[{"name": "a", "value": "x"}]"#).unwrap_err();
        assert!(e.message.contains("expected a list"), "{e}");
        let e = parse_json(r#"[{"name": "a b", "value": 1}]"#).unwrap_err();
        assert!(
            e.message.contains("metric 0 (a b): invalid metric name"),
            "{e}"
        );
        let e =
            parse_json(r#"[{"name": "a", "value": 1}, {"name": "a", "value": 2}]"#).unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
    }

    #[test]
    fn merging_refuses_clashes_whole() {
        let mut m = Merged::default();
        m.add(parse_text("a 1\nb{x=\"1\"} 2\n").unwrap()).unwrap();
        // Same family, new series: merged.
        m.add(parse_text("b{x=\"2\"} 3\n").unwrap()).unwrap();
        // A series already present: refused whole (c is not added either).
        let e = m
            .add(parse_text("c 1\nb{x=\"1\"} 9\n").unwrap())
            .unwrap_err();
        assert!(e.contains("earlier source"), "{e}");
        // Another type.
        let e = m
            .add(parse_text("# TYPE a gauge\na{y=\"1\"} 1\n").unwrap())
            .unwrap_err();
        assert!(e.contains("gauge here but untyped"), "{e}");
        let e = m
            .add(parse_text("mno_build_info 1\n").unwrap())
            .unwrap_err();
        assert!(e.contains("agent's own"), "{e}");
        let f = m.into_families();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].samples.len(), 2);
    }
}
