//! The alerting state behind one lock: rules and their alerts, the dispatcher, silences,
//! history. `tick` evaluates a batch; `flush` turns due groups into notifications. Nothing
//! here waits on the network: deliveries and repairs run outside the lock (`engine.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use mno_promql::Storage;
use serde_json::Value;

use super::config::NotifierKind;
use super::dispatch::{Dispatcher, GroupAlert};
use super::expr::{self, BatchIndex, Expr};
use super::history::History;
use super::labels::{self, Labels};
use super::queue;
use super::repair::Job;
use super::ring::{Ring, batch_ms};
use super::rules::{Rule, RuleSet};
use super::settings::Settings;
use super::silences::Silences;
use super::state::{
    Alert, AlertState, RESOLVED_RETENTION_MS, RuleState, Transition, alert_fingerprint,
    alert_labels,
};
use super::templates::TemplateData;
use crate::metrics::{Batch, Family};

/// Counters exposed as metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// (notifier, result) → count.
    pub notifications: BTreeMap<(String, String), u64>,
    /// (strategy, result) → count.
    pub repairs: BTreeMap<(String, String), u64>,
    /// Failed rule evaluations.
    pub eval_failures: u64,
    /// Seconds the last evaluation took.
    pub last_eval_seconds: f64,
    /// Whether the last reload worked.
    pub reload_ok: bool,
    /// Queue length per notifier (refreshed each tick).
    pub queued: Vec<(String, i64)>,
}

/// What a tick asks the async side to do.
#[derive(Debug, Default)]
pub struct TickOutput {
    /// Repair attempts to run.
    pub repairs: Vec<Job>,
    /// Alerts to POST: (notifier, `PostableAlert` list).
    pub alertmanager: Vec<(String, Value)>,
}

/// The alerting engine's state.
pub struct Core {
    /// Compiled settings.
    pub settings: Arc<Settings>,
    /// Rules.
    pub rules: RuleSet,
    keys: Vec<Vec<String>>,
    pub(super) index: HashMap<String, (usize, usize)>,
    /// Rule state by rule key.
    pub states: HashMap<String, RuleState>,
    group_last: HashMap<String, i64>,
    ring: Ring,
    /// Groups and the notification log.
    pub dispatcher: Dispatcher,
    /// Silences.
    pub silences: Silences,
    /// The database.
    pub db: History,
    /// Counters.
    pub stats: Stats,
    /// `ALERTS` and `ALERTS_FOR_STATE`, added to the next batch.
    pub alert_families: Arc<Vec<Family>>,
    /// The engine's own metrics, added to the next batch.
    pub engine_families: Arc<Vec<Family>>,
    alerts_changed: bool,
    /// Alerts with a repair attempt in progress.
    pub(super) running: HashSet<u64>,
    last_eval: i64,
    last_save: i64,
    last_prune: i64,
    /// The metrics store, when the agent has one (rules with ranges read it).
    pub storage: Option<Arc<dyn Storage>>,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Rule keys by (group, rule), and the position of each key.
type RuleKeys = (Vec<Vec<String>>, HashMap<String, (usize, usize)>);

fn rule_keys(rules: &RuleSet) -> RuleKeys {
    let mut keys = Vec::new();
    let mut index = HashMap::new();
    for (gi, g) in rules.groups.iter().enumerate() {
        let mut v = Vec::new();
        for (ri, r) in g.rules.iter().enumerate() {
            let mut k = format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}",
                g.file, g.name, r.name, r.expr_text
            );
            let mut n = 1;
            while index.contains_key(&k) {
                n += 1;
                k = format!(
                    "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{n}",
                    g.file, g.name, r.name, r.expr_text
                );
            }
            index.insert(k.clone(), (gi, ri));
            v.push(k);
        }
        keys.push(v);
    }
    (keys, index)
}

impl Core {
    /// A core over `db`, restoring the alerts that were firing when the agent stopped.
    pub fn new(rules: RuleSet, settings: Settings, db: History) -> Result<Core, String> {
        let (keys, index) = rule_keys(&rules);
        let silences = Silences::load(db.conn()).map_err(|e| e.to_string())?;
        let nflog = db.nflog().map_err(|e| e.to_string())?;
        let keep = rules.history_needed().unwrap_or_default();
        let mut core = Core {
            settings: Arc::new(settings),
            rules,
            keys,
            index,
            states: HashMap::new(),
            group_last: HashMap::new(),
            ring: Ring::new(keep),
            dispatcher: Dispatcher::with_log(nflog),
            silences,
            db,
            stats: Stats {
                reload_ok: true,
                ..Default::default()
            },
            alert_families: Arc::new(Vec::new()),
            engine_families: Arc::new(Vec::new()),
            alerts_changed: true,
            running: HashSet::new(),
            last_eval: 0,
            last_save: 0,
            last_prune: 0,
            storage: None,
        };
        core.restore()?;
        Ok(core)
    }

    fn restore(&mut self) -> Result<(), String> {
        let now = now_ms();
        let open = self.db.open_episodes().map_err(|e| e.to_string())?;
        let mut restored = 0;
        for ep in open {
            if !self.index.contains_key(&ep.rule_key) {
                self.db
                    .close_orphan(ep.id, now)
                    .map_err(|e| e.to_string())?;
                continue;
            }
            let labels = labels::canonical(ep.labels.clone());
            let alert = Alert {
                labels: Arc::new(labels),
                fingerprint: ep.fingerprint,
                value: ep.last_value,
                peak: ep.peak,
                state: AlertState::Firing,
                active_at: ep.started_at,
                fired_at: Some(ep.fired_at),
                resolved_at: None,
                last_seen: 0,
                keep_firing_since: None,
                episode: ep.id,
                repair_attempts: ep.repair_attempts,
                last_repair_at: ep.last_repair_at,
                last_sent_at: None,
            };
            self.route_alert(&ep.rule_key, &alert, now);
            self.states
                .entry(ep.rule_key.clone())
                .or_default()
                .active
                .insert(ep.fingerprint, alert);
            restored += 1;
        }
        if restored > 0 {
            tracing::info!(
                alerts = restored,
                "restored firing alerts from the alert history"
            );
        }
        Ok(())
    }

    /// Swap in reloaded rules and settings; alerts of rules that remain keep their state.
    pub fn apply(&mut self, rules: RuleSet, settings: Settings) {
        let now = now_ms();
        let (keys, index) = rule_keys(&rules);
        let gone: Vec<String> = self
            .states
            .keys()
            .filter(|k| !index.contains_key(*k))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for k in gone {
            if let Some(mut st) = self.states.remove(&k) {
                let mut tr = Vec::new();
                st.resolve_all(now, &mut tr);
                for t in tr {
                    if let Transition::Resolved(fp) = t
                        && let Some(a) = st.active.get(&fp)
                    {
                        out.push((a.episode, a.peak, a.value, fp));
                    }
                }
            }
        }
        for (ep, peak, last, fp) in out {
            if ep > 0 {
                let _ = self.db.resolve_episode(ep, now, peak, last);
            }
            self.dispatcher.resolve(fp, now);
        }
        self.ring
            .set_keep(rules.history_needed().unwrap_or_default());
        self.alerts_changed = true;
        self.rules = rules;
        self.keys = keys;
        self.index = index;
        self.settings = Arc::new(settings);
        // Put firing alerts into the groups of the new routes (groups of routes that are gone
        // drain as their alerts resolve); the notification log prevents repeats.
        let firing: Vec<(String, Alert)> = self
            .states
            .iter()
            .flat_map(|(k, st)| {
                st.active
                    .values()
                    .filter(|a| a.state == AlertState::Firing)
                    .map(move |a| (k.clone(), a.clone()))
            })
            .collect();
        for (k, a) in firing {
            self.route_alert(&k, &a, now);
        }
    }

    fn rule(&self, key: &str) -> Option<&Rule> {
        self.index
            .get(key)
            .map(|(g, r)| &self.rules.groups[*g].rules[*r])
    }

    /// Render the annotations of an alert of rule `key`.
    pub fn annotations(&self, key: &str, a: &Alert) -> BTreeMap<String, String> {
        let Some(rule) = self.rule(key) else {
            return BTreeMap::new();
        };
        let data = TemplateData {
            labels: &a.labels,
            value: a.value,
            external_labels: &self.settings.external_labels,
            external_url: &self.settings.external_url,
        };
        rule.annotations
            .iter()
            .map(|(k, t)| (k.clone(), self.rules.templates.render(t, &data)))
            .collect()
    }

    /// The expression of rule `key`, for generator URLs.
    pub fn expr_of(&self, key: &str) -> &str {
        self.rule(key).map(|r| r.expr_text.as_str()).unwrap_or("")
    }

    fn route_alert(&mut self, key: &str, a: &Alert, now: i64) {
        let mut routes = Vec::new();
        self.settings.route.matching(&a.labels, &mut routes);
        let ga = GroupAlert {
            fingerprint: a.fingerprint,
            labels: a.labels.clone(),
            annotations: self.annotations(key, a),
            starts_at: a.active_at,
            ends_at: None,
            episode: a.episode,
            rule_key: key.to_string(),
        };
        let settings = self.settings.clone();
        for r in routes {
            if settings.kind(&r.receiver) != NotifierKind::Alertmanager {
                self.dispatcher.insert(r, ga.clone(), now);
            }
        }
    }

    /// Evaluate every due rule on `batch`.
    pub fn tick(&mut self, batch: Arc<Batch>) -> TickOutput {
        let started = Instant::now();
        let ts = batch_ms(&batch);
        let mut output = TickOutput::default();
        if !self.settings.enabled {
            self.alert_families = Arc::new(Vec::new());
            self.engine_families = Arc::new(super::series::engine_families(self));
            return output;
        }
        if let Some(iv) = self.settings.evaluation_interval
            && self.last_eval > 0
            && ts - self.last_eval < iv.as_millis() as i64
        {
            return output;
        }
        self.last_eval = ts;
        if self.rules.history_needed().is_some() && self.storage.is_none() {
            self.ring.push(batch.clone());
        }
        let index = BatchIndex::new(&batch);
        let mut transitions: Vec<(String, Transition)> = Vec::new();
        let Core {
            rules,
            keys,
            states,
            group_last,
            ring,
            storage,
            stats,
            ..
        } = self;
        let storage: &dyn Storage = match storage.as_deref() {
            Some(s) => s,
            None => &*ring,
        };
        for (gi, group) in rules.groups.iter().enumerate() {
            if let Some(iv) = group.interval {
                let last = group_last.get(&group.name).copied().unwrap_or(0);
                if last > 0 && ts - last < iv.as_millis() as i64 {
                    continue;
                }
            }
            group_last.insert(group.name.clone(), ts);
            for (ri, rule) in group.rules.iter().enumerate() {
                let key = &keys[gi][ri];
                let st = states.entry(key.clone()).or_default();
                let t0 = Instant::now();
                let mut out = Vec::new();
                let result = eval_rule(rule, &rules.templates, &index, storage, ts, st, &mut out);
                match result {
                    Ok(()) => {
                        if group.limit > 0 && st.live() > group.limit {
                            st.resolve_all(ts, &mut out);
                            st.active.retain(|_, a| {
                                a.state != AlertState::Inactive || a.resolved_at == Some(ts)
                            });
                            st.last_error = Some(format!(
                                "exceeded limit of {} with {} alerts",
                                group.limit,
                                st.live()
                            ));
                            stats.eval_failures += 1;
                        } else {
                            st.finish(
                                ts,
                                rule.for_.as_millis() as i64,
                                rule.keep_firing_for.as_millis() as i64,
                                &mut out,
                            );
                            st.last_error = None;
                        }
                    }
                    Err(e) => {
                        stats.eval_failures += 1;
                        if st.last_error.as_deref() != Some(&e) {
                            tracing::warn!(rule = %rule.name, error = %e, "rule evaluation failed");
                        }
                        st.last_error = Some(e);
                    }
                }
                st.last_eval = ts;
                st.eval_seconds = t0.elapsed().as_secs_f64();
                transitions.extend(out.into_iter().map(|t| (key.clone(), t)));
            }
        }
        self.apply_transitions(transitions, ts);
        output.alertmanager = self.alertmanager_sends(ts);
        output.repairs = self.plan_repairs(ts);
        self.housekeeping(ts);
        if self.alerts_changed {
            self.alert_families = Arc::new(super::series::alert_families(self));
            self.alerts_changed = false;
        }
        self.stats.last_eval_seconds = started.elapsed().as_secs_f64();
        self.engine_families = Arc::new(super::series::engine_families(self));
        output
    }

    fn apply_transitions(&mut self, transitions: Vec<(String, Transition)>, ts: i64) {
        if transitions.is_empty() {
            return;
        }
        self.alerts_changed = true;
        let mut fired = Vec::new();
        let mut resolved = Vec::new();
        for (key, t) in &transitions {
            match t {
                Transition::Fired(fp) => fired.push((key.clone(), *fp)),
                Transition::Resolved(fp) => resolved.push((key.clone(), *fp)),
                Transition::Pending(_) | Transition::Dropped(_) => {}
            }
        }
        // One transaction for the whole tick's changes.
        let began = self.db.conn().execute_batch("BEGIN").is_ok();
        for (key, fp) in fired {
            let Some(a) = self
                .states
                .get(&key)
                .and_then(|s| s.active.get(&fp))
                .cloned()
            else {
                continue;
            };
            let ann = self.annotations(&key, &a);
            let id =
                match self
                    .db
                    .insert_episode(&key, &a.labels, &ann, fp, a.active_at, ts, a.value)
                {
                    Ok(id) => id,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot record a firing alert");
                        0
                    }
                };
            let mut a = a;
            a.episode = id;
            if let Some(x) = self
                .states
                .get_mut(&key)
                .and_then(|s| s.active.get_mut(&fp))
            {
                x.episode = id;
            }
            self.route_alert(&key, &a, ts);
        }
        for (key, fp) in resolved {
            let Some(a) = self.states.get(&key).and_then(|s| s.active.get(&fp)) else {
                continue;
            };
            if a.episode > 0
                && let Err(e) = self.db.resolve_episode(a.episode, ts, a.peak, a.value)
            {
                tracing::error!(error = %e, "cannot record a resolved alert");
            }
            self.dispatcher.resolve(fp, ts);
        }
        if began && let Err(e) = self.db.conn().execute_batch("COMMIT") {
            tracing::error!(error = %e, "cannot commit alert history");
        }
    }

    fn housekeeping(&mut self, ts: i64) {
        if ts - self.last_save >= 60_000 {
            self.last_save = ts;
            let rows: Vec<(i64, f64, f64)> = self
                .states
                .values()
                .flat_map(|s| s.active.values())
                .filter(|a| a.state == AlertState::Firing && a.episode > 0)
                .map(|a| (a.episode, a.peak, a.value))
                .collect();
            if let Err(e) = self.db.batch(|h| h.update_values(&rows)) {
                tracing::error!(error = %e, "cannot save alert values");
            }
        }
        if ts - self.last_prune >= 3_600_000 {
            self.last_prune = ts;
            let before = ts - i64::from(self.settings.history_days) * 86_400_000;
            if let Err(e) = self.db.prune(before) {
                tracing::error!(error = %e, "cannot prune alert history");
            }
        }
        self.stats.queued = queue::lengths(self.db.conn()).unwrap_or_default();
    }

    /// Live alerts (pending and firing) with their rule keys.
    pub fn live_alerts(&self) -> Vec<(&str, &Alert)> {
        let mut v: Vec<(&str, &Alert)> = self
            .states
            .iter()
            .flat_map(|(k, s)| s.active.values().map(move |a| (k.as_str(), a)))
            .filter(|(_, a)| a.state != AlertState::Inactive)
            .collect();
        v.sort_by(|a, b| a.1.labels.cmp(&b.1.labels));
        v
    }

    /// The rule key of each rule, by group and position.
    pub fn key_of(&self, group: usize, rule: usize) -> &str {
        &self.keys[group][rule]
    }
}

/// Evaluate one rule into its state (observations only; `finish` is the caller's).
fn eval_rule(
    rule: &Rule,
    templates: &super::templates::TemplateSet,
    index: &BatchIndex,
    storage: &dyn Storage,
    ts: i64,
    st: &mut RuleState,
    out: &mut Vec<Transition>,
) -> Result<(), String> {
    let templated = !rule.label_templates.is_empty();
    match &rule.expr {
        Expr::Threshold(t) if !templated => {
            let mut scratch = Vec::new();
            t.for_each(index, |_, s| {
                let pairs = || s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                let fp = alert_fingerprint(pairs(), &rule.static_labels, &mut scratch);
                st.observe(
                    fp,
                    || alert_labels(pairs(), &rule.static_labels),
                    s.value,
                    ts,
                    out,
                );
            });
            Ok(())
        }
        Expr::Threshold(t) => {
            let mut elems = Vec::new();
            t.for_each(index, |_, s| elems.push((s.labels.clone(), s.value)));
            observe_templated(rule, templates, elems, ts, st, out);
            Ok(())
        }
        Expr::General { text, .. } => {
            let elems = expr::eval_general(storage, text, ts)?;
            if templated {
                observe_templated(rule, templates, elems, ts, st, out);
            } else {
                for (l, v) in elems {
                    let labels = alert_labels(
                        l.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                        &rule.static_labels,
                    );
                    let fp = labels::fingerprint(&labels);
                    st.observe(fp, || labels, v, ts, out);
                }
            }
            Ok(())
        }
    }
}

fn observe_templated(
    rule: &Rule,
    templates: &super::templates::TemplateSet,
    elems: Vec<(Labels, f64)>,
    ts: i64,
    st: &mut RuleState,
    out: &mut Vec<Transition>,
) {
    let empty = BTreeMap::new();
    for (l, v) in elems {
        let series = alert_labels(l.iter().map(|(k, v)| (k.as_str(), v.as_str())), &[]);
        let data = TemplateData {
            labels: &series,
            value: v,
            external_labels: &empty,
            external_url: "",
        };
        let mut labels = alert_labels(
            series.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &rule.static_labels,
        );
        for (k, t) in &rule.label_templates {
            labels::set(&mut labels, k, &templates.render(t, &data));
        }
        let fp = labels::fingerprint(&labels);
        st.observe(fp, || labels, v, ts, out);
    }
}

/// The retention of resolved alerts, re-exported for the API.
pub const RESOLVED_RETENTION: i64 = RESOLVED_RETENTION_MS;
