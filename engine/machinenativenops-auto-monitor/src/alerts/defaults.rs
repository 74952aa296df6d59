//! The default rules: CPU, memory, disk (per mount point), service down and service response
//! time, derived from the `monitoring` thresholds and switchable under
//! `alerts.default_rules`.

use std::collections::BTreeMap;

use super::rules::RuleSpec;
use crate::config::MonitorConfig;

/// The default rules for a configuration, as specs (shown by `rules check`, documented).
pub fn default_specs(cfg: &MonitorConfig) -> Vec<RuleSpec> {
    let d = &cfg.alerts.default_rules;
    if !d.enabled {
        return Vec::new();
    }
    let m = &cfg.monitoring;
    let mk =
        |alert: &str, expr: String, severity: &str, summary: &str, description: String| RuleSpec {
            alert: Some(alert.into()),
            expr: Some(expr),
            for_: Some(d.for_),
            labels: BTreeMap::from([("severity".to_string(), severity.to_string())]),
            annotations: BTreeMap::from([
                ("summary".to_string(), summary.to_string()),
                ("description".to_string(), description),
            ]),
            ..Default::default()
        };
    let mut out = Vec::new();
    if d.cpu {
        out.push(mk(
            "HighCpuUsage",
            format!("mno_cpu_usage_percent > {}", m.cpu_threshold),
            "warning",
            "CPU usage is {{ $value | humanize }}%",
            format!(
                "CPU usage has been above {}% for {}.",
                m.cpu_threshold, d.for_
            ),
        ));
    }
    if d.memory {
        out.push(mk(
            "HighMemoryUsage",
            format!("mno_memory_usage_percent > {}", m.memory_threshold),
            "warning",
            "Memory usage is {{ $value | humanize }}%",
            format!(
                "Memory usage has been above {}% for {}.",
                m.memory_threshold, d.for_
            ),
        ));
    }
    if d.disk {
        out.push(mk(
            "HighDiskUsage",
            format!("mno_disk_usage_percent > {}", m.disk_threshold),
            "warning",
            "Disk usage on {{ $labels.mountpoint }} is {{ $value | humanize }}%",
            format!(
                "{{{{ $labels.mountpoint }}}} ({{{{ $labels.device }}}}) has been more than {}% full for {}.",
                m.disk_threshold, d.for_
            ),
        ));
    }
    if d.service_down {
        out.push(mk(
            "ServiceDown",
            "mno_service_up == 0".into(),
            "critical",
            "Service {{ $labels.service }} is down",
            format!(
                "The health check of {{{{ $labels.service }}}} has failed for {}.",
                d.for_
            ),
        ));
    }
    if d.service_response_time {
        let secs = m.api_response_threshold / 1000.0;
        out.push(mk(
            "SlowServiceResponse",
            format!("mno_service_response_time_seconds > {secs}"),
            "warning",
            "Service {{ $labels.service }} answers in {{ $value | humanizeDuration }}",
            format!(
                "The health check of {{{{ $labels.service }}}} has taken more than {} ms for {}.",
                m.api_response_threshold, d.for_
            ),
        ));
    }
    out
}
