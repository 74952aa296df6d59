//! `serve` end to end: readiness, content negotiation, health, errors,
//! HTTP checks against a live local server, graceful shutdown, log file.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn metrics_health_ready_and_graceful_shutdown() {
    let mut a = Agent::start("monitoring:\n  interval: 1\n", &[]);
    a.wait_ready(Duration::from_secs(20));

    let (status, h, body) = http_get(&a.url("/metrics"), &[]).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        h["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(body).unwrap();
    let fams = parse_text(&text);
    for name in [
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_load1",
        "node_boot_time_seconds",
        "mno_cpu_usage_percent",
        "mno_memory_usage_percent",
        "mno_collector_success",
        "process_resident_memory_bytes",
    ] {
        assert!(fams.contains_key(name), "missing {name}");
    }
    // Every collector succeeded on this host.
    for (labels, v) in &fams["mno_collector_success"].samples {
        assert_eq!(*v, 1.0, "collector {labels:?} failed");
    }

    // OpenMetrics when asked, as Prometheus asks.
    let (_, h, body) = http_get(
        &a.url("/metrics"),
        &[(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    )
    .unwrap();
    assert!(h["content-type"].starts_with("application/openmetrics-text; version=1.0.0"));
    let om = String::from_utf8(body).unwrap();
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE node_cpu_seconds counter"));

    // gzip when accepted (reqwest here does not decompress: the gzip feature is off).
    let (_, h, body) = http_get(&a.url("/metrics"), &[("accept-encoding", "gzip")]).unwrap();
    assert_eq!(h.get("content-encoding").map(String::as_str), Some("gzip"));
    assert_eq!(&body[..2], &[0x1f, 0x8b]);

    let (status, _, body) = http_get(&a.url("/health"), &[]).unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert!(v["version"].as_str().unwrap().starts_with("2."));
    assert!(v["uptime_seconds"].as_f64().unwrap() >= 0.0);

    let (status, _, body) = http_get(&a.url("/nope"), &[]).unwrap();
    assert_eq!(status, 404);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "not_found");

    // A scrape is served from the batch: two scrapes within one tick are identical.
    let t1 = http_get(&a.url("/metrics"), &[]).unwrap().2;
    let t2 = http_get(&a.url("/metrics"), &[]).unwrap().2;
    let ts = |b: &[u8]| {
        parse_text(std::str::from_utf8(b).unwrap())["mno_last_collection_timestamp_seconds"].samples
            [0]
        .1
    };
    if ts(&t1) == ts(&t2) {
        assert_eq!(t1, t2);
    }

    let log = a.dir.path().join("log/monitor.log");
    let (status, err) = a.terminate();
    assert!(status.success(), "exit {status}: {err}");
    assert!(err.contains("shutting down"), "{err}");
    let logged = std::fs::read_to_string(log).expect("log file written");
    assert!(logged.contains("starting"), "{logged}");
}

#[test]
fn http_checks_report_up_down_and_response_time() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let status = if req.starts_with("GET /healthy") {
                "200 OK"
            } else {
                "500 Internal Server Error"
            };
            let _ = s.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    let dead = free_port();
    let yaml = format!(
        "monitoring:\n  interval: 1\nhttp_checks:\n  - name: web\n    url: http://127.0.0.1:{port}/healthy\n    interval: 0.5\n  - name: broken\n    url: http://127.0.0.1:{port}/broken\n    expected_status: [200]\n    interval: 0.5\nservices:\n  foundation_layer:\n    gone: http://127.0.0.1:{dead}/health\n"
    );
    let mut a = Agent::start(&yaml, &[]);
    a.wait_ready(Duration::from_secs(20));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let body = http_get(&a.url("/metrics"), &[]).unwrap().2;
        let fams = parse_text(std::str::from_utf8(&body).unwrap());
        if let Some(up) = fams.get("mno_service_up")
            && up.samples.len() == 3
        {
            let get = |f: &str, svc: &str| {
                fams[f]
                    .samples
                    .iter()
                    .find(|(l, _)| l["service"] == svc)
                    .map(|(_, v)| *v)
                    .unwrap()
            };
            assert_eq!(get("mno_service_up", "web"), 1.0);
            assert_eq!(get("mno_service_up", "broken"), 0.0);
            assert_eq!(get("mno_service_up", "gone"), 0.0);
            assert_eq!(get("mno_service_http_status", "web"), 200.0);
            assert_eq!(get("mno_service_http_status", "broken"), 500.0);
            assert_eq!(get("mno_service_http_status", "gone"), 0.0);
            let rt = get("mno_service_response_time_seconds", "web");
            assert!(rt > 0.0 && rt < 5.0, "{rt}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "checks never reported"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn unwritable_log_file_warns_and_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let bad = blocker.join("sub/monitor.log");
    let mut a = Agent::start(
        "monitoring:\n  interval: 1\n",
        &[("MNO_LOG_FILE", bad.to_str().unwrap())],
    );
    a.wait_ready(Duration::from_secs(20));
    let (status, err) = a.terminate();
    assert!(status.success());
    assert!(
        err.contains("is not writable") && err.contains("stderr only"),
        "{err}"
    );
}

#[test]
fn unwritable_data_dir_falls_back_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let bad = blocker.join("auto_monitor/metrics.db");
    let home = dir.path().join("home");
    let mut a = Agent::start(
        "monitoring:\n  interval: 1\n",
        &[
            ("MNO_DB_PATH", bad.to_str().unwrap()),
            ("XDG_DATA_HOME", home.to_str().unwrap()),
        ],
    );
    a.wait_ready(Duration::from_secs(20));
    let (_, err) = a.terminate();
    let first = err.lines().next().unwrap_or("");
    assert!(
        first.contains(
            &home
                .join("machinenativenops/auto_monitor/metrics.db")
                .display()
                .to_string()
        ),
        "{first}"
    );
    assert!(first.contains("fallback"), "{first}");
}

#[test]
fn a_failing_collector_does_not_stop_the_others() {
    // A procfs with only loadavg in it: every other /proc reader fails this tick.
    let dir = tempfile::tempdir().unwrap();
    let proc = dir.path().join("proc");
    std::fs::create_dir_all(&proc).unwrap();
    std::fs::write(proc.join("loadavg"), "0.50 0.25 0.10 1/100 4242\n").unwrap();
    let (_d, cfg) = config_file(&format!(
        "collectors:\n  procfs_path: {}\n  filesystem: false\n",
        proc.display()
    ));
    let o = run(
        &["--config", cfg.to_str().unwrap(), "collect", "--once"],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fams = parse_text(&String::from_utf8(o.stdout).unwrap());
    let success = |c: &str| {
        fams["mno_collector_success"]
            .samples
            .iter()
            .find(|(l, _)| l["collector"] == c)
            .map(|(_, v)| *v)
    };
    assert_eq!(success("loadavg"), Some(1.0));
    assert_eq!(success("cpu"), Some(0.0));
    assert_eq!(success("meminfo"), Some(0.0));
    assert_eq!(
        success("filesystem"),
        None,
        "disabled collectors are not run"
    );
    assert_eq!(fams["node_load1"].samples[0].1, 0.5);
    assert!(!fams.contains_key("node_cpu_seconds_total"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("collector failed") && err.contains("meminfo"),
        "{err}"
    );
}

#[test]
fn log_file_rotates_by_size_and_keeps_backup_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/monitor.log");
    let yaml = format!(
        "monitoring:\n  interval: 1\nlogging:\n  level: DEBUG\n  file: {}\n  max_size: \"300\"\n  backup_count: 2\n",
        log.display()
    );
    // MNO_LOG_FILE (set by the harness) would override logging.file: point it at the same file.
    let mut a = Agent::start(&yaml, &[("MNO_LOG_FILE", log.to_str().unwrap())]);
    a.wait_ready(Duration::from_secs(20));
    // DEBUG logging writes a line of over 50 bytes per tick: 4 s is well past 3 × 300 bytes.
    std::thread::sleep(Duration::from_millis(4000));
    let (status, _) = a.terminate();
    assert!(status.success());
    let mut names: Vec<String> = std::fs::read_dir(log.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["monitor.log", "monitor.log.1", "monitor.log.2"],
        "{names:?}"
    );
    for n in &names[1..] {
        let len = std::fs::metadata(log.parent().unwrap().join(n))
            .unwrap()
            .len();
        assert!((300..300 + 1024).contains(&len), "{n} is {len} bytes");
    }
}
