//! Aggregation groups and the notification log: Alertmanager's dispatcher and dedup stage.
//!
//! Each (route, group labels) pair is a group. A new group is flushed after `group_wait`,
//! then every `group_interval`. A flush notifies only when something changed since the last
//! notification of that group (a new firing alert, a resolution) or `repeat_interval` has
//! passed — the rule of Alertmanager's `DedupStage.needsUpdate`. The log of what each group
//! last notified is persisted, so a restart does not notify again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::labels::Labels;
use super::route::Route;

/// An alert as a group holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupAlert {
    /// Fingerprint.
    pub fingerprint: u64,
    /// Labels.
    pub labels: Arc<Labels>,
    /// Rendered annotations (refreshed at each flush).
    pub annotations: BTreeMap<String, String>,
    /// When it became active (ms).
    pub starts_at: i64,
    /// When it resolved (ms); `None` while firing.
    pub ends_at: Option<i64>,
    /// History row.
    pub episode: i64,
    /// The rule it came from.
    pub rule_key: String,
}

/// What a group last notified.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NflogEntry {
    /// Firing fingerprints.
    pub firing: BTreeSet<u64>,
    /// Resolved fingerprints.
    pub resolved: BTreeSet<u64>,
    /// When (ms).
    pub at: i64,
}

/// A notification to deliver.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Notifier name.
    pub receiver: String,
    /// Alertmanager-style group key.
    pub group_key: String,
    /// The group's labels.
    pub group_labels: Labels,
    /// Firing alerts, then resolved ones (resolved only when the notifier wants them).
    pub alerts: Vec<GroupAlert>,
}

impl Notification {
    /// `firing` when any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        if self.alerts.iter().any(|a| a.ends_at.is_none()) {
            "firing"
        } else {
            "resolved"
        }
    }
}

#[derive(Debug)]
struct Group {
    receiver: String,
    group_labels: Labels,
    alerts: HashMap<u64, GroupAlert>,
    next_flush: i64,
    group_interval: i64,
    repeat_interval: i64,
}

/// All groups and the notification log.
#[derive(Debug, Default)]
pub struct Dispatcher {
    groups: HashMap<String, Group>,
    /// Last notification per group key.
    pub nflog: HashMap<String, NflogEntry>,
}

/// The group key as Alertmanager writes it: `{route}/{receiver}:{a="b",…}`.
pub fn group_key(route: &Route, group_labels: &Labels) -> String {
    let inner: Vec<String> = group_labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!(
        "{{{}}}/{}:{{{}}}",
        route.id,
        route.receiver,
        inner.join(",")
    )
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Dispatcher {
    /// A dispatcher with no groups and a restored notification log.
    pub fn with_log(nflog: HashMap<String, NflogEntry>) -> Dispatcher {
        Dispatcher {
            groups: HashMap::new(),
            nflog,
        }
    }

    /// Add or update a firing alert in its group on `route`.
    pub fn insert(&mut self, route: &Route, alert: GroupAlert, now: i64) {
        let gl = route.group_labels(&alert.labels);
        let key = group_key(route, &gl);
        let g = self.groups.entry(key).or_insert_with(|| Group {
            receiver: route.receiver.clone(),
            group_labels: gl,
            alerts: HashMap::new(),
            next_flush: now + ms(route.group_wait),
            group_interval: ms(route.group_interval).max(1),
            repeat_interval: ms(route.repeat_interval).max(1),
        });
        g.alerts.insert(alert.fingerprint, alert);
    }

    /// Mark an alert resolved at `at` in every group holding it.
    pub fn resolve(&mut self, fp: u64, at: i64) {
        for g in self.groups.values_mut() {
            if let Some(a) = g.alerts.get_mut(&fp) {
                a.ends_at = Some(at);
            }
        }
    }

    /// When the next group is due (ms).
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Flush every due group. `send_resolved(receiver)` says whether the notifier wants
    /// resolutions; `silenced(labels)` drops muted alerts; `refresh` updates annotations.
    /// Returns the notifications and the changed log entries (key, entry or `None` removed).
    pub fn flush(
        &mut self,
        now: i64,
        send_resolved: &dyn Fn(&str) -> bool,
        silenced: &dyn Fn(&Labels) -> bool,
        refresh: &mut dyn FnMut(&mut GroupAlert),
    ) -> (Vec<Notification>, Vec<(String, Option<NflogEntry>)>) {
        let mut notes = Vec::new();
        let mut log_changes = Vec::new();
        let mut empty = Vec::new();
        for (key, g) in self.groups.iter_mut() {
            if g.next_flush > now {
                continue;
            }
            g.next_flush = now + g.group_interval;
            let mut firing = Vec::new();
            let mut resolved = Vec::new();
            for a in g.alerts.values_mut() {
                if silenced(&a.labels) {
                    continue;
                }
                refresh(a);
                if a.ends_at.is_some_and(|e| e <= now) {
                    resolved.push(a.clone());
                } else {
                    firing.push(a.clone());
                }
            }
            firing.sort_by_key(|a| (a.starts_at, a.fingerprint));
            resolved.sort_by_key(|a| (a.starts_at, a.fingerprint));
            let fset: BTreeSet<u64> = firing.iter().map(|a| a.fingerprint).collect();
            let rset: BTreeSet<u64> = resolved.iter().map(|a| a.fingerprint).collect();
            let sr = send_resolved(&g.receiver);
            let entry = self.nflog.get(key);
            if needs_update(entry, &fset, &rset, sr, now, g.repeat_interval) {
                let mut alerts = firing;
                if sr {
                    // Only resolutions of alerts this group told the receiver about.
                    let told: BTreeSet<u64> = entry.map(|e| e.firing.clone()).unwrap_or_default();
                    alerts.extend(
                        resolved
                            .iter()
                            .filter(|a| told.contains(&a.fingerprint))
                            .cloned(),
                    );
                }
                if !alerts.is_empty() {
                    notes.push(Notification {
                        receiver: g.receiver.clone(),
                        group_key: key.clone(),
                        group_labels: g.group_labels.clone(),
                        alerts,
                    });
                }
                if fset.is_empty() {
                    self.nflog.remove(key);
                    log_changes.push((key.clone(), None));
                } else {
                    let e = NflogEntry {
                        firing: fset,
                        resolved: rset.clone(),
                        at: now,
                    };
                    self.nflog.insert(key.clone(), e.clone());
                    log_changes.push((key.clone(), Some(e)));
                }
            }
            // Resolved alerts leave the group once a flush has seen them.
            g.alerts
                .retain(|fp, a| !(rset.contains(fp) && a.ends_at.is_some_and(|e| e <= now)));
            if g.alerts.is_empty() {
                empty.push(key.clone());
            }
        }
        for k in empty {
            self.groups.remove(&k);
            if self.nflog.get(&k).is_some_and(|e| e.firing.is_empty()) {
                self.nflog.remove(&k);
            }
        }
        (notes, log_changes)
    }
}

/// Alertmanager's `DedupStage.needsUpdate`.
fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    now: i64,
    repeat: i64,
) -> bool {
    let Some(e) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&e.firing) {
        return true;
    }
    if firing.is_empty() {
        return !e.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return true;
    }
    e.at + repeat <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::config::RouteConfig;
    use crate::alerts::duration::Dur;

    fn route() -> Route {
        Route::build(
            &RouteConfig {
                group_wait: Some(Dur(std::time::Duration::from_millis(100))),
                group_interval: Some(Dur(std::time::Duration::from_millis(1000))),
                repeat_interval: Some(Dur(std::time::Duration::from_millis(5000))),
                ..Default::default()
            },
            &|_| true,
        )
        .unwrap()
    }

    fn alert(fp: u64) -> GroupAlert {
        GroupAlert {
            fingerprint: fp,
            labels: Arc::new(vec![
                ("alertname".into(), "A".into()),
                ("i".into(), fp.to_string()),
            ]),
            annotations: BTreeMap::new(),
            starts_at: 0,
            ends_at: None,
            episode: 0,
            rule_key: String::new(),
        }
    }

    fn flush(d: &mut Dispatcher, now: i64) -> Vec<(String, usize)> {
        d.flush(now, &|_| true, &|_| false, &mut |_| {})
            .0
            .into_iter()
            .map(|n| (n.status().to_string(), n.alerts.len()))
            .collect()
    }

    #[test]
    fn group_wait_interval_repeat_and_resolve() {
        let r = route();
        let mut d = Dispatcher::default();
        d.insert(&r, alert(1), 0);
        assert!(flush(&mut d, 50).is_empty(), "group_wait not over");
        d.insert(&r, alert(2), 60);
        assert_eq!(flush(&mut d, 100), vec![("firing".into(), 2)]);
        assert!(
            flush(&mut d, 1100).is_empty(),
            "unchanged: no repeat before repeat_interval"
        );
        d.insert(&r, alert(3), 1200);
        assert!(flush(&mut d, 1500).is_empty(), "waits for group_interval");
        assert_eq!(flush(&mut d, 2100), vec![("firing".into(), 3)]);
        assert!(flush(&mut d, 3100).is_empty());
        assert_eq!(
            flush(&mut d, 7100),
            vec![("firing".into(), 3)],
            "repeat_interval"
        );
        d.resolve(1, 7200);
        assert_eq!(
            flush(&mut d, 8100),
            vec![("firing".into(), 3)],
            "2 firing + 1 resolved"
        );
        d.resolve(2, 8200);
        d.resolve(3, 8200);
        assert_eq!(flush(&mut d, 9100), vec![("resolved".into(), 2)]);
        assert!(d.is_empty() && d.nflog.is_empty());
    }

    #[test]
    fn a_restored_log_suppresses_the_duplicate() {
        let r = route();
        let mut d = Dispatcher::default();
        d.insert(&r, alert(1), 0);
        assert_eq!(flush(&mut d, 100).len(), 1);
        let log = d.nflog.clone();
        // A restart: a new dispatcher with the persisted log and the restored alert.
        let mut d2 = Dispatcher::with_log(log);
        d2.insert(&r, alert(1), 500);
        assert!(flush(&mut d2, 600).is_empty());
        assert_eq!(flush(&mut d2, 5200).len(), 1, "but the repeat still comes");
    }

    #[test]
    fn silenced_alerts_are_not_notified() {
        let r = route();
        let mut d = Dispatcher::default();
        d.insert(&r, alert(1), 0);
        let (n, _) = d.flush(100, &|_| true, &|_| true, &mut |_| {});
        assert!(n.is_empty());
    }
}
