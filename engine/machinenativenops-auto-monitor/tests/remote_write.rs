//! remote_write into a real Prometheus (`--web.enable-remote-write-receiver`): every sample
//! the agent collected (its own local store is the reference) arrives, including across a
//! receiver outage shorter than the queue; a queue at its limit drops the oldest and says so.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Prometheus {
    child: Child,
}

impl Prometheus {
    fn start(bin: &Path, dir: &Path, port: u16) -> Prometheus {
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let mut p = Prometheus { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _, _)) = http_get(&format!("http://127.0.0.1:{port}/-/ready"), &[]) {
                return p;
            }
            if let Ok(Some(s)) = p.child.try_wait() {
                panic!("prometheus exited: {s}");
            }
            assert!(Instant::now() < deadline, "prometheus not ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The samples of `series` over the last 10 minutes at `time` (or now): (ms, value).
fn samples(base: &str, series: &str, time: Option<f64>) -> Vec<(i64, f64)> {
    let mut url = format!("{base}/api/v1/query?query={series}[10m]");
    if let Some(t) = time {
        url.push_str(&format!("&time={t:.3}"));
    }
    let Ok((200, _, body)) = http_get(&url, &[]) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let Some(r) = v["data"]["result"].as_array().and_then(|a| a.first()) else {
        return Vec::new();
    };
    r["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t = p[0].as_f64().unwrap();
            let v: f64 = p[1].as_str().unwrap().parse().unwrap();
            ((t * 1000.0).round() as i64, v)
        })
        .collect()
}

/// The agent's `mno_remote_write_*` value for `metric` (summed over its samples).
fn agent_metric(agent: &Agent, metric: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let (_, _, body) = http_get(&agent.url("/metrics"), &[]).ok()?;
    let fams = parse_text(std::str::from_utf8(&body).ok()?);
    let f = fams.get(metric)?;
    Some(
        f.samples
            .iter()
            .filter(|(l, _)| label.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v)))
            .map(|(_, v)| v)
            .sum(),
    )
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn agent_config(port: u16, queue: &str) -> String {
    format!(
        "monitoring:\n  interval: 1\n\
         collectors:\n  cpu: false\n  diskstats: false\n  filesystem: false\n  netdev: false\n  vmstat: false\n\
         alerts:\n  enabled: false\n\
         remote_write:\n  - url: http://127.0.0.1:{port}/api/v1/write\n    name: central\n\
         \x20   queue_max_size: {queue}\n    min_backoff: 0.05\n    max_backoff: 0.5\n\
         \x20   external_labels: {{instance: test-host}}\n"
    )
}

const SERIES: &str = "mno_last_collection_timestamp_seconds";

#[test]
fn every_sample_arrives_across_a_receiver_outage() {
    let Some(prom_bin) = tool("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prom = Prometheus::start(&prom_bin, dir.path(), port);
    let prom_url = format!("http://127.0.0.1:{port}");
    let mut agent = Agent::start(&agent_config(port, "64MB"), &[]);
    agent.wait_ready(Duration::from_secs(20));
    wait_for(
        "the first samples in Prometheus",
        Duration::from_secs(30),
        || samples(&prom_url, SERIES, None).len() >= 3,
    );

    // Outage: the receiver is killed; the agent keeps collecting into its queue.
    drop(prom);
    let outage_start = std::time::SystemTime::now();
    wait_for(
        "samples queued during the outage",
        Duration::from_secs(30),
        || {
            agent_metric(&agent, "mno_remote_write_failed_sends_total", None).unwrap_or(0.0) >= 1.0
                && agent_metric(&agent, "mno_remote_write_samples_pending", None).unwrap_or(0.0)
                    > 0.0
        },
    );
    std::thread::sleep(Duration::from_secs(4));
    let outage_end = std::time::SystemTime::now();
    let _prom = Prometheus::start(&prom_bin, dir.path(), port);
    wait_for("the queue to drain", Duration::from_secs(60), || {
        agent_metric(&agent, "mno_remote_write_samples_pending", None) == Some(0.0)
    });

    // Compare with the agent's own store, up to the newest sample Prometheus has.
    let got = samples(&prom_url, SERIES, None);
    let last = got.last().expect("samples in Prometheus").0;
    let want = samples(&agent.url(""), SERIES, Some(last as f64 / 1000.0));
    assert!(want.len() >= 8, "the agent stored {} ticks", want.len());
    assert_eq!(
        got.len(),
        want.len(),
        "Prometheus has {} samples, the agent collected {}",
        got.len(),
        want.len()
    );
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.0, w.0, "timestamps differ");
        assert!((g.1 - w.1).abs() < 1e-3, "values differ: {g:?} {w:?}");
    }
    // Some of them were collected while the receiver was down.
    let ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    };
    let during = got
        .iter()
        .filter(|(t, _)| *t > ms(outage_start) && *t < ms(outage_end))
        .count();
    assert!(during >= 3, "{during} samples from the outage");
    // Another series of the same ticks arrived whole too, with the external label.
    let q = format!(
        "{prom_url}/api/v1/query?query=count_over_time(mno_collector_success{{collector=\"loadavg\",instance=\"test-host\",job=\"machinenativenops-auto-monitor\"}}[10m])&time={:.3}",
        last as f64 / 1000.0
    );
    let (_, _, body) = http_get(&q, &[]).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let n: f64 = v["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(n as usize, want.len());
    assert_eq!(
        agent_metric(&agent, "mno_remote_write_samples_dropped_total", None),
        Some(0.0)
    );
}

#[test]
fn a_full_queue_drops_the_oldest_and_reports_it() {
    let Some(prom_bin) = tool("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(); // nothing listens yet
    let mut agent = Agent::start(&agent_config(port, "8KB"), &[]);
    agent.wait_ready(Duration::from_secs(20));
    wait_for("drops to be reported", Duration::from_secs(60), || {
        agent_metric(
            &agent,
            "mno_remote_write_samples_dropped_total",
            Some(("reason", "queue_full")),
        )
        .unwrap_or(0.0)
            > 0.0
    });
    let bytes = agent_metric(&agent, "mno_remote_write_queue_bytes", None).unwrap();
    assert!(bytes > 0.0 && bytes <= 8192.0, "queue holds {bytes} bytes");
    let queue_dir: PathBuf = agent.dir.path().join("data/remote_write/central");
    let on_disk: u64 = std::fs::read_dir(&queue_dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 8192, "{on_disk} bytes on disk");
    // The receiver comes up: what is still queued arrives; the dropped ticks do not.
    let _prom = Prometheus::start(&prom_bin, dir.path(), port);
    let prom_url = format!("http://127.0.0.1:{port}");
    wait_for("the queue to drain", Duration::from_secs(60), || {
        agent_metric(&agent, "mno_remote_write_samples_pending", None) == Some(0.0)
            && !samples(&prom_url, SERIES, None).is_empty()
    });
    let got = samples(&prom_url, SERIES, None);
    let last = got.last().unwrap().0;
    let want = samples(&agent.url(""), SERIES, Some(last as f64 / 1000.0));
    assert!(
        got.len() < want.len(),
        "dropped ticks cannot have arrived: {} of {}",
        got.len(),
        want.len()
    );
    assert!(got.iter().all(|g| want.contains(g)));
}
