//! Alert rules: the Prometheus form and the seed's threshold shorthand, rule files, the
//! default rules derived from `monitoring` thresholds, and validation with file:line errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mno_common::{ConfigError, Location, PathIndex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Dur;
use super::expr::{self, Expr};
use super::labels::{self, Labels};
use super::templates::{TemplateSet, Tmpl};
use crate::config::{MonitorConfig, Source};

pub use super::defaults::default_specs;

/// Allowed values of the `severity` label.
pub const SEVERITIES: &[&str] = &["critical", "error", "warning", "info"];

/// One rule as written: Prometheus' alerting rule, or the shorthand
/// `{name, metric, condition, threshold, duration, severity}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(default)]
pub struct RuleSpec {
    /// Alert name (Prometheus form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// Recording rules are not evaluated by the agent; they are skipped with a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// PromQL expression; every element of its result is an alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    /// How long the expression must keep returning an element before it fires.
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<Dur>,
    /// How long a firing alert keeps firing after its condition clears.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<Dur>,
    /// Labels added to each alert (templates allowed); `severity` is one of critical, error,
    /// warning, info.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates: `{{ $labels.mountpoint }}`, `{{ $value | humanize }}`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Shorthand: alert name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Shorthand: metric name or selector (`mno_disk_usage_percent{mountpoint="/"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Shorthand: `>`, `>=`, `<`, `<=`, `==` or `!=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Shorthand: the number compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Shorthand: seconds (or a duration) the condition must hold; Prometheus' `for`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    /// Shorthand: the `severity` label (default `warning`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Shorthand: the `summary` annotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Shorthand: the `description` annotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A Prometheus rule file: `groups: [...]` (a bare `rules: [...]` list is accepted too).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RuleFileSpec {
    /// Rule groups.
    pub groups: Vec<GroupSpec>,
    /// Rules outside any group (put in a group named after the file).
    pub rules: Vec<RuleSpec>,
}

/// A rule group in a rule file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GroupSpec {
    /// Group name, unique in the file.
    pub name: String,
    /// Evaluate this group at most this often (default: every evaluation).
    pub interval: Option<Dur>,
    /// Most alerts a rule of the group may produce (0: no limit), as in Prometheus.
    pub limit: usize,
    /// Labels added to every rule of the group.
    pub labels: BTreeMap<String, String>,
    /// The rules.
    pub rules: Vec<RuleSpec>,
}

/// A compiled alerting rule.
#[derive(Debug)]
pub struct Rule {
    /// The alert name (`alertname`).
    pub name: String,
    /// The expression as written (or built from the shorthand).
    pub expr_text: String,
    /// The compiled expression.
    pub expr: Expr,
    /// Pending time before firing.
    pub for_: Duration,
    /// Firing time kept after the condition clears.
    pub keep_firing_for: Duration,
    /// Labels without templates, canonical, including `alertname`.
    pub static_labels: Labels,
    /// Labels with templates, rendered per alert.
    pub label_templates: Vec<(String, Tmpl)>,
    /// Annotations, rendered per alert.
    pub annotations: Vec<(String, Tmpl)>,
    /// Labels as written (for the rules API).
    pub labels_spec: BTreeMap<String, String>,
    /// Annotations as written (for the rules API).
    pub annotations_spec: BTreeMap<String, String>,
}

/// A group of rules evaluated together.
#[derive(Debug)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Where it came from (file name, `<config>` or `<defaults>`).
    pub file: String,
    /// Minimum time between evaluations.
    pub interval: Option<Duration>,
    /// Most alerts per rule (0: unlimited).
    pub limit: usize,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// Every rule the agent evaluates, with their compiled templates.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// The groups: defaults, the configuration's rules, then each rule file.
    pub groups: Vec<Group>,
    /// Templates of every rule.
    pub templates: TemplateSet,
    /// Non-fatal findings (skipped recording rules, unknown keys in rule files).
    pub warnings: Vec<String>,
}

impl RuleSet {
    /// How much history general (non-threshold) rules read; `None` when every rule is a
    /// threshold rule on the latest tick.
    pub fn history_needed(&self) -> Option<Duration> {
        self.groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter_map(|r| match &r.expr {
                Expr::General { range, .. } => Some(*range),
                Expr::Threshold(_) => None,
            })
            .max()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A problem with one field of one rule: (key below the rule, message).
type FieldErr = (String, String);

fn valid_label_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Compile one rule; `Ok(None)` for a skipped recording rule.
fn compile_rule(
    spec: &RuleSpec,
    group_labels: &BTreeMap<String, String>,
    templates: &mut TemplateSet,
) -> Result<Option<Rule>, Vec<FieldErr>> {
    let mut errs: Vec<FieldErr> = Vec::new();
    let e = |k: &str, m: String| (k.to_string(), m);
    let shorthand = spec.name.is_some()
        || spec.metric.is_some()
        || spec.condition.is_some()
        || spec.threshold.is_some();
    if spec.record.is_some() {
        // Not evaluated, but checked as promtool checks it: a bad expression is an error.
        let text = spec.expr.clone().unwrap_or_default();
        if text.trim().is_empty() {
            return Err(vec![e("expr", "a recording rule needs `expr`".into())]);
        }
        return match promql_parser::parser::parse(&text) {
            Ok(_) => Ok(None),
            Err(m) => Err(vec![e("expr", mno_promql::describe_parse_error(&text, &m))]),
        };
    }
    let (name, expr_text, for_) = if shorthand {
        if spec.alert.is_some() || spec.expr.is_some() {
            return Err(vec![e(
                if spec.alert.is_some() { "alert" } else { "expr" },
                "use either Prometheus' form (alert, expr, for) or the shorthand (name, metric, condition, threshold, duration), not both".into(),
            )]);
        }
        let name = spec.name.clone().unwrap_or_default();
        if name.trim().is_empty() {
            errs.push(e("name", "the shorthand needs a non-empty name".into()));
        }
        let metric = spec.metric.clone().unwrap_or_default();
        if metric.trim().is_empty() {
            errs.push(e(
                "metric",
                "the shorthand needs a metric (name or selector)".into(),
            ));
        }
        let cond = spec.condition.clone().unwrap_or_else(|| ">".into());
        if expr::CmpOp::parse(&cond).is_none() {
            errs.push(e(
                "condition",
                format!("{cond:?} is not one of >, >=, <, <=, ==, !="),
            ));
        }
        let threshold = match spec.threshold {
            Some(t) if t.is_finite() => t,
            Some(t) => {
                errs.push(e("threshold", format!("must be a finite number (got {t})")));
                0.0
            }
            None => {
                errs.push(e("threshold", "the shorthand needs a threshold".into()));
                0.0
            }
        };
        if spec.for_.is_some() {
            errs.push(e("for", "the shorthand uses `duration` for this".into()));
        }
        let text = format!("{} {} {threshold}", metric.trim(), cond.trim());
        (name, text, spec.duration.unwrap_or_default())
    } else {
        let name = spec.alert.clone().unwrap_or_default();
        if name.trim().is_empty() {
            errs.push(e(
                "alert",
                "a rule needs `alert` and `expr` (or the shorthand name, metric, condition, threshold)".into(),
            ));
        }
        if spec.duration.is_some() {
            errs.push(e("duration", "Prometheus' form uses `for` for this".into()));
        }
        let text = spec.expr.clone().unwrap_or_default();
        if text.trim().is_empty() {
            errs.push(e("expr", "missing expression".into()));
        }
        (name, text, spec.for_.unwrap_or_default())
    };
    let compiled = if expr_text.trim().is_empty() || (shorthand && !errs.is_empty()) {
        None
    } else {
        match expr::compile(&expr_text) {
            Ok(x) => {
                if shorthand && !matches!(x, Expr::Threshold(_)) {
                    errs.push(e(
                        "metric",
                        format!(
                            "{:?} is not a metric name or selector",
                            spec.metric.clone().unwrap_or_default()
                        ),
                    ));
                }
                Some(x)
            }
            Err(m) => {
                errs.push(e(if shorthand { "metric" } else { "expr" }, m));
                None
            }
        }
    };
    let mut labels_spec = group_labels.clone();
    labels_spec.extend(spec.labels.clone());
    if shorthand {
        let sev = spec.severity.clone().unwrap_or_else(|| "warning".into());
        labels_spec.entry("severity".into()).or_insert(sev);
    } else if spec.severity.is_some() {
        errs.push(e(
            "severity",
            "Prometheus' form sets `labels: {severity: …}`".into(),
        ));
    }
    if let Some(sev) = labels_spec.get("severity")
        && !SEVERITIES.contains(&sev.as_str())
    {
        let key = if shorthand && !spec.labels.contains_key("severity") {
            "severity"
        } else {
            "labels.severity"
        };
        errs.push(e(
            key,
            format!(
                "unknown severity {sev:?} (use one of {})",
                SEVERITIES.join(", ")
            ),
        ));
    }
    let mut static_labels: Labels = vec![("alertname".into(), name.clone())];
    let mut label_templates = Vec::new();
    for (k, v) in &labels_spec {
        if !valid_label_name(k) || k.starts_with("__") {
            errs.push(e(
                &format!("labels.{k}"),
                format!("{k:?} is not a valid label name"),
            ));
            continue;
        }
        if k == "alertname" {
            errs.push(e(
                "labels.alertname",
                "alertname is the rule's name; set `alert`".into(),
            ));
            continue;
        }
        match templates.add(v) {
            Ok(Tmpl::Plain(p)) => static_labels.push((k.clone(), p)),
            Ok(t) => label_templates.push((k.clone(), t)),
            Err(m) => errs.push(e(&format!("labels.{k}"), format!("template error: {m}"))),
        }
    }
    let mut annotations_spec = spec.annotations.clone();
    if let Some(s) = &spec.summary {
        annotations_spec
            .entry("summary".into())
            .or_insert(s.clone());
    }
    if let Some(d) = &spec.description {
        annotations_spec
            .entry("description".into())
            .or_insert(d.clone());
    }
    if shorthand && !annotations_spec.contains_key("summary") {
        annotations_spec.insert(
            "summary".into(),
            format!("{name}: {expr_text} (current value {{{{ $value | humanize }}}})"),
        );
    }
    let mut annotations = Vec::new();
    for (k, v) in &annotations_spec {
        match templates.add(v) {
            Ok(t) => annotations.push((k.clone(), t)),
            Err(m) => {
                let key = match k.as_str() {
                    "summary" if spec.summary.is_some() => "summary".to_string(),
                    "description" if spec.description.is_some() => "description".to_string(),
                    _ => format!("annotations.{k}"),
                };
                errs.push(e(&key, format!("template error: {m}")));
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let Some(compiled) = compiled else {
        return Err(vec![e("expr", "missing expression".into())]);
    };
    Ok(Some(Rule {
        name,
        expr_text,
        expr: compiled,
        for_: for_.0,
        keep_firing_for: spec.keep_firing_for.unwrap_or_default().0,
        static_labels: labels::canonical(static_labels),
        label_templates,
        annotations,
        labels_spec,
        annotations_spec,
    }))
}

/// Name used for the configuration's own rules when there is no file.
pub const DEFAULTS_NAME: &str = "<default rules>";

fn locate(file: &str, index: &PathIndex, key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_string(),
        loc: index.locate(key).unwrap_or(Location { line: 0, column: 0 }),
        key: key.to_string(),
        message,
    }
}

/// Where the rules being compiled were written: file name, YAML text (when known) and index.
#[derive(Clone, Copy)]
struct Origin<'a> {
    file: &'a str,
    text: Option<&'a str>,
    index: &'a PathIndex,
}

#[allow(clippy::too_many_arguments)]
fn compile_list(
    specs: &[RuleSpec],
    prefix: &str,
    group_labels: &BTreeMap<String, String>,
    templates: &mut TemplateSet,
    origin: Origin<'_>,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) -> Vec<Rule> {
    let Origin { file, text, index } = origin;
    let mut rules = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = format!("{prefix}.{i}");
        match compile_rule(spec, group_labels, templates) {
            Ok(Some(r)) => rules.push(r),
            Ok(None) => {
                let loc = index.locate(&at).unwrap_or_default();
                warnings.push(format!(
                    "{file}:{loc}: {at}: recording rule {:?} skipped (the agent evaluates alerting rules only)",
                    spec.record.clone().unwrap_or_default()
                ));
            }
            Err(es) => {
                for (k, m) in es {
                    let key = format!("{at}.{k}");
                    let exact = (k == "expr")
                        .then(|| super::rule_source::expr_error_location(text, index, &key, &m))
                        .flatten();
                    match exact {
                        Some(loc) => errors.push(ConfigError::Invalid {
                            file: file.to_string(),
                            loc,
                            key,
                            message: m,
                        }),
                        None => errors.push(locate(file, index, &key, m)),
                    }
                }
            }
        }
    }
    rules
}

/// Load every rule the configuration asks for: defaults, `alerts.rules`, `alerts.rule_files`.
/// All problems are returned, each with file:line:column.
pub fn load(
    cfg: &MonitorConfig,
    source: &Source,
    index: &PathIndex,
) -> Result<RuleSet, Vec<ConfigError>> {
    let mut set = RuleSet::default();
    let mut errors = Vec::new();
    let defaults = default_specs(cfg);
    if !defaults.is_empty() {
        let no_index = PathIndex::default();
        let rules = compile_list(
            &defaults,
            "default",
            &BTreeMap::new(),
            &mut set.templates,
            Origin {
                file: DEFAULTS_NAME,
                text: None,
                index: &no_index,
            },
            &mut errors,
            &mut set.warnings,
        );
        set.groups.push(Group {
            name: "default".into(),
            file: DEFAULTS_NAME.into(),
            interval: None,
            limit: 0,
            rules,
        });
    }
    let src_name = source.to_string();
    if !cfg.alerts.rules.is_empty() {
        // The configuration's text, to point at the offending token of an expression.
        let text = match source {
            Source::File(p) => std::fs::read_to_string(p).ok(),
            Source::Embedded => Some(crate::config::DEFAULT_CONFIG_YAML.to_string()),
        };
        let rules = compile_list(
            &cfg.alerts.rules,
            "alerts.rules",
            &BTreeMap::new(),
            &mut set.templates,
            Origin {
                file: &src_name,
                text: text.as_deref(),
                index,
            },
            &mut errors,
            &mut set.warnings,
        );
        set.groups.push(Group {
            name: "config".into(),
            file: src_name.clone(),
            interval: None,
            limit: 0,
            rules,
        });
    }
    let base = match source {
        Source::File(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        Source::Embedded => PathBuf::from("."),
    };
    for (i, pattern) in cfg.alerts.rule_files.iter().enumerate() {
        match expand(&base, pattern) {
            Ok(files) => {
                for f in files {
                    load_file_into(&f, &mut set, &mut errors);
                }
            }
            Err(m) => errors.push(locate(
                &src_name,
                index,
                &format!("alerts.rule_files.{i}"),
                m,
            )),
        }
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}

/// Check one rule file on its own (`rules check FILE`).
pub fn check_file(path: &Path) -> Result<RuleSet, Vec<ConfigError>> {
    let mut set = RuleSet::default();
    let mut errors = Vec::new();
    load_file_into(path, &mut set, &mut errors);
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}

/// Read one rule file into `set`. As in Prometheus (and `promtool check rules`), a rule
/// file is a mapping whose keys are all known: an unknown key, a list or a single value is
/// an error, not a warning; an empty file, a null document or `groups: null` has no rules.
fn load_file_into(path: &Path, set: &mut RuleSet, errors: &mut Vec<ConfigError>) {
    let file_name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(source) => {
            errors.push(ConfigError::Read {
                file: file_name,
                source,
            });
            return;
        }
    };
    let loaded = match mno_common::load_str_with::<RuleFileSpec>(
        &file_name,
        &text,
        crate::config::LOAD_OPTIONS,
    ) {
        Ok(l) => l,
        Err(e) => {
            errors.push(super::rule_source::not_a_rule_file(e));
            return;
        }
    };
    if !loaded.warnings.is_empty() {
        for w in &loaded.warnings {
            errors.push(ConfigError::Invalid {
                file: w.file.clone(),
                loc: w.loc.unwrap_or_default(),
                key: w.key.clone(),
                message: "unknown key (a rule file may only use the keys Prometheus knows)".into(),
            });
        }
        return;
    }
    let file = loaded.file.clone();
    let spec = &loaded.value;
    let origin = Origin {
        file: &file,
        text: Some(&text),
        index: &loaded.index,
    };
    let mut names = std::collections::BTreeSet::new();
    for (gi, g) in spec.groups.iter().enumerate() {
        let at = format!("groups.{gi}");
        if g.name.trim().is_empty() {
            errors.push(loaded.invalid(&format!("{at}.name"), "a group needs a name"));
        } else if !names.insert(g.name.clone()) {
            errors.push(loaded.invalid(
                &format!("{at}.name"),
                format!("group name {:?} is repeated", g.name),
            ));
        }
        let rules = compile_list(
            &g.rules,
            &format!("{at}.rules"),
            &g.labels,
            &mut set.templates,
            origin,
            errors,
            &mut set.warnings,
        );
        set.groups.push(Group {
            name: g.name.clone(),
            file: file.clone(),
            interval: g.interval.map(|d| d.0),
            limit: g.limit,
            rules,
        });
    }
    if !spec.rules.is_empty() {
        let rules = compile_list(
            &spec.rules,
            "rules",
            &BTreeMap::new(),
            &mut set.templates,
            origin,
            errors,
            &mut set.warnings,
        );
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "rules".into());
        set.groups.push(Group {
            name,
            file,
            interval: None,
            limit: 0,
            rules,
        });
    }
}

/// Resolve a rule-file entry: relative to the configuration's directory; `*` and `?` in the
/// file name match like a shell glob (no match is not an error for a pattern).
fn expand(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let p = Path::new(pattern);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        if !p.is_file() {
            return Err(format!("rule file {} does not exist", p.display()));
        }
        return Ok(vec![p]);
    }
    let dir = p.parent().unwrap_or(Path::new("."));
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

fn wildcard(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    fn go(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(&p, &s)
}

/// Check the rules written in the configuration itself (for `config validate` and loading):
/// the first problem as (dotted key, message).
pub fn validate_config_rules(cfg: &MonitorConfig) -> Result<(), (String, String)> {
    let mut templates = TemplateSet::new();
    for (i, spec) in cfg.alerts.rules.iter().enumerate() {
        if let Err(es) = compile_rule(spec, &BTreeMap::new(), &mut templates)
            && let Some((k, m)) = es.into_iter().next()
        {
            return Err((format!("alerts.rules.{i}.{k}"), m));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.yml");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    fn errors(text: &str) -> Vec<String> {
        let (_d, p) = file(text);
        match check_file(&p) {
            Ok(_) => Vec::new(),
            Err(es) => es
                .into_iter()
                .map(|e| {
                    let s = e.to_string();
                    s[s.find("r.yml").unwrap()..].to_string()
                })
                .collect(),
        }
    }

    #[test]
    fn prometheus_rule_files_load() {
        let (_d, p) = file(
            "groups:\n- name: host\n  interval: 30s\n  rules:\n  - alert: DiskFull\n    expr: mno_disk_usage_percent > 90\n    for: 5m\n    keep_firing_for: 1m\n    labels: {severity: critical, team: ops}\n    annotations:\n      summary: '{{ $labels.mountpoint }} is {{ $value | humanize }}% full'\n  - record: x:y\n    expr: sum(x)\n",
        );
        let set = check_file(&p).unwrap();
        assert_eq!(set.len(), 1);
        let r = &set.groups[0].rules[0];
        assert_eq!(r.name, "DiskFull");
        assert_eq!(r.for_, Duration::from_secs(300));
        assert_eq!(r.keep_firing_for, Duration::from_secs(60));
        assert!(matches!(r.expr, Expr::Threshold(_)));
        assert_eq!(labels::get(&r.static_labels, "team"), "ops");
        assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    }

    #[test]
    fn shorthand_becomes_a_threshold_rule() {
        let (_d, p) = file(
            "rules:\n- name: HighCpu\n  metric: mno_cpu_usage_percent\n  condition: '>'\n  threshold: 80.0\n  duration: 60\n  severity: critical\n",
        );
        let set = check_file(&p).unwrap();
        let r = &set.groups[0].rules[0];
        assert_eq!(r.expr_text, "mno_cpu_usage_percent > 80");
        assert_eq!(r.for_, Duration::from_secs(60));
        assert_eq!(labels::get(&r.static_labels, "severity"), "critical");
        assert!(r.annotations_spec.contains_key("summary"));
    }

    #[test]
    fn bad_rules_name_file_line_and_key() {
        let e = errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'x >'\n");
        assert!(
            e[0] == "r.yml:5:15: groups.0.rules.0.expr: 1:4: parse error: unexpected end of input",
            "{e:?}"
        );
        let e = errors(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    labels:\n      severity: urgent\n",
        );
        assert!(
            e[0].starts_with("r.yml:7:7: groups.0.rules.0.labels.severity: unknown severity"),
            "{e:?}"
        );
        let e =
            errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    for: -5m\n");
        assert!(
            e[0].starts_with("r.yml:6:") && e[0].contains("negative"),
            "{e:?}"
        );
        let e = errors(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    annotations:\n      summary: '{{ $value | nope }}'\n",
        );
        assert!(
            e[0].starts_with("r.yml:7:7: groups.0.rules.0.annotations.summary: template error"),
            "{e:?}"
        );
        let e = errors("groups:\n- name: g\n  rules: [\n");
        assert!(
            e[0].starts_with("r.yml:") && e[0].contains("YAML syntax"),
            "{e:?}"
        );
        let e = errors("rules:\n- name: A\n  metric: x\n  condition: '=>'\n  threshold: 1\n");
        assert!(e[0].starts_with("r.yml:4:3: rules.0.condition:"), "{e:?}");
        let e = errors("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n");
        assert!(e[0].contains("repeated"), "{e:?}");
    }

    #[test]
    fn defaults_follow_the_thresholds_and_switch_off() {
        let mut cfg = MonitorConfig::default();
        cfg.monitoring.disk_threshold = 75.0;
        let specs = default_specs(&cfg);
        assert_eq!(specs.len(), 5);
        assert_eq!(
            specs[2].expr.as_deref(),
            Some("mno_disk_usage_percent > 75")
        );
        assert_eq!(
            specs[4].expr.as_deref(),
            Some("mno_service_response_time_seconds > 2")
        );
        let set = load(&cfg, &Source::Embedded, &PathIndex::default()).unwrap();
        assert_eq!(set.len(), 5);
        assert_eq!(set.history_needed(), None);
        cfg.alerts.default_rules.disk = false;
        assert_eq!(default_specs(&cfg).len(), 4);
        cfg.alerts.default_rules.enabled = false;
        assert!(default_specs(&cfg).is_empty());
    }

    #[test]
    fn globs_match_file_names() {
        assert!(wildcard("*.yml", "a.yml"));
        assert!(!wildcard("*.yml", "a.yaml"));
        assert!(wildcard("r?.y*", "r1.yaml"));
    }
}
