//! The alert state machine of one rule: inactive → pending → firing → resolved, with `for`
//! and `keep_firing_for`, following Prometheus' `AlertingRule.Eval` step by step.

use std::collections::HashMap;
use std::sync::Arc;

use super::labels::{self, Labels};

/// How long a resolved alert is kept (and re-sent to Alertmanager as resolved): Prometheus' 15m.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// The condition holds but not yet for `for`.
    Pending,
    /// The condition has held for `for` (or `keep_firing_for` keeps it).
    Firing,
    /// Resolved; kept a while so the resolution is sent.
    Inactive,
}

impl AlertState {
    /// Prometheus' word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Inactive => "inactive",
        }
    }
}

/// One alert: a rule and a label set.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Final labels (series labels, rule labels, `alertname`), canonical.
    pub labels: Arc<Labels>,
    /// Fingerprint of `labels`.
    pub fingerprint: u64,
    /// Latest value.
    pub value: f64,
    /// Highest value seen in this episode.
    pub peak: f64,
    /// State.
    pub state: AlertState,
    /// When it became pending (ms).
    pub active_at: i64,
    /// When it started firing (ms).
    pub fired_at: Option<i64>,
    /// When it resolved (ms).
    pub resolved_at: Option<i64>,
    /// Last evaluation in which the expression returned it (ms).
    pub last_seen: i64,
    /// Since when `keep_firing_for` has kept it firing (ms).
    pub keep_firing_since: Option<i64>,
    /// History row of this episode (0 until it fires).
    pub episode: i64,
    /// Repair attempts in this episode.
    pub repair_attempts: u32,
    /// When the last repair attempt started (ms).
    pub last_repair_at: Option<i64>,
    /// When it was last sent to Alertmanagers (ms).
    pub last_sent_at: Option<i64>,
}

/// What changed for an alert in an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A new pending alert.
    Pending(u64),
    /// It started firing.
    Fired(u64),
    /// A firing alert resolved.
    Resolved(u64),
    /// A pending alert disappeared before firing.
    Dropped(u64),
}

/// The alerts of one rule and its last evaluation.
#[derive(Debug, Default)]
pub struct RuleState {
    /// Alerts by fingerprint.
    pub active: HashMap<u64, Alert>,
    /// Last evaluation time (ms), 0 before the first.
    pub last_eval: i64,
    /// Seconds the last evaluation took.
    pub eval_seconds: f64,
    /// The last evaluation's error, if it failed.
    pub last_error: Option<String>,
}

impl RuleState {
    /// Record that the expression returned the series whose alert labels hash to `fp` with
    /// `value` at `ts`; `make_labels` builds the labels only when the alert is new.
    pub fn observe(
        &mut self,
        fp: u64,
        make_labels: impl FnOnce() -> Labels,
        value: f64,
        ts: i64,
        out: &mut Vec<Transition>,
    ) {
        if let Some(a) = self.active.get_mut(&fp)
            && a.state != AlertState::Inactive
        {
            a.value = value;
            if value > a.peak || a.peak.is_nan() {
                a.peak = value;
            }
            a.last_seen = ts;
            a.keep_firing_since = None;
            return;
        }
        // New, or a resolved alert coming back: a new episode starts pending.
        self.active.insert(
            fp,
            Alert {
                labels: Arc::new(make_labels()),
                fingerprint: fp,
                value,
                peak: value,
                state: AlertState::Pending,
                active_at: ts,
                fired_at: None,
                resolved_at: None,
                last_seen: ts,
                keep_firing_since: None,
                episode: 0,
                repair_attempts: 0,
                last_repair_at: None,
                last_sent_at: None,
            },
        );
        out.push(Transition::Pending(fp));
    }

    /// After every `observe` of an evaluation at `ts`: resolve what was not seen, fire what
    /// has been pending for `for_ms`.
    pub fn finish(&mut self, ts: i64, for_ms: i64, keep_firing_ms: i64, out: &mut Vec<Transition>) {
        let mut remove = Vec::new();
        for (fp, a) in self.active.iter_mut() {
            if a.last_seen != ts {
                let mut keep = false;
                if a.state == AlertState::Firing && keep_firing_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep = ts - since < keep_firing_ms;
                }
                match a.state {
                    AlertState::Pending => {
                        remove.push(*fp);
                        out.push(Transition::Dropped(*fp));
                        continue;
                    }
                    AlertState::Inactive => {
                        if a.resolved_at
                            .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                        {
                            remove.push(*fp);
                        }
                        continue;
                    }
                    AlertState::Firing if !keep => {
                        a.state = AlertState::Inactive;
                        a.resolved_at = Some(ts);
                        out.push(Transition::Resolved(*fp));
                        continue;
                    }
                    AlertState::Firing => {}
                }
            }
            if a.state == AlertState::Pending && ts - a.active_at >= for_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
                out.push(Transition::Fired(*fp));
            }
        }
        for fp in remove {
            self.active.remove(&fp);
        }
    }

    /// Resolve every firing alert now (the rule failed, went over its limit or was removed).
    pub fn resolve_all(&mut self, ts: i64, out: &mut Vec<Transition>) {
        self.active.retain(|fp, a| match a.state {
            AlertState::Firing => {
                a.state = AlertState::Inactive;
                a.resolved_at = Some(ts);
                out.push(Transition::Resolved(*fp));
                true
            }
            AlertState::Pending => {
                out.push(Transition::Dropped(*fp));
                false
            }
            AlertState::Inactive => true,
        });
    }

    /// Number of pending and firing alerts.
    pub fn live(&self) -> usize {
        self.active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .count()
    }
}

/// The alert labels for a result series: its labels (without `__name__` and empty values)
/// overridden by the rule's labels.
pub fn alert_labels<'a>(
    series: impl Iterator<Item = (&'a str, &'a str)>,
    rule_labels: &[(String, String)],
) -> Labels {
    let mut out: Labels = series
        .filter(|(k, v)| *k != "__name__" && !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    for (k, v) in rule_labels {
        labels::set(&mut out, k, v);
    }
    out
}

/// The fingerprint of [`alert_labels`] computed without building them, for the hot path.
/// `scratch` is reused between calls.
pub fn alert_fingerprint<'a>(
    series: impl Iterator<Item = (&'a str, &'a str)>,
    rule_labels: &'a [(String, String)],
    scratch: &mut Vec<(&'a str, &'a str)>,
) -> u64 {
    scratch.clear();
    scratch.extend(series.filter(|(k, v)| {
        *k != "__name__"
            && !v.is_empty()
            && rule_labels
                .binary_search_by(|(rk, _)| rk.as_str().cmp(k))
                .is_err()
    }));
    scratch.extend(
        rule_labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    scratch.sort_unstable_by(|a, b| a.0.cmp(b.0));
    scratch.dedup_by(|a, b| a.0 == b.0);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in scratch.iter() {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(st: &mut RuleState, present: bool, ts: i64, for_ms: i64, kff: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        if present {
            st.observe(7, || vec![("a".into(), "b".into())], 1.0, ts, &mut out);
        }
        st.finish(ts, for_ms, kff, &mut out);
        out
    }

    #[test]
    fn pending_then_firing_then_resolved() {
        let mut st = RuleState::default();
        assert_eq!(
            step(&mut st, true, 0, 2000, 0),
            vec![Transition::Pending(7)]
        );
        assert_eq!(step(&mut st, true, 1000, 2000, 0), vec![]);
        assert_eq!(
            step(&mut st, true, 2000, 2000, 0),
            vec![Transition::Fired(7)]
        );
        assert_eq!(
            step(&mut st, false, 3000, 2000, 0),
            vec![Transition::Resolved(7)]
        );
        assert_eq!(st.active[&7].state, AlertState::Inactive);
        // Coming back starts a new episode.
        assert_eq!(
            step(&mut st, true, 4000, 0, 0),
            vec![Transition::Pending(7), Transition::Fired(7)]
        );
        assert_eq!(st.active[&7].active_at, 4000);
    }

    #[test]
    fn pending_that_clears_is_dropped_and_for_zero_fires_at_once() {
        let mut st = RuleState::default();
        step(&mut st, true, 0, 5000, 0);
        assert_eq!(
            step(&mut st, false, 1000, 5000, 0),
            vec![Transition::Dropped(7)]
        );
        assert!(st.active.is_empty());
    }

    #[test]
    fn keep_firing_for_holds_the_alert() {
        let mut st = RuleState::default();
        step(&mut st, true, 0, 0, 3000);
        assert_eq!(step(&mut st, false, 1000, 0, 3000), vec![]);
        assert_eq!(st.active[&7].state, AlertState::Firing);
        assert_eq!(step(&mut st, false, 3000, 0, 3000), vec![]);
        assert_eq!(
            step(&mut st, false, 4000, 0, 3000),
            vec![Transition::Resolved(7)]
        );
    }

    #[test]
    fn resolved_alerts_are_forgotten_after_retention() {
        let mut st = RuleState::default();
        step(&mut st, true, 0, 0, 0);
        step(&mut st, false, 1, 0, 0);
        step(&mut st, false, 2 + RESOLVED_RETENTION_MS, 0, 0);
        assert!(st.active.is_empty());
    }

    #[test]
    fn fast_fingerprint_equals_the_built_labels_fingerprint() {
        let series = [
            ("__name__", "x"),
            ("z", "1"),
            ("severity", "info"),
            ("a", ""),
        ];
        let rule: Labels = vec![
            ("alertname".into(), "A".into()),
            ("severity".into(), "critical".into()),
        ];
        let built = alert_labels(series.iter().copied(), &rule);
        assert_eq!(
            built,
            vec![
                ("alertname".to_string(), "A".to_string()),
                ("severity".into(), "critical".into()),
                ("z".into(), "1".into())
            ]
        );
        let mut scratch = Vec::new();
        assert_eq!(
            alert_fingerprint(series.iter().copied(), &rule, &mut scratch),
            labels::fingerprint(&built)
        );
    }
}
