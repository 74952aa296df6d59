//! A real Prometheus server scrapes the agent and answers instant queries
//! with our values.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn query(prom_port: u16, q: &str) -> Option<f64> {
    let url = format!("http://127.0.0.1:{prom_port}/api/v1/query?query={q}");
    let (status, _, body) = http_get(&url, &[]).ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let r = v["data"]["result"].as_array()?.first()?.clone();
    r["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_us_and_answers_with_our_values() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    // A long interval keeps our values fixed while Prometheus scrapes several times.
    let mut agent = Agent::start("monitoring:\n  interval: 600\n", &[]);
    agent.wait_ready(Duration::from_secs(20));

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: mno\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            agent.port
        ),
    )
    .unwrap();
    let prom_port = free_port();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prom = Kill(
        Command::new(prometheus)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );

    let ours =
        parse_text(std::str::from_utf8(&http_get(&agent.url("/metrics"), &[]).unwrap().2).unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut mem, mut cpu, mut up) = (None, None, None);
    while Instant::now() < deadline && (mem.is_none() || cpu.is_none() || up.is_none()) {
        mem = mem.or_else(|| query(prom_port, "node_memory_MemAvailable_bytes"));
        cpu = cpu.or_else(|| query(prom_port, "mno_cpu_usage_percent"));
        up = up.or_else(|| query(prom_port, "up"));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(up, Some(1.0), "Prometheus could not scrape the agent");
    assert_eq!(
        mem,
        Some(ours["node_memory_MemAvailable_bytes"].samples[0].1)
    );
    let c = cpu.expect("mno_cpu_usage_percent queried");
    assert!(
        (c - ours["mno_cpu_usage_percent"].samples[0].1).abs() < 1e-9,
        "{c}"
    );
}
