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
    /// `command`: program and arguments; each argument may be a template
    /// (`{{ $labels.service }}`) and always stays one argument. The program (the first
    /// element) is never a template.
    pub command: Vec<String>,
    /// `command`: allow a templated argument to render to something starting with `-`
    /// (an option to the program). Off: such an attempt is refused, so label text cannot
    /// turn into `--force` or `-rf`.
    pub allow_dash_args: bool,
    /// `command`, `systemd`: variables passed from the monitor's environment by name; the
    /// program otherwise gets only `PATH`, `HOME`, the locale and the `MNO_ALERT_*` variables.
    pub env_passthrough: Vec<String>,
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
            allow_dash_args: false,
            env_passthrough: Vec::new(),
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
                if !matches!(command.first(), Some(Tmpl::Plain(_))) {
                    return Err(e(
                        "command.0",
                        "the program cannot be a template: alert data only ever goes into arguments",
                    ));
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
            RepairAction::Command => {
                let mut argv = Vec::with_capacity(self.command.len());
                for (i, t) in self.command.iter().enumerate() {
                    let arg = command::clean(&templates.render(t, data));
                    if matches!(t, Tmpl::Compiled(_))
                        && arg.starts_with('-')
                        && !self.cfg.allow_dash_args
                    {
                        return Plan::Refused(format!(
                            "templated argument {i} renders to {arg:?}, which starts with `-` \
                             (an option); set allow_dash_args: true to allow it"
                        ));
                    }
                    argv.push(arg);
                }
                Plan::Command(argv)
            }
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
    /// Variables passed from the monitor's environment by name.
    pub env_passthrough: Vec<String>,
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
            match command::run(
                argv,
                job.alert_json.as_bytes(),
                &job.env,
                &job.env_passthrough,
                job.timeout,
            )
            .await
            {
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

    fn command_strategy(command: &[&str], allow_dash_args: bool) -> StrategyConfig {
        StrategyConfig {
            name: "clean".into(),
            alerts: vec!["DiskFull".into()],
            command: command.iter().map(|s| s.to_string()).collect(),
            allow_dash_args,
            ..Default::default()
        }
    }

    fn plan_for(s: &Strategy, t: &TemplateSet, mount: &str) -> Plan {
        let labels = vec![
            ("alertname".to_string(), "DiskFull".to_string()),
            ("mountpoint".to_string(), mount.to_string()),
        ];
        s.plan(
            t,
            &TemplateData {
                labels: &labels,
                value: 0.0,
                external_labels: &BTreeMap::new(),
                external_url: "",
            },
        )
    }

    #[test]
    fn templated_arg_starting_with_dash_is_refused() {
        let mut t = TemplateSet::new();
        let cmd = ["/usr/local/bin/clean", "-v", "{{ $labels.mountpoint }}"];
        let s = Strategy::build(&command_strategy(&cmd, false), &mut t).unwrap();
        // A literal `-v` in the configuration is fine; a label rendering to an option is not.
        assert_eq!(
            plan_for(&s, &t, "/var"),
            Plan::Command(vec![
                "/usr/local/bin/clean".into(),
                "-v".into(),
                "/var".into()
            ])
        );
        match plan_for(&s, &t, "--recursive") {
            Plan::Refused(why) => assert!(why.contains("allow_dash_args"), "{why}"),
            p => panic!("not refused: {p:?}"),
        }
        // The strategy can opt in.
        let s = Strategy::build(&command_strategy(&cmd, true), &mut t).unwrap();
        assert!(matches!(plan_for(&s, &t, "-x"), Plan::Command(_)));
    }

    #[test]
    fn argv0_template_is_rejected() {
        let mut t = TemplateSet::new();
        let err = Strategy::build(
            &command_strategy(&["{{ $labels.mountpoint }}", "x"], false),
            &mut t,
        )
        .unwrap_err();
        assert_eq!(err.0, "command.0");
        assert!(err.1.contains("cannot be a template"), "{}", err.1);
    }

    #[test]
    fn argv0_template_is_rejected_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("monitor.yaml");
        std::fs::write(
            &f,
            "auto_repair:\n  enabled: true\n  strategies:\n    - name: clean\n      \
             alerts: [DiskFull]\n      command:\n        - \"{{ $labels.tool }}\"\n        - x\n",
        )
        .unwrap();
        let err = crate::config::load(
            Some(&f),
            &|_| None,
            &crate::config::FlagOverrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("monitor.yaml:7:11: auto_repair.strategies.0.command.0: the program cannot be a template"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn repair_command_does_not_inherit_agent_token() {
        // SAFETY: nextest runs each test in its own process; nothing else here reads it.
        unsafe { std::env::set_var("MNO_AGENT_TOKEN", "agent-secret-89ab") };
        let job = Job {
            strategy: "s".into(),
            action: RepairAction::Command,
            plan: Plan::Command(vec!["env".into()]),
            alert_json: "{}".into(),
            env: vec![("MNO_REPAIR_STRATEGY".into(), "s".into())],
            env_passthrough: Vec::new(),
            headers: BTreeMap::new(),
            expected_status: Vec::new(),
            timeout: Duration::from_secs(5),
            dry_run: false,
            fingerprint: 1,
            rule_key: "r".into(),
            episode: 1,
            at: 0,
        };
        crate::install_crypto_provider();
        let r = execute(&job, &reqwest::Client::new()).await;
        assert_eq!(r.result, "success", "{}", r.detail);
        assert!(!r.detail.contains("agent-secret-89ab"), "{}", r.detail);
        assert!(r.detail.contains("MNO_REPAIR_STRATEGY=s"), "{}", r.detail);
    }
}
