//! The routing tree: which receivers an alert goes to, and how it is grouped there
//! (Alertmanager's `route` semantics: depth-first, first match wins unless `continue`).

use std::time::Duration;

use mno_promql::Matcher;

use super::config::RouteConfig;
use super::labels::{self, Labels};

/// How a route groups alerts.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every label (one group per alert).
    All,
    /// These label names.
    Labels(Vec<String>),
}

/// A compiled route with its inherited settings.
#[derive(Debug, Clone)]
pub struct Route {
    /// Position in the tree (`0`, `0.1`, …), part of group keys.
    pub id: String,
    /// Notifier name.
    pub receiver: String,
    /// Grouping.
    pub group_by: GroupBy,
    /// Wait before a new group's first notification.
    pub group_wait: Duration,
    /// Wait between notifications of a group that changed.
    pub group_interval: Duration,
    /// Wait before re-sending an unchanged notification.
    pub repeat_interval: Duration,
    /// Matchers.
    pub matchers: Vec<Matcher>,
    /// Continue to siblings after a match.
    pub continue_: bool,
    /// Children.
    pub routes: Vec<Route>,
}

impl Route {
    /// Compile `cfg` as the root; `receiver_exists` checks receiver names.
    /// Errors are (dotted key below `alerts.route`, message).
    pub fn build(
        cfg: &RouteConfig,
        receiver_exists: &dyn Fn(&str) -> bool,
    ) -> Result<Route, (String, String)> {
        let root = Route {
            id: "0".into(),
            receiver: "log".into(),
            group_by: GroupBy::Labels(vec!["alertname".into()]),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            matchers: Vec::new(),
            continue_: false,
            routes: Vec::new(),
        };
        build(cfg, &root, "0", "alerts.route", receiver_exists)
    }

    /// The routes `labels` goes to (Alertmanager's `Route.Match`).
    pub fn matching<'a>(&'a self, labels: &Labels, out: &mut Vec<&'a Route>) {
        if !labels::matches_all(&self.matchers, labels) {
            return;
        }
        let before = out.len();
        for child in &self.routes {
            let n = out.len();
            child.matching(labels, out);
            if out.len() > n && !child.continue_ {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
    }

    /// The group labels of `labels` on this route.
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => labels
                .iter()
                .filter(|(k, _)| names.iter().any(|n| n == k))
                .cloned()
                .collect(),
        }
    }

    /// Every route of the tree, depth-first.
    pub fn all(&self) -> Vec<&Route> {
        let mut v = vec![self];
        for c in &self.routes {
            v.extend(c.all());
        }
        v
    }
}

fn build(
    cfg: &RouteConfig,
    parent: &Route,
    id: &str,
    key: &str,
    receiver_exists: &dyn Fn(&str) -> bool,
) -> Result<Route, (String, String)> {
    let receiver = cfg
        .receiver
        .clone()
        .unwrap_or_else(|| parent.receiver.clone());
    if !receiver_exists(&receiver) {
        return Err((
            format!("{key}.receiver"),
            format!("no notifier named {receiver:?} in alerts.notifiers"),
        ));
    }
    let group_by = match &cfg.group_by {
        None => parent.group_by.clone(),
        Some(v) if v.iter().any(|s| s == "...") => GroupBy::All,
        Some(v) => GroupBy::Labels(v.clone()),
    };
    let matchers = labels::parse_matchers(&cfg.matchers)
        .map_err(|(i, m)| (format!("{key}.matchers.{i}"), m))?;
    let mut r = Route {
        id: id.to_string(),
        receiver,
        group_by,
        group_wait: cfg.group_wait.map(|d| d.0).unwrap_or(parent.group_wait),
        group_interval: cfg
            .group_interval
            .map(|d| d.0)
            .unwrap_or(parent.group_interval),
        repeat_interval: cfg
            .repeat_interval
            .map(|d| d.0)
            .unwrap_or(parent.repeat_interval),
        matchers,
        continue_: cfg.continue_,
        routes: Vec::new(),
    };
    if r.group_interval.is_zero() {
        return Err((format!("{key}.group_interval"), "must be above zero".into()));
    }
    if r.repeat_interval.is_zero() {
        return Err((
            format!("{key}.repeat_interval"),
            "must be above zero".into(),
        ));
    }
    for (i, c) in cfg.routes.iter().enumerate() {
        let child = build(
            c,
            &r,
            &format!("{id}.{i}"),
            &format!("{key}.routes.{i}"),
            receiver_exists,
        )?;
        r.routes.push(child);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::duration::Dur;

    fn l(p: &[(&str, &str)]) -> Labels {
        labels::canonical(
            p.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn routes_match_depth_first_with_continue_and_inherit() {
        let cfg = RouteConfig {
            receiver: Some("log".into()),
            group_wait: Some(Dur::secs(1)),
            routes: vec![
                RouteConfig {
                    receiver: Some("pager".into()),
                    matchers: vec!["severity=\"critical\"".into()],
                    continue_: true,
                    ..Default::default()
                },
                RouteConfig {
                    receiver: Some("hook".into()),
                    matchers: vec!["team=~\"ops|infra\"".into()],
                    group_by: Some(vec!["...".into()]),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let root = Route::build(&cfg, &|_| true).unwrap();
        let names = |p: &[(&str, &str)]| {
            let mut v = Vec::new();
            root.matching(&l(p), &mut v);
            v.iter().map(|r| r.receiver.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            names(&[("severity", "critical"), ("team", "ops")]),
            ["pager", "hook"]
        );
        assert_eq!(names(&[("severity", "critical")]), ["pager"]);
        assert_eq!(names(&[("team", "infra")]), ["hook"]);
        assert_eq!(names(&[("x", "y")]), ["log"]);
        assert_eq!(root.routes[0].group_wait, Duration::from_secs(1));
        assert_eq!(root.routes[1].group_by, GroupBy::All);
        let err = Route::build(&cfg, &|n| n != "hook").unwrap_err();
        assert_eq!(err.0, "alerts.route.routes.1.receiver");
    }
}
