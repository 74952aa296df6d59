//! The alerting configuration compiled for use: notifiers by name, the routing tree, repair
//! strategies and policy. Built (and so validated) at load and at every reload.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::config::{NotifierConfig, NotifierKind, RetryQueueConfig};
use super::repair::Strategy;
use super::route::Route;
use super::templates::TemplateSet;
use crate::config::MonitorConfig;

/// Everything but the rules.
#[derive(Debug)]
pub struct Settings {
    /// Evaluate at all.
    pub enabled: bool,
    /// Notifiers by name (`log` always exists).
    pub notifiers: BTreeMap<String, NotifierConfig>,
    /// The routing tree.
    pub route: Route,
    /// Repair strategies.
    pub strategies: Vec<Strategy>,
    /// Templates of the strategies.
    pub repair_templates: TemplateSet,
    /// `auto_repair.enabled`.
    pub repair_enabled: bool,
    /// `auto_repair.max_repair_attempts`.
    pub max_repair_attempts: u32,
    /// `auto_repair.cooldown_period`.
    pub cooldown: Duration,
    /// `--dry-run` / `auto_repair.dry_run`.
    pub dry_run: bool,
    /// Base of generator URLs.
    pub external_url: String,
    /// Labels added to alerts sent out.
    pub external_labels: BTreeMap<String, String>,
    /// Prometheus' resend delay for Alertmanager notifiers.
    pub resend_delay: Duration,
    /// Queue bounds.
    pub retry_queue: RetryQueueConfig,
    /// API token for state-changing calls.
    pub api_token: Option<String>,
    /// Days of history kept.
    pub history_days: u32,
    /// Minimum time between evaluations.
    pub evaluation_interval: Option<Duration>,
    /// The collection interval (for Alertmanager `endsAt`).
    pub tick: Duration,
}

impl Settings {
    /// Compile the alerting parts of `cfg`; an error is (dotted key, message).
    pub fn build(cfg: &MonitorConfig) -> Result<Settings, (String, String)> {
        let a = &cfg.alerts;
        let mut notifiers = BTreeMap::new();
        notifiers.insert(
            "log".to_string(),
            NotifierConfig {
                name: "log".into(),
                kind: NotifierKind::Log,
                ..Default::default()
            },
        );
        let mut seen = BTreeSet::new();
        for (i, n) in a.notifiers.iter().enumerate() {
            let at = |f: &str| format!("alerts.notifiers.{i}.{f}");
            let err = |f: &str, m: String| Err((at(f), m));
            if n.name.trim().is_empty() {
                return err("name", "a notifier needs a name".into());
            }
            if !seen.insert(n.name.clone()) {
                return err("name", format!("duplicate notifier name {:?}", n.name));
            }
            if n.name == "log" && n.kind != NotifierKind::Log {
                return err(
                    "name",
                    "the name `log` is reserved for the log notifier".into(),
                );
            }
            if n.timeout.is_zero() {
                return err("timeout", "must be above zero".into());
            }
            if n.max_attempts == 0 {
                return err("max_attempts", "must be at least 1".into());
            }
            match n.kind {
                NotifierKind::Webhook => {
                    let url = n.url.as_deref().unwrap_or_default();
                    if let Err(m) = crate::checks::resolve_url("", url) {
                        return err("url", m);
                    }
                }
                NotifierKind::Alertmanager => {
                    let mut urls = n.urls.clone();
                    urls.extend(n.url.clone());
                    if urls.is_empty() {
                        return err("urls", "an alertmanager notifier needs urls".into());
                    }
                    for (j, u) in urls.iter().enumerate() {
                        if let Err(m) = crate::checks::resolve_url("", u) {
                            return Err((format!("alerts.notifiers.{i}.urls.{j}"), m));
                        }
                    }
                }
                NotifierKind::Command => {
                    if n.command.is_empty() || n.command[0].trim().is_empty() {
                        return err(
                            "command",
                            "a command notifier needs a program and its arguments (a list, never a shell string)".into(),
                        );
                    }
                }
                NotifierKind::Superagent => {
                    let url = n.url.as_deref().unwrap_or_default();
                    if let Err(m) = crate::checks::resolve_url("", url) {
                        return err("url", format!("the SuperAgent's base URL: {m}"));
                    }
                }
                NotifierKind::Redis => {}
                NotifierKind::Log => {}
            }
            let mut n = n.clone();
            if n.kind == NotifierKind::Redis {
                let mut r = cfg.redis.clone();
                if let Some(u) = n.url.clone() {
                    r.url = Some(u);
                }
                if !r.enabled() {
                    return err(
                        "url",
                        "a redis notifier needs redis.url (or MNO_REDIS_URL) or its own url".into(),
                    );
                }
                if let Err((_, m)) = r.validate("") {
                    return err("url", m);
                }
                if n.channel.is_none() {
                    n.channel = Some(r.keys().alerts_channel());
                }
                n.redis = Some(r);
            }
            if n.kind == NotifierKind::Alertmanager
                && let Some(u) = n.url.take()
            {
                n.urls.push(u);
            }
            notifiers.insert(n.name.clone(), n);
        }
        let route = Route::build(&a.route, &|r| notifiers.contains_key(r))?;
        let mut repair_templates = TemplateSet::new();
        let mut strategies = Vec::new();
        let mut names = BTreeSet::new();
        for (i, s) in cfg.auto_repair.strategies.iter().enumerate() {
            let st = Strategy::build(s, &mut repair_templates)
                .map_err(|(k, m)| (format!("auto_repair.strategies.{i}.{k}"), m))?;
            if !names.insert(s.name.clone()) {
                return Err((
                    format!("auto_repair.strategies.{i}.name"),
                    format!("duplicate strategy name {:?}", s.name),
                ));
            }
            strategies.push(st);
        }
        if a.retry_queue.max_items == 0 {
            return Err((
                "alerts.retry_queue.max_items".into(),
                "must be at least 1".into(),
            ));
        }
        for k in a.external_labels.keys() {
            if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.is_empty() {
                return Err((
                    format!("alerts.external_labels.{k}"),
                    "not a valid label name".into(),
                ));
            }
        }
        let m = &cfg.monitoring;
        let host = match m.bind_address.as_str() {
            "0.0.0.0" | "::" => "localhost".to_string(),
            h if h.contains(':') => format!("[{h}]"),
            h => h.to_string(),
        };
        let external_url = match &a.external_url {
            Some(u) => {
                crate::checks::resolve_url("", u)
                    .map_err(|e| ("alerts.external_url".to_string(), e))?;
                u.trim_end_matches('/').to_string()
            }
            None => format!("http://{host}:{}", m.prometheus_port),
        };
        if a.resend_delay.is_zero() {
            return Err(("alerts.resend_delay".into(), "must be above zero".into()));
        }
        Ok(Settings {
            enabled: a.enabled,
            notifiers,
            route,
            strategies,
            repair_templates,
            repair_enabled: cfg.auto_repair.enabled,
            max_repair_attempts: cfg.auto_repair.max_repair_attempts,
            cooldown: Duration::from_secs(cfg.auto_repair.cooldown_period),
            dry_run: cfg.auto_repair.dry_run,
            external_url,
            external_labels: a.external_labels.clone(),
            resend_delay: a.resend_delay.0,
            retry_queue: a.retry_queue.clone(),
            api_token: a.api_token.clone().filter(|t| !t.is_empty()),
            history_days: a.history_days,
            evaluation_interval: a.evaluation_interval.map(|d| d.0),
            tick: Duration::from_secs(m.interval.max(1) as u64),
        })
    }

    /// Whether the notifier wants resolved notifications.
    pub fn send_resolved(&self, receiver: &str) -> bool {
        self.notifiers.get(receiver).is_none_or(|n| n.send_resolved)
    }

    /// The kind of a notifier.
    pub fn kind(&self, receiver: &str) -> NotifierKind {
        self.notifiers
            .get(receiver)
            .map(|n| n.kind)
            .unwrap_or_default()
    }
}
