//! `retention:` end to end: a server keeping one finished job prunes the older one, its
//! report folder with it, and counts it in `mno_agent_pruned_total`.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn finished_jobs_past_the_count_are_pruned_with_their_report_folders() {
    let dir = tempfile::tempdir().unwrap();
    write_slow_repo(&dir.path().join("repos/r"), 0.0);
    let server = Server::start(
        dir.path(),
        Opts {
            config: Some("store: sqlite\nretention:\n  jobs_max_count: 1\n  interval: 1\n".into()),
            ..Default::default()
        },
    );
    let http = Http::new();
    for pr in [1, 2] {
        let r = http.post(
            &server.url("/api/v1/gates?wait=true"),
            &server.auth(),
            &gate_payload(pr, "r"),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (old, new) = (validation_id(1), validation_id(2));
    let reports = server.data_dir.join("reports");
    // The next pass (every second) removes the older job; wait for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http.get(&server.url(&format!("/api/v1/gates/{old}")));
        if r.status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{old} never pruned: {}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !reports.join(&old).exists(),
        "the pruned job's folder is left"
    );
    assert!(reports.join(&new).join("report.json").is_file());
    assert_eq!(
        http.get(&server.url(&format!("/api/v1/gates/{new}")))
            .status,
        200
    );
    let metrics = http.get(&server.url("/metrics")).text();
    assert!(
        metrics.contains("mno_agent_pruned_total{kind=\"jobs\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mno_agent_pruned_total{kind=\"reports\"} 1"),
        "{metrics}"
    );
}
