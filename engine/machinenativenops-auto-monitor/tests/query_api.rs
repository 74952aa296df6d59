//! The Prometheus-compatible query API through the axum routes: response
//! shapes, parameters, bad queries (400 with errorType, never 5xx), the
//! sample budget, the "no store" answer, and error parity with a real
//! Prometheus for the same bad requests.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use machinenativenops_auto_monitor::api::{self, query};
use mno_promql::{MemStorage, QueryOptions, Storage};
use serde_json::Value as J;
use tower::ServiceExt;

/// Two hours of a gauge and a counter at 15 s, ending at 2026-01-01T02:00:00Z.
const T0: i64 = 1_767_225_600;

fn store() -> MemStorage {
    let mut m = MemStorage::new();
    for i in 0..480 {
        let t = (T0 + i * 15) * 1000;
        for inst in ["a", "b"] {
            m.add(
                &[("__name__", "up"), ("job", "node"), ("instance", inst)],
                t,
                1.0,
            );
            m.add(
                &[
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", "0"),
                    ("mode", "idle"),
                    ("instance", inst),
                ],
                t,
                i as f64 * 14.5,
            );
        }
    }
    m
}

fn app() -> Router {
    query::routes(Arc::new(store()))
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, J) {
    let resp = app.clone().oneshot(req).await.expect("router answers");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .expect("body");
    assert_eq!(ctype, "application/json", "status {status}");
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    (status, json)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, J) {
    call(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

async fn post_form(app: &Router, path: &str, form: &str) -> (StatusCode, J) {
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("request");
    call(app, req).await
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn instant_query_shape() {
    let app = app();
    let (status, j) = get(&app, &format!("/api/v1/query?query=up&time={}", T0 + 3600)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(j["status"], "success");
    assert_eq!(j["data"]["resultType"], "vector");
    let r = j["data"]["result"].as_array().expect("result");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["metric"]["__name__"], "up");
    assert_eq!(r[0]["value"][0].as_f64(), Some((T0 + 3600) as f64));
    assert_eq!(r[0]["value"][1], "1");
    // RFC 3339 time, and a scalar.
    let (status, j) = get(
        &app,
        "/api/v1/query?query=1%2B1&time=2026-01-01T01:00:00.5Z",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(j["data"]["resultType"], "scalar");
    assert_eq!(
        j["data"]["result"][0].as_f64(),
        Some((T0 + 3600) as f64 + 0.5)
    );
    assert_eq!(j["data"]["result"][1], "2");
}

#[tokio::test]
async fn range_query_shape_and_post_form() {
    let app = app();
    let q = enc("sum by (mode) (rate(node_cpu_seconds_total[1m]))");
    let form = format!("query={q}&start={}&end={}&step=5m", T0 + 600, T0 + 3600);
    let (status, j) = post_form(&app, "/api/v1/query_range", &form).await;
    assert_eq!(status, StatusCode::OK, "{j}");
    assert_eq!(j["data"]["resultType"], "matrix");
    let s = &j["data"]["result"][0];
    assert_eq!(s["metric"], serde_json::json!({"mode": "idle"}));
    let values = s["values"].as_array().expect("values");
    assert_eq!(values.len(), 11);
    // Two counters at 14.5 per 15 s: 1.9333…/s together.
    let v: f64 = values[0][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("value");
    assert!((v - 2.0 * 14.5 / 15.0).abs() < 1e-9, "{v}");
    // The step as float seconds gives the same answer as a duration.
    let form = format!("query={q}&start={}&end={}&step=300", T0 + 600, T0 + 3600);
    let (_, j2) = post_form(&app, "/api/v1/query_range", &form).await;
    assert_eq!(j, j2);
}

#[tokio::test]
async fn metadata_endpoints() {
    let app = app();
    let (status, j) = get(
        &app,
        &format!("/api/v1/series?match[]={}", enc("up{instance=\"a\"}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        j["data"],
        serde_json::json!([{"__name__": "up", "instance": "a", "job": "node"}])
    );
    let (status, j) = get(&app, "/api/v1/series").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(j["error"], "no match[] parameter provided");
    let (_, j) = get(&app, "/api/v1/labels").await;
    assert_eq!(
        j["data"],
        serde_json::json!(["__name__", "cpu", "instance", "job", "mode"])
    );
    let (_, j) = post_form(&app, "/api/v1/labels", &format!("match[]={}", enc("up"))).await;
    assert_eq!(
        j["data"],
        serde_json::json!(["__name__", "instance", "job"])
    );
    let (_, j) = get(&app, "/api/v1/label/__name__/values").await;
    assert_eq!(
        j["data"],
        serde_json::json!(["node_cpu_seconds_total", "up"])
    );
    let (_, j) = get(
        &app,
        &format!("/api/v1/label/instance/values?match[]={}", enc("up")),
    )
    .await;
    assert_eq!(j["data"], serde_json::json!(["a", "b"]));
    let (status, j) = get(&app, "/api/v1/label/1bad/values").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(j["errorType"], "bad_data");
    // What Grafana asks besides queries.
    let (status, j) = get(&app, "/api/v1/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        j["data"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2."))
    );
    assert_eq!(
        get(&app, "/api/v1/metadata").await.1["data"],
        serde_json::json!({})
    );
    assert_eq!(
        get(&app, "/api/v1/query_exemplars?query=up").await.1["data"],
        serde_json::json!([])
    );
    // Out of range: nothing.
    let (_, j) = get(&app, "/api/v1/label/job/values?start=0&end=1").await;
    assert_eq!(j["data"], serde_json::json!([]));
}

/// Every bad request is a 4xx with Prometheus' error envelope, never a 5xx.
#[tokio::test]
async fn bad_queries_are_400_with_error_type() {
    let app = app();
    let now = T0 + 3600;
    let cases: Vec<(String, &str)> = vec![
        (
            format!("/api/v1/query?query={}", enc("rate(up[5m]")),
            "parse error",
        ),
        (
            format!("/api/v1/query?query={}", enc("nosuchfunction(up)")),
            "unknown function",
        ),
        (
            format!(
                "/api/v1/query?query={}",
                enc("holt_winters(up[5m], 0.1, 0.1)")
            ),
            "",
        ),
        (format!("/api/v1/query?query={}", enc("sum(up[5m])")), ""),
        (format!("/api/v1/query?query={}", enc("up{")), ""),
        ("/api/v1/query?query=".to_string(), "no expression"),
        ("/api/v1/query".to_string(), "no expression"),
        (
            "/api/v1/query?query=up&time=yesterday".to_string(),
            "invalid parameter \"time\"",
        ),
        // Prometheus accepts this and wraps the timestamp around; we refuse it.
        (
            "/api/v1/query?query=up&time=1e30".to_string(),
            "invalid parameter \"time\"",
        ),
        (
            "/api/v1/query?query=up&timeout=soon".to_string(),
            "invalid parameter \"timeout\"",
        ),
        (
            format!("/api/v1/query_range?query=up&start={now}&end={now}&step=0"),
            "zero or negative",
        ),
        (
            format!("/api/v1/query_range?query=up&start={now}&end={now}&step=-15"),
            "zero or negative",
        ),
        (
            format!("/api/v1/query_range?query=up&start=0&end={now}&step=1"),
            "exceeded maximum resolution of 11,000 points",
        ),
        (
            format!(
                "/api/v1/query_range?query=up&start={now}&end={}&step=1",
                now + 11_001
            ),
            "11,000",
        ),
        (
            format!(
                "/api/v1/query_range?query=up&start={now}&end={}&step=1",
                now - 1
            ),
            "end timestamp must not be before start time",
        ),
        (
            format!("/api/v1/query_range?query=up&end={now}&step=1"),
            "invalid parameter \"start\"",
        ),
        (
            format!("/api/v1/query_range?query=up&start={now}&end={now}&step=fast"),
            "invalid parameter \"step\"",
        ),
        (
            format!(
                "/api/v1/query_range?query={}&start={now}&end={now}&step=15",
                enc("up[5m]")
            ),
            "range vector",
        ),
        (
            format!(
                "/api/v1/query?query={}",
                enc(&format!("{}up{}", "sum(".repeat(500), ")".repeat(500)))
            ),
            "nests",
        ),
        (
            format!(
                "/api/v1/query?query={}",
                enc(&format!("1{}", "+1".repeat(5000)))
            ),
            "operators",
        ),
    ];
    for (uri, want) in cases {
        let (status, j) = get(&app, &uri).await;
        let short = &uri[..uri.len().min(100)];
        assert_eq!(status, StatusCode::BAD_REQUEST, "{short}: {j}");
        assert_eq!(j["status"], "error", "{short}");
        assert_eq!(j["errorType"], "bad_data", "{short}");
        let msg = j["error"].as_str().unwrap_or("");
        assert!(msg.contains(want), "{short}: {msg}");
    }
    // The 11,000-point message is Prometheus' own, word for word.
    let (_, j) = get(
        &app,
        &format!("/api/v1/query_range?query=up&start=0&end={now}&step=1"),
    )
    .await;
    assert_eq!(
        j["error"],
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
}

/// A query over more data than the budget is a 422 execution error, not an OOM.
#[tokio::test]
async fn huge_selections_hit_the_sample_budget() {
    // The store holds 1,920 samples; 500 is less than one metric's worth.
    let opts = QueryOptions {
        max_samples: 500,
        ..QueryOptions::default()
    };
    let app = query::routes_with(Some(Arc::new(store())), opts);
    let t = T0 + 7200;
    for q in [
        "sum_over_time(up[1y])",
        "up[10y]",
        "max_over_time(rate(up[1h])[1y:1s])",
    ] {
        let (status, j) = get(&app, &format!("/api/v1/query?query={}&time={t}", enc(q))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {j}");
        assert_eq!(j["errorType"], "execution", "{q}");
        assert!(
            j["error"]
                .as_str()
                .unwrap_or("")
                .contains("too many samples"),
            "{q}: {j}"
        );
    }
    // A huge range with a coarse step stays within both limits.
    let (status, _) = get(
        &app,
        &format!(
            "/api/v1/query_range?query=up&start=0&end={t}&step={}",
            t / 10_000
        ),
    )
    .await;
    assert!(
        status.is_success() || status == StatusCode::UNPROCESSABLE_ENTITY,
        "{status}"
    );
}

#[tokio::test]
async fn timeouts_are_503() {
    let app = app();
    let started = Instant::now();
    let (status, j) = get(
        &app,
        &format!("/api/v1/query?query=up&timeout=0.000000001&time={}", T0),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{j}");
    assert_eq!(j["errorType"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn no_store_means_503_unavailable_on_the_main_router() {
    let (_tx, rx) = tokio::sync::watch::channel(None);
    let app = api::router(api::AppState {
        snapshots: rx,
        started: Instant::now(),
        store: None,
        alerts: None,
    });
    for uri in [
        "/api/v1/query?query=up",
        "/api/v1/labels",
        "/api/v1/label/job/values",
    ] {
        let (status, j) = get(&app, uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(
            j,
            serde_json::json!({"status": "error", "errorType": "unavailable", "error": "no store configured"})
        );
    }
    // The agent's own routes still answer.
    let resp = app
        .clone()
        .oneshot(
            Request::get("/health")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("router answers");
    assert_eq!(resp.status(), StatusCode::OK);
}

/// The same bad requests to a real Prometheus and to us: same status, same errorType.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_same_status_and_error_type_as_prometheus() {
    let Some(prometheus) = common::tool("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").expect("config");
    let port = common::free_port();
    let mut child = std::process::Command::new(prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("db").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start prometheus");
    let base = format!("http://127.0.0.1:{port}");
    let ready = {
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if matches!(
                    common::http_get(&format!("{base}/-/ready"), &[]),
                    Ok((200, _, _))
                ) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        })
        .await
        .unwrap_or(false)
    };
    assert!(ready, "prometheus did not become ready");
    let app = app();
    let now = T0 + 3600;
    let requests = vec![
        format!("/api/v1/query?query={}", enc("rate(up[5m]")),
        format!("/api/v1/query?query={}", enc("nosuchfunction(up)")),
        format!("/api/v1/query?query={}", enc("up +")),
        format!("/api/v1/query?query={}", enc("1 > 2")),
        format!("/api/v1/query?query={}", enc("{job=~\".*\"}")),
        format!("/api/v1/query?query={}", enc("rate(up)")),
        "/api/v1/query?query=".to_string(),
        "/api/v1/query?query=up&time=yesterday".to_string(),
        "/api/v1/query?query=up&timeout=soon".to_string(),
        format!("/api/v1/query_range?query=up&start={now}&end={now}&step=0"),
        format!("/api/v1/query_range?query=up&start={now}&end={now}&step=-1"),
        format!("/api/v1/query_range?query=up&start=0&end={now}&step=1"),
        format!(
            "/api/v1/query_range?query=up&start={now}&end={}&step=1",
            now + 11_001
        ),
        format!(
            "/api/v1/query_range?query=up&start={now}&end={}&step=1",
            now + 11_000
        ),
        format!(
            "/api/v1/query_range?query=up&start={now}&end={}&step=1",
            now - 1
        ),
        format!("/api/v1/query_range?query=up&end={now}&step=1"),
        format!("/api/v1/query_range?query=up&start={now}&end={now}&step=fast"),
        format!(
            "/api/v1/query_range?query={}&start={now}&end={now}&step=15",
            enc("up[5m]")
        ),
        format!(
            "/api/v1/query_range?query={}&start={now}&end={now}&step=15",
            enc("\"text\"")
        ),
        "/api/v1/series".to_string(),
        format!("/api/v1/series?match[]={}", enc("rate(up[5m])")),
        format!("/api/v1/series?match[]=up&start=soon"),
        "/api/v1/label/1bad/values".to_string(),
        format!("/api/v1/labels?match[]={}", enc("up{")),
        format!(
            "/api/v1/query?query={}&time={now}",
            enc("rate(up[1000000d])")
        ),
        format!("/api/v1/query?query={}&time={now}", enc("rate(up[292y])")),
        format!("/api/v1/query?query={}&time={now}", enc("up offset 300y")),
        format!("/api/v1/query?query={}&time={now}", enc("up[0s]")),
        format!(
            "/api/v1/query?query={}&time={now}",
            enc("max_over_time(up[5m:0s])")
        ),
        format!("/api/v1/query?query={}&time={now}", enc("up @ 1e12")),
        format!(
            "/api/v1/query?query={}&time={now}",
            enc("sum by (job) (up) / ignoring(x) group_left up")
        ),
        format!(
            "/api/v1/query?query={}&time={now}",
            enc("label_replace(up, \"1x\", \"\", \"job\", \".*\")")
        ),
        format!("/api/v1/query?query={}&time={now}", enc("topk(1e30, up)")),
        format!("/api/v1/query_range?query=up&start=-9223372036&end=9223372036&step=1e9"),
    ];
    let mut mismatches = Vec::new();
    for uri in &requests {
        let url = format!("{base}{uri}");
        let (pstatus, _, pbody) = tokio::task::spawn_blocking(move || common::http_get(&url, &[]))
            .await
            .expect("join")
            .expect("prometheus answers");
        let p: J = serde_json::from_slice(&pbody).unwrap_or(J::Null);
        let (ostatus, o) = get(&app, uri).await;
        if pstatus != ostatus.as_u16() || p["errorType"] != o["errorType"] {
            mismatches.push(format!(
                "{uri}: prometheus {pstatus} {} / ours {} {}",
                p["errorType"], ostatus, o["errorType"]
            ));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        mismatches.is_empty(),
        "differences from Prometheus:\n{}",
        mismatches.join("\n")
    );
}

/// The store trait object the main router wraps is the same the query routes take.
#[test]
fn mem_storage_is_a_storage() {
    let s: Arc<dyn Storage> = Arc::new(store());
    assert!(
        s.label_names(&[], 0, i64::MAX)
            .map(|n| n.len())
            .unwrap_or(0)
            > 0
    );
}
