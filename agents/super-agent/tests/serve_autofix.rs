//! `super-agent serve` with `autofix.enabled`: each run's proposed patches are written next to
//! its reports and listed in report.json; the checked-out tree is not changed.

mod common;
#[path = "../../../libs/mno-gates/tests/common/mod.rs"]
mod gates_fixture;

use std::time::Duration;

use common::*;
use serde_json::Value;

#[test]
fn patches_are_written_next_to_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repos/broken");
    gates_fixture::write_repo(&repo, false);
    let before = std::fs::read_to_string(repo.join(gates_fixture::ENV_FILE)).unwrap();
    let mut server = Server::start(
        dir.path(),
        Opts {
            token: Some("autofix-token-0123456789".into()),
            config: Some("store: memory\nautofix:\n  enabled: true\n".into()),
            ..Default::default()
        },
    );
    let http = Http::new();
    let r = http.post(
        &server.url("/api/v1/gates?wait=true"),
        &server.auth(),
        &gate_payload(7, "broken"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let job = r.json();
    let path = job["reports"]["report.json"]["path"].as_str().unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let proposed = report["fixes"]["proposed"].as_array().unwrap();
    assert!(proposed.len() >= 3, "{:#}", report["fixes"]);
    let folder = std::path::Path::new(path).parent().unwrap();
    for p in proposed {
        let file = folder.join(p["patch"].as_str().unwrap());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("diff --git a/"), "{}", file.display());
    }
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(md.contains("### Proposed fixes"));
    // Nothing is applied by the server.
    assert_eq!(
        std::fs::read_to_string(repo.join(gates_fixture::ENV_FILE)).unwrap(),
        before
    );
    assert!(server.terminate(Duration::from_secs(20)).success());
}
