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
    if d.quantum && cfg.quantum.enabled {
        out.extend(quantum_specs(cfg, &mk));
    }
    out
}

/// The quantum calibration rules, from the `quantum:` thresholds.
fn quantum_specs(
    cfg: &MonitorConfig,
    mk: &dyn Fn(&str, String, &str, &str, String) -> RuleSpec,
) -> Vec<RuleSpec> {
    let q = &cfg.quantum;
    let f = cfg.alerts.default_rules.for_;
    vec![
        mk(
            "QuantumGateFidelityLow",
            format!("mno_quantum_gate_fidelity < {}", q.fidelity_threshold),
            "warning",
            "Gate {{ $labels.gate }} on qubits {{ $labels.qubits }} of {{ $labels.backend }} has fidelity {{ $value }}",
            format!(
                "The calibrated fidelity of {{{{ $labels.gate }}}} on qubits {{{{ $labels.qubits }}}} of {{{{ $labels.backend }}}} has been below {} for {f}.",
                q.fidelity_threshold
            ),
        ),
        mk(
            "QuantumCoherenceTimeLow",
            format!(
                "mno_quantum_backend_t1_median_microseconds < {}",
                q.coherence_time_threshold
            ),
            "warning",
            "Median T1 of {{ $labels.backend }} is {{ $value }} µs",
            format!(
                "The median T1 over the qubits of {{{{ $labels.backend }}}} has been below {} µs for {f}.",
                q.coherence_time_threshold
            ),
        ),
        mk(
            "QuantumDephasingTimeLow",
            format!(
                "mno_quantum_backend_t2_median_microseconds < {}",
                q.coherence_time_threshold
            ),
            "warning",
            "Median T2 of {{ $labels.backend }} is {{ $value }} µs",
            format!(
                "The median T2 over the qubits of {{{{ $labels.backend }}}} has been below {} µs for {f}.",
                q.coherence_time_threshold
            ),
        ),
        mk(
            "QuantumReadoutErrorHigh",
            format!(
                "mno_quantum_backend_readout_error_median > {}",
                q.error_rate_threshold
            ),
            "warning",
            "Median readout error of {{ $labels.backend }} is {{ $value }}",
            format!(
                "The median readout error over the qubits of {{{{ $labels.backend }}}} has been above {} for {f}.",
                q.error_rate_threshold
            ),
        ),
        mk(
            "QuantumGateErrorHigh",
            format!(
                "mno_quantum_backend_gate_error_median > {}",
                q.error_rate_threshold
            ),
            "warning",
            "Median {{ $labels.gate }} error of {{ $labels.backend }} is {{ $value }}",
            format!(
                "The median error of the {{{{ $labels.gate }}}} gates of {{{{ $labels.backend }}}} has been above {} for {f}.",
                q.error_rate_threshold
            ),
        ),
        mk(
            "QuantumCalibrationFailed",
            "mno_quantum_calibration_success == 0".into(),
            "warning",
            "Calibration data of {{ $labels.service }} cannot be read",
            format!(
                "The calibration data of quantum service {{{{ $labels.service }}}} has not been readable or valid for {f} (the agent's log says why)."
            ),
        ),
    ]
}
