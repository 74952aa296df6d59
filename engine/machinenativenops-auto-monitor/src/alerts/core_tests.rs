//! Tests of the engine core without tasks: general (PromQL) rules over the buffer of recent
//! batches, restart restore, silences and dry-run repairs.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::core::Core;
use super::history::History;
use super::repair::{RepairAction, StrategyConfig};
use super::rules::{self, RuleSpec};
use super::settings::Settings;
use super::silences::PostableSilence;
use crate::config::{MonitorConfig, Source};
use crate::metrics::{Batch, Family};

fn config(rules: Vec<RuleSpec>) -> MonitorConfig {
    let mut cfg = MonitorConfig::default();
    cfg.alerts.default_rules.enabled = false;
    cfg.alerts.rules = rules;
    cfg
}

fn core(cfg: &MonitorConfig, db: &std::path::Path) -> Core {
    let set = rules::load(cfg, &Source::Embedded, &Default::default()).unwrap();
    Core::new(
        set,
        Settings::build(cfg).unwrap(),
        History::open(db).unwrap(),
    )
    .unwrap()
}

fn rule(name: &str, expr: &str) -> RuleSpec {
    RuleSpec {
        alert: Some(name.into()),
        expr: Some(expr.into()),
        ..Default::default()
    }
}

fn batch(t: SystemTime, counter: f64, gauge: f64) -> Arc<Batch> {
    Arc::new(Batch {
        collected_at: t,
        families: vec![
            Family::counter("work_total", "w").with(&[("job", "a")], counter),
            Family::gauge("level", "l").with(&[("job", "a")], gauge),
        ],
    })
}

#[test]
fn general_rules_read_history_from_the_batch_buffer() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(vec![rule("Busy", "rate(work_total[1m]) > 1")]);
    let mut c = core(&cfg, &d.path().join("a.db"));
    let t0 = SystemTime::now() - Duration::from_secs(120);
    for i in 0..6u64 {
        c.tick(batch(
            t0 + Duration::from_secs(i * 10),
            (i * 100) as f64,
            0.0,
        ));
    }
    let live = c.live_alerts();
    assert_eq!(live.len(), 1, "rate is 10/s");
    assert_eq!(super::labels::get(&live[0].1.labels, "job"), "a");
    assert!(!live[0].1.labels.iter().any(|(k, _)| k == "__name__"));
    // The counter stops: the rate drops to 0 and the alert resolves.
    for i in 6..16u64 {
        c.tick(batch(t0 + Duration::from_secs(i * 10), 500.0, 0.0));
    }
    assert!(c.live_alerts().is_empty());
}

#[test]
fn a_restart_restores_firing_alerts_and_does_not_renotify() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("a.db");
    let mut cfg = config(vec![rule("High", "level > 5")]);
    cfg.alerts.route.group_wait = Some(super::duration::Dur(Duration::ZERO));
    let t0 = SystemTime::now();
    let ms = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let mut c = core(&cfg, &db);
    c.tick(batch(t0, 0.0, 9.0));
    assert_eq!(
        c.flush(ms(t0) + 1).len(),
        0,
        "log notifications are written, not queued"
    );
    assert_eq!(c.stats.notifications.values().sum::<u64>(), 1);
    let active_at = c.live_alerts()[0].1.active_at;
    drop(c);
    let mut c = core(&cfg, &db);
    let live = c.live_alerts();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].1.state, super::state::AlertState::Firing);
    assert_eq!(live[0].1.active_at, active_at);
    c.tick(batch(t0 + Duration::from_secs(1), 0.0, 9.5));
    c.flush(ms(t0) + 2_000);
    assert_eq!(
        c.stats.notifications.values().sum::<u64>(),
        0,
        "no duplicate after restart"
    );
    // Resolution still notifies, and the episode closes.
    c.tick(batch(t0 + Duration::from_secs(2), 0.0, 1.0));
    c.flush(ms(t0) + 400_000);
    assert_eq!(c.stats.notifications.values().sum::<u64>(), 1);
    let h = c.db.query(&Default::default()).unwrap();
    assert!(h.is_empty(), "limit 0 returns nothing");
    let h =
        c.db.query(&super::history::HistoryQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].peak_value, Some(9.5));
    assert!(h[0].resolved_at.is_some());
}

#[test]
fn silenced_and_dry_run_alerts_do_not_repair() {
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("ran");
    let mut cfg = config(vec![rule("High", "level > 5")]);
    cfg.auto_repair.enabled = true;
    cfg.auto_repair.cooldown_period = 0;
    cfg.auto_repair.strategies = vec![StrategyConfig {
        name: "fix".into(),
        alerts: vec!["High".into()],
        action: RepairAction::Command,
        command: vec!["touch".into(), marker.display().to_string()],
        ..Default::default()
    }];
    let t0 = SystemTime::now();
    // Silenced: no job.
    let mut c = core(&cfg, &d.path().join("a.db"));
    let p: PostableSilence = serde_json::from_str(
        r#"{"matchers":[{"name":"alertname","value":"High"}],"duration":"1h"}"#,
    )
    .unwrap();
    let now = super::core::now_ms();
    let cm = &mut c;
    cm.silences.add(cm.db.conn(), p, now).unwrap();
    assert!(c.tick(batch(t0, 0.0, 9.0)).repairs.is_empty());
    drop(c);
    // Dry run: a job that only logs.
    cfg.auto_repair.dry_run = true;
    let mut c = core(&cfg, &d.path().join("b.db"));
    let jobs = c.tick(batch(t0, 0.0, 9.0)).repairs;
    assert_eq!(jobs.len(), 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    crate::install_crypto_provider();
    let client = reqwest::Client::new();
    let r = rt.block_on(super::repair::execute(&jobs[0], &client));
    assert_eq!(r.result, "dry_run");
    assert!(!marker.exists());
    c.repair_done(&jobs[0], &r);
    assert_eq!(
        c.stats.repairs[&("fix".to_string(), "dry_run".to_string())],
        1
    );
}
