//! Alert rule evaluation: 1,000 threshold rules over 100,000 series in one tick.
//!
//! 1,000 metric families of 100 series each (100,000 series); rule i is
//! `bench_metric_i{shard=~".+"} > 95` (a matcher on every sample, as real rules have), and about
//! 5% of the series satisfy their rule, so 5,000 alerts are pending and updated every tick, and
//! `ALERTS`/`ALERTS_FOR_STATE` are rebuilt each tick. The tick measured is everything the engine
//! does per collection: matching, comparison, state machine, metric families, housekeeping.
//! One thread. Run: `cargo bench -p machinenativenops-auto-monitor --bench alerts`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use machinenativenops_auto_monitor::alerts::core::Core;
use machinenativenops_auto_monitor::alerts::history::History;
use machinenativenops_auto_monitor::alerts::rules::{self, RuleSpec};
use machinenativenops_auto_monitor::alerts::settings::Settings;
use machinenativenops_auto_monitor::config::{MonitorConfig, Source};
use machinenativenops_auto_monitor::metrics::{Batch, Family};

/// Rules (one family each) and series per family; `BENCH_RULES` / `BENCH_PER_RULE` shrink
/// them for the CI smoke run (scripts/bench/smoke.sh).
fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn batch(t: SystemTime, seed: u64, rules: usize, per_rule: usize) -> Arc<Batch> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let families = (0..rules)
        .map(|i| {
            let mut f = Family::gauge(format!("bench_metric_{i}"), "benchmark series");
            for j in 0..per_rule {
                let shard = j.to_string();
                let host = format!("host-{}", j % 10);
                // The same 5% of series stay above the threshold, with values that move.
                let v = if j % 20 == 0 {
                    96.0 + rng.f64() * 3.0
                } else {
                    rng.f64() * 90.0
                };
                f.push(&[("shard", &shard), ("host", &host), ("job", "bench")], v);
            }
            f
        })
        .collect();
    Arc::new(Batch {
        collected_at: t,
        families,
    })
}

fn main() {
    let (rules_n, per_rule) = (size("BENCH_RULES", 1_000), size("BENCH_PER_RULE", 100));
    let mut cfg = MonitorConfig::default();
    cfg.alerts.default_rules.enabled = false;
    cfg.alerts.rules = (0..rules_n)
        .map(|i| RuleSpec {
            alert: Some(format!("BenchHigh{i}")),
            expr: Some(format!("bench_metric_{i}{{shard=~\".+\"}} > 95")),
            for_: Some(machinenativenops_auto_monitor::alerts::duration::Dur::secs(
                3600,
            )),
            labels: [("severity".to_string(), "warning".to_string())].into(),
            annotations: [(
                "summary".to_string(),
                "{{ $labels.shard }} is {{ $value | humanize }}".to_string(),
            )]
            .into(),
            ..Default::default()
        })
        .collect();
    let set = rules::load(&cfg, &Source::Embedded, &Default::default()).expect("rules load");
    let settings = Settings::build(&cfg).expect("settings");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = History::open(&dir.path().join("alerts.db")).expect("db");
    let mut core = Core::new(set, settings, db).expect("core");
    let t0 = SystemTime::now();
    let batches: Vec<Arc<Batch>> = (0..8u64)
        .map(|i| batch(t0 + Duration::from_secs(i), i, rules_n, per_rule))
        .collect();
    let series: usize = batches[0].families.iter().map(|f| f.samples.len()).sum();
    // Warm up: the first tick creates the pending alerts.
    core.tick(batches[0].clone());
    let mut times = Vec::new();
    for k in 1..=40u64 {
        let mut b = (*batches[(k % 8) as usize]).clone();
        b.collected_at = t0 + Duration::from_secs(k * 30);
        let b = Arc::new(b);
        // The agent's channel holds the batch; freeing its 100,000 samples is not evaluation.
        let held = b.clone();
        let start = Instant::now();
        core.tick(b);
        times.push(start.elapsed());
        drop(held);
    }
    times.sort();
    let alerts = core.live_alerts().len();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
    println!(
        "alert evaluation: {rules_n} threshold rules over {series} series, {alerts} active alerts, one thread"
    );
    println!(
        "  per tick: median {:.2} ms, mean {:.2} ms, min {:.2} ms, max {:.2} ms ({} ticks)",
        ms(times[times.len() / 2]),
        mean,
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
    println!(
        "  target < 10 ms per tick: {}",
        if ms(times[times.len() / 2]) < 10.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
