//! The `alerts:` section: rules, default rules, notifiers, routing, API token.
//!
//! Every field is optional; the defaults give a working setup: the default
//! threshold rules (derived from `monitoring.*_threshold`) routed to the log.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Dur;
use super::rules::RuleSpec;

/// `alerts:` — alert rules, notifications and the alerts API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AlertsConfig {
    /// Evaluate alert rules at all.
    pub enabled: bool,
    /// Time between rule evaluations; default: every collection tick (`monitoring.interval`).
    /// Evaluation always uses the latest tick, so a value below the tick interval changes nothing.
    pub evaluation_interval: Option<Dur>,
    /// Rules derived from the `monitoring` thresholds (CPU, memory, disk, services).
    pub default_rules: DefaultRulesConfig,
    /// Alert rules in Prometheus' form (`alert`, `expr`, `for`, …) or the threshold shorthand
    /// (`name`, `metric`, `condition`, `threshold`, `duration`, `severity`).
    pub rules: Vec<RuleSpec>,
    /// Prometheus rule files (`groups: [{name, interval, rules}]`); relative paths are
    /// relative to the configuration file. Glob patterns (`*`) are allowed in the file name.
    pub rule_files: Vec<String>,
    /// Base URL put in `generatorURL` and `externalURL`; default `http://<bind>:<port>`.
    pub external_url: Option<String>,
    /// Labels added to every alert sent out (Prometheus' external labels).
    pub external_labels: BTreeMap<String, String>,
    /// Notification channels; a `log` notifier named `log` always exists.
    pub notifiers: Vec<NotifierConfig>,
    /// The routing tree (Alertmanager's meaning); default: everything to `log`.
    pub route: RouteConfig,
    /// How often firing alerts are re-sent to `alertmanager` notifiers (Prometheus: 1m).
    pub resend_delay: Dur,
    /// The persistent retry queue of `webhook` and `command` notifications.
    pub retry_queue: RetryQueueConfig,
    /// Bearer token for the API calls that change state (silences, reload); the
    /// environment variable `MNO_API_TOKEN` overrides it. Without one those calls answer 401.
    pub api_token: Option<String>,
    /// Days of alert history (resolved episodes) to keep.
    pub history_days: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            evaluation_interval: None,
            default_rules: DefaultRulesConfig::default(),
            rules: Vec::new(),
            rule_files: Vec::new(),
            external_url: None,
            external_labels: BTreeMap::new(),
            notifiers: Vec::new(),
            route: RouteConfig::default(),
            resend_delay: Dur::secs(60),
            retry_queue: RetryQueueConfig::default(),
            api_token: None,
            history_days: 30,
        }
    }
}

/// `alerts.default_rules:` — switch the built-in threshold rules on or off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DefaultRulesConfig {
    /// All default rules (each can also be switched off on its own).
    pub enabled: bool,
    /// `HighCpuUsage`: `mno_cpu_usage_percent > monitoring.cpu_threshold`.
    pub cpu: bool,
    /// `HighMemoryUsage`: `mno_memory_usage_percent > monitoring.memory_threshold`.
    pub memory: bool,
    /// `HighDiskUsage`: `mno_disk_usage_percent > monitoring.disk_threshold`, per mount point.
    pub disk: bool,
    /// `ServiceDown`: `mno_service_up == 0`, per service.
    pub service_down: bool,
    /// `SlowServiceResponse`: response time above `monitoring.api_response_threshold`.
    pub service_response_time: bool,
    /// The quantum calibration rules (only while `quantum.enabled`): `QuantumGateFidelityLow`,
    /// `QuantumCoherenceTimeLow`, `QuantumDephasingTimeLow`, `QuantumReadoutErrorHigh`,
    /// `QuantumGateErrorHigh`, `QuantumCalibrationFailed` (thresholds from `quantum:`).
    pub quantum: bool,
    /// How long a condition must hold before the alert fires.
    #[serde(rename = "for")]
    pub for_: Dur,
}

impl Default for DefaultRulesConfig {
    fn default() -> Self {
        DefaultRulesConfig {
            enabled: true,
            cpu: true,
            memory: true,
            disk: true,
            service_down: true,
            service_response_time: true,
            quantum: true,
            for_: Dur::secs(300),
        }
    }
}

/// The kind of a notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum NotifierKind {
    /// A log line per notification (warning for firing, info for resolved).
    #[default]
    Log,
    /// POST Alertmanager's webhook payload to `url`.
    Webhook,
    /// POST alerts to Alertmanagers' `/api/v2/alerts` (`urls`), re-sent while firing.
    Alertmanager,
    /// Run `command` (an argument list) with the payload on stdin and `MNO_ALERT_*` variables.
    Command,
    /// PUBLISH the webhook payload on the Redis alerts channel (`redis.url`, or this
    /// notifier's `url` as a `redis://` URL; channel `<key_prefix>:alerts` or `channel`).
    Redis,
    /// POST each alert as an `IncidentSignal` message to a SuperAgent (`url`: its base URL,
    /// `bearer_token`: its token); firing and resolved alerts open and resolve incidents.
    Superagent,
}

/// One notification channel (`alerts.notifiers[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NotifierConfig {
    /// Unique name, used as `receiver` in routes.
    pub name: String,
    /// `log`, `webhook`, `alertmanager`, `command`, `redis` or `superagent`.
    #[serde(rename = "type")]
    pub kind: NotifierKind,
    /// `webhook`: the URL to POST to; `superagent`: the SuperAgent's base URL
    /// (`http://127.0.0.1:8082`); `redis`: a `redis://` URL instead of `redis.url`.
    pub url: Option<String>,
    /// `redis`: the pub/sub channel (default `<redis.key_prefix>:alerts`).
    pub channel: Option<String>,
    /// `redis`: the connection resolved at load (from `url` or `redis.url`).
    #[serde(skip)]
    #[schemars(skip)]
    pub redis: Option<mno_redis::RedisConfig>,
    /// `alertmanager`: base URLs of the Alertmanagers (`http://host:9093`); each gets every alert.
    pub urls: Vec<String>,
    /// `command`: the program and its arguments, run directly (never through a shell).
    pub command: Vec<String>,
    /// `command`: variables passed from the monitor's environment by name; the program
    /// otherwise gets only `PATH`, `HOME`, the locale and the `MNO_ALERT_*` variables.
    pub env_passthrough: Vec<String>,
    /// Time one delivery may take (HTTP request or command run).
    pub timeout: Dur,
    /// Also notify when a group's alerts resolve.
    pub send_resolved: bool,
    /// `webhook`: at most this many alerts per payload (0: all); the rest are counted in
    /// `truncatedAlerts`.
    pub max_alerts: usize,
    /// HTTP headers sent with each request.
    pub headers: BTreeMap<String, String>,
    /// Bearer token sent as `Authorization` (shown masked by `config show`).
    pub bearer_token: Option<String>,
    /// Delivery attempts before a notification is dropped (`webhook`, `command`); 1: no retry.
    /// `redis` and `superagent` notifications are retried (at most a second apart) until
    /// `retry_queue.max_age`, so an outage loses none.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt, with ±20% jitter.
    pub initial_backoff: Dur,
    /// Longest retry delay.
    pub max_backoff: Dur,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            name: String::new(),
            kind: NotifierKind::Log,
            url: None,
            channel: None,
            redis: None,
            urls: Vec::new(),
            command: Vec::new(),
            env_passthrough: Vec::new(),
            timeout: Dur::secs(10),
            send_resolved: true,
            max_alerts: 0,
            headers: BTreeMap::new(),
            bearer_token: None,
            max_attempts: 10,
            initial_backoff: Dur::secs(1),
            max_backoff: Dur::secs(300),
        }
    }
}

/// A node of the routing tree (Alertmanager's `route`); unset fields are inherited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(default)]
pub struct RouteConfig {
    /// Notifier name; the root defaults to `log`.
    pub receiver: Option<String>,
    /// Labels to group alerts by (`...` groups by all labels); root default `[alertname]`.
    pub group_by: Option<Vec<String>>,
    /// Wait before the first notification of a new group (root default 30s).
    pub group_wait: Option<Dur>,
    /// Wait before notifying about alerts added to a group already notified (root default 5m).
    pub group_interval: Option<Dur>,
    /// Wait before re-sending a notification that has not changed (root default 4h).
    pub repeat_interval: Option<Dur>,
    /// Label matchers an alert must satisfy: `severity="critical"`, `alertname=~"Disk.*"`.
    pub matchers: Vec<String>,
    /// Keep looking for matching sibling routes after this one matched.
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Child routes, tried in order.
    pub routes: Vec<RouteConfig>,
}

/// `alerts.retry_queue:` — bounds of the persistent delivery queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RetryQueueConfig {
    /// Most notifications waiting per notifier; the oldest is dropped beyond it.
    pub max_items: usize,
    /// A notification older than this is dropped instead of retried.
    pub max_age: Dur,
}

impl Default for RetryQueueConfig {
    fn default() -> Self {
        RetryQueueConfig {
            max_items: 1000,
            max_age: Dur::secs(24 * 3600),
        }
    }
}
