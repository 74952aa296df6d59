//! The server's own metrics, rendered in the Prometheus text format 0.0.4.
//!
//! A handful of counters and one histogram behind a mutex: a scrape or an update takes
//! microseconds, so a metrics library would add more than it saves.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::SystemTime;

/// Upper bounds (seconds) of the gate duration histogram.
pub const DURATION_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Counters and the duration histogram.
pub struct Metrics {
    inner: Mutex<Inner>,
    started: SystemTime,
}

#[derive(Default)]
struct Inner {
    messages: BTreeMap<(String, String), u64>,
    runs: BTreeMap<String, u64>,
    findings: BTreeMap<(String, String), u64>,
    incidents: BTreeMap<(String, String), u64>,
    pruned: BTreeMap<String, u64>,
    buckets: Vec<u64>,
    duration_sum: f64,
    duration_count: u64,
}

/// Live gauges read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Gates running now.
    pub running: usize,
    /// Gates waiting for a slot.
    pub queued: usize,
    /// Configured slots.
    pub max_concurrent: usize,
    /// Records in the evidence chain (its head's count), when there is a chain.
    pub evidence_records: Option<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All counters at zero.
    pub fn new() -> Self {
        Metrics {
            inner: Mutex::new(Inner {
                buckets: vec![0; DURATION_BUCKETS.len()],
                ..Default::default()
            }),
            started: SystemTime::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A message of `message_type` ended with `status` (`processed`, `accepted`, `rejected`).
    pub fn message(&self, message_type: &str, status: &str) {
        *self
            .lock()
            .messages
            .entry((message_type.to_string(), status.to_string()))
            .or_default() += 1;
    }

    /// A gate run ended: its status, duration and findings.
    pub fn gate_run(&self, status: &str, seconds: f64, findings: &[(String, String)]) {
        let mut g = self.lock();
        *g.runs.entry(status.to_string()).or_default() += 1;
        for (i, le) in DURATION_BUCKETS.iter().enumerate() {
            if seconds <= *le {
                g.buckets[i] += 1;
            }
        }
        g.duration_sum += seconds;
        g.duration_count += 1;
        for key in findings {
            *g.findings.entry(key.clone()).or_default() += 1;
        }
    }

    /// An incident was recorded.
    pub fn incident(&self, severity: &str, status: &str) {
        *self
            .lock()
            .incidents
            .entry((severity.to_string(), status.to_string()))
            .or_default() += 1;
    }

    /// A retention pass removed `n` records or folders of `kind` (`jobs`, `incidents`, `reports`).
    pub fn pruned(&self, kind: &str, n: usize) {
        *self.lock().pruned.entry(kind.to_string()).or_default() += n as u64;
    }

    /// The text exposition.
    pub fn render(&self, gauges: Gauges) -> String {
        let g = self.lock();
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "mno_agent_build_info",
            "gauge",
            "SuperAgent build information (always 1).",
        );
        let _ = writeln!(
            out,
            "mno_agent_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        header(
            &mut out,
            "mno_agent_start_time_seconds",
            "gauge",
            "Unix time the server started.",
        );
        let start = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let _ = writeln!(out, "mno_agent_start_time_seconds {start}");
        header(
            &mut out,
            "mno_agent_messages_total",
            "counter",
            "Messages received, by message type and how they ended (processed, accepted, rejected).",
        );
        for ((t, s), v) in &g.messages {
            let _ = writeln!(
                out,
                "mno_agent_messages_total{{message_type=\"{}\",status=\"{}\"}} {v}",
                escape(t),
                escape(s)
            );
        }
        header(
            &mut out,
            "mno_agent_gate_runs_total",
            "counter",
            "Gate runs finished, by overall status.",
        );
        for (s, v) in &g.runs {
            let _ = writeln!(
                out,
                "mno_agent_gate_runs_total{{status=\"{}\"}} {v}",
                escape(s)
            );
        }
        header(
            &mut out,
            "mno_agent_gate_duration_seconds",
            "histogram",
            "Wall time of gate runs (checks, reports and evidence), excluding time queued.",
        );
        for (le, n) in DURATION_BUCKETS.iter().zip(&g.buckets) {
            let _ = writeln!(
                out,
                "mno_agent_gate_duration_seconds_bucket{{le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "mno_agent_gate_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            g.duration_count
        );
        let _ = writeln!(
            out,
            "mno_agent_gate_duration_seconds_sum {}",
            g.duration_sum
        );
        let _ = writeln!(
            out,
            "mno_agent_gate_duration_seconds_count {}",
            g.duration_count
        );
        header(
            &mut out,
            "mno_agent_gate_findings_total",
            "counter",
            "Findings reported by gate runs, by check and severity.",
        );
        for ((c, s), v) in &g.findings {
            let _ = writeln!(
                out,
                "mno_agent_gate_findings_total{{check=\"{}\",severity=\"{}\"}} {v}",
                escape(c),
                escape(s)
            );
        }
        header(
            &mut out,
            "mno_agent_incidents_total",
            "counter",
            "Incident signals recorded, by severity and status.",
        );
        for ((sev, st), v) in &g.incidents {
            let _ = writeln!(
                out,
                "mno_agent_incidents_total{{severity=\"{}\",status=\"{}\"}} {v}",
                escape(sev),
                escape(st)
            );
        }
        header(
            &mut out,
            "mno_agent_pruned_total",
            "counter",
            "Records and report folders removed by retention, by kind (jobs, incidents, reports).",
        );
        for (k, v) in &g.pruned {
            let _ = writeln!(out, "mno_agent_pruned_total{{kind=\"{}\"}} {v}", escape(k));
        }
        header(
            &mut out,
            "mno_agent_gates_in_flight",
            "gauge",
            "Gate runs executing now.",
        );
        let _ = writeln!(out, "mno_agent_gates_in_flight {}", gauges.running);
        header(
            &mut out,
            "mno_agent_gates_queued",
            "gauge",
            "Gate runs waiting for a free slot.",
        );
        let _ = writeln!(out, "mno_agent_gates_queued {}", gauges.queued);
        header(
            &mut out,
            "mno_agent_gates_max_concurrent",
            "gauge",
            "Gate runs allowed at once (max_concurrent_gates).",
        );
        let _ = writeln!(
            out,
            "mno_agent_gates_max_concurrent {}",
            gauges.max_concurrent
        );
        if let Some(n) = gauges.evidence_records {
            header(
                &mut out,
                "mno_agent_evidence_records",
                "gauge",
                "Records in the evidence chain (the head's count; compare with \
                 `evidence verify --expect-head` to detect a truncated log).",
            );
            let _ = writeln!(out, "mno_agent_evidence_records {n}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escape a label value (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_labels_escaped() {
        let m = Metrics::new();
        m.gate_run("PASSED", 0.07, &[]);
        m.gate_run("FAILED", 3.0, &[("security_scan".into(), "error".into())]);
        m.message("Gate\"Request", "processed");
        let t = m.render(Gauges::default());
        assert!(t.contains("mno_agent_gate_duration_seconds_bucket{le=\"0.05\"} 0"));
        assert!(t.contains("mno_agent_gate_duration_seconds_bucket{le=\"0.1\"} 1"));
        assert!(t.contains("mno_agent_gate_duration_seconds_bucket{le=\"5\"} 2"));
        assert!(t.contains("mno_agent_gate_duration_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(t.contains("mno_agent_gate_duration_seconds_count 2"));
        assert!(t.contains(
            "mno_agent_gate_findings_total{check=\"security_scan\",severity=\"error\"} 1"
        ));
        assert!(t.contains("message_type=\"Gate\\\"Request\""));
    }
}
