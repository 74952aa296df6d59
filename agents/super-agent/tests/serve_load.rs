//! 50 gate requests at once: each answers with the right status, none is lost or run twice,
//! the server stays healthy, and /metrics adds up (and passes `promtool check metrics`).

mod common;
#[path = "../../../libs/mno-gates/tests/common/mod.rs"]
mod gates_fixture;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

const TOKEN: &str = "load-token-0123456789";
const REQUESTS: u64 = 50;

/// The value of the sample `name{labels}` in a text exposition (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn fifty_concurrent_gate_requests_all_complete_correctly() {
    let dir = tempfile::tempdir().unwrap();
    gates_fixture::write_repo(&dir.path().join("repos/broken"), false);
    gates_fixture::write_repo(&dir.path().join("repos/fixed"), true);
    let mut server = Server::start(
        dir.path(),
        Opts {
            token: Some(TOKEN.into()),
            config: Some("max_concurrent_gates: 2\nmax_queued_gates: 100\n".into()),
            ..Default::default()
        },
    );
    let http = Http::new();
    let auth = server.auth();
    // Odd PRs are broken, even ones fixed; half go through /message, half through the API.
    let answers: Vec<(u64, Result<Resp, String>)> = http.rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for pr in 1..=REQUESTS {
            let root = if pr % 2 == 1 { "broken" } else { "fixed" };
            let (url, body) = if pr % 4 < 2 {
                (
                    server.url("/message"),
                    envelope(
                        "GateValidationRequest",
                        &format!("load-{pr}"),
                        gate_payload(pr, root),
                    ),
                )
            } else {
                (
                    server.url("/api/v1/gates?wait=true"),
                    gate_payload(pr, root),
                )
            };
            let req = build(
                &http.client,
                "POST",
                &url,
                &auth,
                Some((body.to_string().into_bytes(), "application/json")),
            );
            set.spawn(async move { (pr, send(req).await) });
        }
        set.join_all().await
    });
    assert_eq!(answers.len() as u64, REQUESTS);
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for (pr, r) in answers {
        let r = r.unwrap_or_else(|e| panic!("PR {pr}: {e}"));
        assert_eq!(r.status, 200, "PR {pr}: {}", r.text());
        let v = r.json();
        let resp = if pr % 4 < 2 {
            assert_eq!(v["trace_id"], format!("load-{pr}"));
            v["processing_result"].clone()
        } else {
            v["response"].clone()
        };
        assert_eq!(resp["validation_id"], validation_id(pr), "{resp:#}");
        let want = if pr % 2 == 1 { "FAILED" } else { "PASSED" };
        assert_eq!(resp["overall_status"], want, "PR {pr}: {resp:#}");
        if want == "FAILED" {
            let n: usize = resp["validation_results"]
                .as_object()
                .unwrap()
                .values()
                .map(|c| c["findings"].as_array().unwrap().len())
                .sum();
            assert_eq!(n, gates_fixture::expected_findings().len(), "PR {pr}");
        }
        *by_status.entry(want.to_string()).or_default() += 1;
    }
    assert_eq!(by_status["FAILED"], REQUESTS / 2);
    assert_eq!(by_status["PASSED"], REQUESTS / 2);

    // Healthy, idle, and every job stored.
    assert_eq!(http.get(&server.url("/health")).status, 200);
    let ready = http.get(&server.url("/ready")).json();
    assert_eq!(ready["gates"]["running"], 0);
    assert_eq!(ready["gates"]["queued"], 0);
    let list = http.get(&server.url("/api/v1/gates?limit=1000")).json();
    assert_eq!(list["gates"].as_array().unwrap().len() as u64, REQUESTS);

    // The metrics add up.
    let text = http.get(&server.url("/metrics")).text();
    let half = (REQUESTS / 2) as f64;
    assert_eq!(
        sample(&text, "mno_agent_gate_runs_total{status=\"FAILED\"}"),
        half,
        "{text}"
    );
    assert_eq!(
        sample(&text, "mno_agent_gate_runs_total{status=\"PASSED\"}"),
        half,
        "{text}"
    );
    assert_eq!(
        sample(&text, "mno_agent_gate_duration_seconds_count"),
        REQUESTS as f64
    );
    assert_eq!(
        sample(&text, "mno_agent_gate_duration_seconds_bucket{le=\"+Inf\"}"),
        REQUESTS as f64
    );
    assert_eq!(
        sample(
            &text,
            "mno_agent_messages_total{message_type=\"GateValidationRequest\",status=\"processed\"}"
        ),
        REQUESTS as f64,
        "{text}"
    );
    // Each broken run reports each expected finding once, by check and severity.
    let mut per_check: BTreeMap<&str, f64> = BTreeMap::new();
    for (check, rule, ..) in gates_fixture::expected_findings() {
        if !gates_fixture::is_warning(rule) {
            *per_check.entry(check).or_default() += half;
        }
    }
    for (check, n) in per_check {
        let series =
            format!("mno_agent_gate_findings_total{{check=\"{check}\",severity=\"error\"}}");
        assert_eq!(sample(&text, &series), n, "{series}\n{text}");
    }
    assert_eq!(sample(&text, "mno_agent_gates_in_flight"), 0.0);

    if let Some(promtool) = tool("promtool") {
        let out = mno_testkit::promtool_check_metrics(&promtool, &text);
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        server.terminate(Duration::from_secs(30)).success(),
        "{}",
        server.stderr()
    );
}
