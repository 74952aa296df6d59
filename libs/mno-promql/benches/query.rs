//! Query latency on 24 hours of 1-second data, ours against Prometheus on
//! the same samples in the same run:
//!
//! - one series, 86,400 points: the raw range `node_load1[24h]` (instant
//!   query returning every point), and range queries over 24 h reading them;
//! - `avg by (mode) (rate(node_cpu_seconds_total[1m]))` over 24 h
//!   (4 CPUs x 8 modes = 32 counters, 2.76 M samples).
//!
//! Run: `cargo bench -p mno-promql --bench query` (needs prometheus and
//! promtool on PATH for the comparison; without them only our figures print).
//! Prometheus is timed over loopback HTTP, so its figure includes HTTP and
//! JSON; ours is printed with and without rendering the same JSON.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::Rng;
use mno_promql::{MemStorage, QueryOptions, SeriesData, Value, instant_query, json, range_query};

const DAY: i64 = 86_400;
/// Start of the benchmark data: 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;

fn data() -> Vec<SeriesData> {
    let mut rng = Rng::new(7);
    let mut out = Vec::new();
    let mut load = 0.5f64;
    out.push(SeriesData {
        labels: common::labels(&[("__name__", "node_load1"), ("instance", "host")]),
        samples: (0..DAY)
            .map(|i| {
                load = (load + (rng.f() - 0.5) * 0.05).max(0.0);
                ((START + i) * 1000, (load * 100.0).round() / 100.0)
            })
            .collect(),
    });
    let modes = [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ];
    let shares = [0.2, 0.01, 0.08, 0.65, 0.03, 0.005, 0.02, 0.005];
    for cpu in 0..4 {
        for (mode, share) in modes.iter().zip(shares) {
            let mut v = 10_000.0 * share;
            let cpu = cpu.to_string();
            out.push(SeriesData {
                labels: common::labels(&[
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", &cpu),
                    ("mode", mode),
                    ("instance", "host"),
                ]),
                samples: (0..DAY)
                    .map(|i| {
                        // USER_HZ resolution, as /proc/stat reports it.
                        v += ((share * (0.5 + rng.f())) * 100.0).round() / 100.0;
                        ((START + i) * 1000, (v * 100.0).round() / 100.0)
                    })
                    .collect(),
            });
        }
    }
    out
}

struct Case {
    name: &'static str,
    query: &'static str,
    /// None: instant query at the end; Some(step seconds): range query over the day.
    step: Option<i64>,
}

const CASES: &[Case] = &[
    Case {
        name: "1 series, raw 24h (86,400 points returned)",
        query: "node_load1[24h]",
        step: None,
    },
    Case {
        name: "1 series, 24h range, step 60s (86,400 points read)",
        query: "avg_over_time(node_load1[1m])",
        step: Some(60),
    },
    Case {
        name: "1 series, 24h range, step 15s",
        query: "node_load1",
        step: Some(15),
    },
    Case {
        name: "avg by (mode) (rate(cpu[1m])), 24h, step 60s",
        query: "avg by (mode) (rate(node_cpu_seconds_total[1m]))",
        step: Some(60),
    },
    Case {
        name: "avg by (mode) (rate(cpu[1m])), 24h, step 15s",
        query: "avg by (mode) (rate(node_cpu_seconds_total[1m]))",
        step: Some(15),
    },
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn run(store: &MemStorage, c: &Case) -> Value {
    let opts = QueryOptions::default();
    let end = (START + DAY - 1) * 1000;
    let r = match c.step {
        None => instant_query(store, c.query, end, &opts),
        Some(step) => range_query(store, c.query, START * 1000, end, step * 1000, &opts),
    };
    r.unwrap_or_else(|e| panic!("{}: {e}", c.query))
}

fn main() {
    // `cargo test --benches` runs benches in test mode: keep that quick.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let t = Instant::now();
    let series = data();
    let store = MemStorage::from_series(series.clone());
    println!(
        "data: {} series, {} samples, generated in {}",
        store.len(),
        store.sample_count(),
        ms(t.elapsed())
    );
    let prom = {
        let t = Instant::now();
        let p = common::Prometheus::start(&series);
        if p.is_some() {
            println!("prometheus: backfilled and ready in {}", ms(t.elapsed()));
        }
        p
    };
    println!();
    println!(
        "{:<52} {:>10} {:>14} {:>12} {:>10}",
        "query (median of 20)", "ours", "ours+JSON", "prometheus", "ratio"
    );
    for c in CASES {
        let engine = time(20, || {
            std::hint::black_box(run(&store, c));
        });
        let mut bytes = 0;
        let with_json = time(20, || {
            let v = run(&store, c);
            bytes = json::render_success(&v).len();
        });
        let (prom_t, ratio) = match &prom {
            Some(p) => {
                let end = START + DAY - 1;
                let params: Vec<(&str, String)> = match c.step {
                    None => vec![("query", c.query.to_string()), ("time", end.to_string())],
                    Some(step) => vec![
                        ("query", c.query.to_string()),
                        ("start", START.to_string()),
                        ("end", end.to_string()),
                        ("step", step.to_string()),
                    ],
                };
                let path = if c.step.is_some() {
                    "/api/v1/query_range"
                } else {
                    "/api/v1/query"
                };
                let mut prom_bytes = 0;
                let d = time(20, || {
                    let (status, body) = p.get(path, &params);
                    assert_eq!(status, 200, "{body}");
                    prom_bytes = body.len();
                });
                let _ = prom_bytes;
                (
                    ms(d),
                    format!("{:.1}x", d.as_secs_f64() / with_json.as_secs_f64()),
                )
            }
            None => ("-".to_string(), "-".to_string()),
        };
        println!(
            "{:<52} {:>10} {:>14} {:>12} {:>10}",
            c.name,
            ms(engine),
            ms(with_json),
            prom_t,
            ratio
        );
        let _ = bytes;
    }
    println!(
        "\nratio = prometheus (HTTP + JSON) / ours (engine + JSON); above 1 means we are faster"
    );
}
