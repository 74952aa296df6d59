//! Auto-repair: strategies bound to alert names or label matchers run an argument-list
//! command, restart a systemd unit (`systemctl restart UNIT`, as arguments), or call an HTTP
//! endpoint — only for firing, unsilenced alerts, at most `max_repair_attempts` times per
//! episode and `cooldown_period` apart. Alert data reaches the action only as whole arguments
//! (each template renders into exactly one argument), stdin JSON and `MNO_ALERT_*` variables:
//! no shell ever sees it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mno_promql::Matcher;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Dur;
use super::labels;
use super::notify::command;
use super::templates::{TemplateData, TemplateSet, Tmpl};

/// What a strategy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum RepairAction {
    /// Run `command` (program and arguments, no shell).
    #[default]
    Command,
    /// `systemctl restart <unit>`.
    Systemd,
    /// Send an HTTP request to `url`.
    Http,
}

/// One entry of `auto_repair.strategies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StrategyConfig {
    /// Unique name (the `strategy` label of `mno_repair_attempts_total`).
    pub name: String,
    /// Alert names this strategy repairs (empty: any alert matching `matchers`).
    pub alerts: Vec<String>,
    /// Label matchers the alert must satisfy (`service="api"`).
    pub matchers: Vec<String>,
    /// `command`, `systemd` or `http`.
    pub action: RepairAction,
    /// `command`: program and arguments; each element may be a template
    /// (`{{ $labels.service }}`) and always stays one argument.
    pub command: Vec<String>,
    /// `systemd`: the unit to restart (a template allowed; must be a plain unit name).
    pub unit: Option<String>,
    /// `http`: the URL (a template allowed).
    pub url: Option<String>,
    /// `http`: the method.
    pub method: String,
    /// `http`: headers.
    pub headers: BTreeMap<String, String>,
    /// `http`: request body (a template allowed).
    pub body: Option<String>,
    /// `http`: statuses that count as success (empty: any 2xx).
    pub expected_status: Vec<u16>,
    /// Time one attempt may take.
    pub timeout: Dur,
}

impl Default for StrategyConfig {
    fn default() -> Self {
        StrategyConfig {
            name: String::new(),
            alerts: Vec::new(),
            matchers: Vec::new(),
            action: RepairAction::Command,
            command: Vec::new(),
            unit: None,
            url: None,
            method: "POST".into(),
            headers: BTreeMap::new(),
            body: None,
            expected_status: Vec::new(),
            timeout: Dur::secs(30),
        }
    }
}

/// A compiled strategy.
#[derive(Debug)]
pub struct Strategy {
    /// As configured.
    pub cfg: StrategyConfig,
    matchers: Vec<Matcher>,
    command: Vec<Tmpl>,
    unit: Option<Tmpl>,
    url: Option<Tmpl>,
    body: Option<Tmpl>,
}

impl Strategy {
    /// Compile; errors are (key below the strategy, message).
    pub fn build(
        cfg: &StrategyConfig,
        templates: &mut TemplateSet,
    ) -> Result<Strategy, (String, String)> {
        let e = |k: &str, m: &str| (k.to_string(), m.to_string());
        if cfg.name.trim().is_empty() {
            return Err(e("name", "a strategy needs a name"));
        }
        let matchers =
            labels::parse_matchers(&cfg.matchers).map_err(|(i, m)| (format!("matchers.{i}"), m))?;
        if cfg.alerts.is_empty() && matchers.is_empty() {
            return Err(e(
                "alerts",
                "bind the strategy to alert names or label matchers (it would repair every alert)",
            ));
        }
        let mut tmpl = |k: &str, s: &str| {
            templates
                .add(s)
                .map_err(|m| (k.to_string(), format!("template error: {m}")))
        };
        let mut command = Vec::new();
        let (mut unit, mut url, mut body) = (None, None, None);
        match cfg.action {
            RepairAction::Command => {
                if cfg.command.is_empty() || cfg.command[0].trim().is_empty() {
                    return Err(e(
                        "command",
                        "the command action needs a program and its arguments, e.g. [systemctl, restart, nginx]",
                    ));
                }
                for (i, a) in cfg.command.iter().enumerate() {
                    command.push(tmpl(&format!("command.{i}"), a)?);
                }
            }
            RepairAction::Systemd => {
                let u = cfg.unit.as_deref().unwrap_or_default();
                if u.trim().is_empty() {
                    return Err(e("unit", "the systemd action needs a unit"));
                }
                let t = tmpl("unit", u)?;
                if let Tmpl::Plain(p) = &t
                    && !valid_unit(p)
                {
                    return Err(e("unit", "not a systemd unit name"));
                }
                unit = Some(t);
            }
            RepairAction::Http => {
                let u = cfg.url.as_deref().unwrap_or_default();
                if u.trim().is_empty() {
                    return Err(e("url", "the http action needs a url"));
                }
                url = Some(tmpl("url", u)?);
                if reqwest::Method::from_bytes(cfg.method.to_ascii_uppercase().as_bytes()).is_err()
                {
                    return Err(e("method", "not an HTTP method"));
                }
                if let Some(b) = &cfg.body {
                    body = Some(tmpl("body", b)?);
                }
            }
        }
        Ok(Strategy {
            cfg: cfg.clone(),
            matchers,
            command,
            unit,
            url,
            body,
        })
    }

    /// Whether this strategy repairs an alert with these labels.
    pub fn applies(&self, labels: &[(String, String)]) -> bool {
        (self.cfg.alerts.is_empty()
            || self
                .cfg
                .alerts
                .iter()
                .any(|n| n == labels::get(labels, "alertname")))
            && labels::matches_all(&self.matchers, labels)
    }

    /// The concrete action for one alert.
    pub fn plan(&self, templates: &TemplateSet, data: &TemplateData) -> Plan {
        match self.cfg.action {
            RepairAction::Command => Plan::Command(
                self.command
                    .iter()
                    .map(|t| command::clean(&templates.render(t, data)))
                    .collect(),
            ),
            RepairAction::Systemd => {
                let unit = self
                    .unit
                    .as_ref()
                    .map(|t| templates.render(t, data))
                    .unwrap_or_default();
                if valid_unit(&unit) {
                    Plan::Command(vec!["systemctl".into(), "restart".into(), unit])
                } else {
                    Plan::Refused(format!("{unit:?} is not a systemd unit name"))
                }
            }
            RepairAction::Http => Plan::Http {
                method: self.cfg.method.to_ascii_uppercase(),
                url: self
                    .url
                    .as_ref()
                    .map(|t| templates.render(t, data))
                    .unwrap_or_default(),
                body: self.body.as_ref().map(|t| templates.render(t, data)),
            },
        }
    }
}

/// A unit name systemctl takes as a unit and not as an option or a path.
pub fn valid_unit(u: &str) -> bool {
    !u.is_empty()
        && !u.starts_with('-')
        && u.len() <= 256
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c))
}

/// What one attempt will do.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Run this argument list.
    Command(Vec<String>),
    /// Send this request.
    Http {
        /// Method.
        method: String,
        /// URL.
        url: String,
        /// Body.
        body: Option<String>,
    },
    /// The rendered action was refused (an unsafe unit name).
    Refused(String),
}

impl Plan {
    /// A one-line description for logs and history.
    pub fn describe(&self) -> String {
        match self {
            Plan::Command(argv) => format!("run {argv:?}"),
            Plan::Http { method, url, .. } => format!("{method} {url}"),
            Plan::Refused(why) => format!("refused: {why}"),
        }
    }
}

/// A repair attempt to carry out.
#[derive(Debug, Clone)]
pub struct Job {
    /// Strategy name.
    pub strategy: String,
    /// Action kind.
    pub action: RepairAction,
    /// What to do.
    pub plan: Plan,
    /// The alert as JSON (stdin of a command).
    pub alert_json: String,
    /// `MNO_ALERT_*` variables.
    pub env: Vec<(String, String)>,
    /// Headers of an HTTP action.
    pub headers: BTreeMap<String, String>,
    /// Expected HTTP statuses.
    pub expected_status: Vec<u16>,
    /// Timeout.
    pub timeout: Duration,
    /// Only log.
    pub dry_run: bool,
    /// The alert's fingerprint.
    pub fingerprint: u64,
    /// The alert's rule.
    pub rule_key: String,
    /// The episode's history row.
    pub episode: i64,
    /// When it started (ms).
    pub at: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// `success`, `failure`, `timeout`, `dry_run`.
    pub result: &'static str,
    /// Details for history.
    pub detail: String,
    /// Exit status of a command.
    pub exit_code: Option<i32>,
    /// Time taken.
    pub duration: Duration,
}

/// Carry out one attempt.
pub async fn execute(job: &Job, client: &reqwest::Client) -> JobResult {
    let start = Instant::now();
    if job.dry_run {
        tracing::warn!(strategy = %job.strategy, "dry run: would {}", job.plan.describe());
        return JobResult {
            result: "dry_run",
            detail: format!("would {}", job.plan.describe()),
            exit_code: None,
            duration: start.elapsed(),
        };
    }
    match &job.plan {
        Plan::Refused(why) => JobResult {
            result: "failure",
            detail: format!("refused: {why}"),
            exit_code: None,
            duration: start.elapsed(),
        },
        Plan::Command(argv) => {
            match command::run(argv, job.alert_json.as_bytes(), &job.env, job.timeout).await {
                Ok(o) => JobResult {
                    result: o.result(),
                    detail: o.output.chars().take(2000).collect(),
                    exit_code: o.exit_code,
                    duration: o.duration,
                },
                Err(e) => JobResult {
                    result: "failure",
                    detail: e,
                    exit_code: None,
                    duration: start.elapsed(),
                },
            }
        }
        Plan::Http { method, url, body } => {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
            let mut req = client.request(m, url).timeout(job.timeout);
            for (k, v) in &job.headers {
                req = req.header(k, v);
            }
            if let Some(b) = body {
                req = req.body(b.clone());
            }
            match req.send().await {
                Ok(resp) => {
                    let code = resp.status().as_u16();
                    let ok = if job.expected_status.is_empty() {
                        resp.status().is_success()
                    } else {
                        job.expected_status.contains(&code)
                    };
                    JobResult {
                        result: if ok { "success" } else { "failure" },
                        detail: format!("HTTP {code}"),
                        exit_code: None,
                        duration: start.elapsed(),
                    }
                }
                Err(e) => JobResult {
                    result: if e.is_timeout() { "timeout" } else { "failure" },
                    detail: e.to_string(),
                    exit_code: None,
                    duration: start.elapsed(),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_bind_plan_and_refuse_unsafe_units() {
        let mut t = TemplateSet::new();
        let s = Strategy::build(
            &StrategyConfig {
                name: "restart".into(),
                alerts: vec!["ServiceDown".into()],
                action: RepairAction::Systemd,
                unit: Some("{{ $labels.service }}.service".into()),
                ..Default::default()
            },
            &mut t,
        )
        .unwrap();
        let l = |svc: &str| {
            vec![
                ("alertname".to_string(), "ServiceDown".to_string()),
                ("service".into(), svc.into()),
            ]
        };
        assert!(s.applies(&l("api")));
        assert!(!s.applies(&[("alertname".into(), "Other".into())]));
        let data = |labels: &[(String, String)]| {
            s.plan(
                &t,
                &TemplateData {
                    labels,
                    value: 0.0,
                    external_labels: &BTreeMap::new(),
                    external_url: "",
                },
            )
        };
        assert_eq!(
            data(&l("api")),
            Plan::Command(vec![
                "systemctl".into(),
                "restart".into(),
                "api.service".into()
            ])
        );
        assert!(matches!(data(&l("x; rm -rf /")), Plan::Refused(_)));
        assert!(matches!(data(&l("--now")), Plan::Refused(_)));
        let bad = Strategy::build(
            &StrategyConfig {
                name: "x".into(),
                ..Default::default()
            },
            &mut t,
        );
        assert_eq!(bad.unwrap_err().0, "alerts");
    }
}
