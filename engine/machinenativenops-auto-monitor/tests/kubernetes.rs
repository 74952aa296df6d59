//! The Kubernetes collector against an API server replaying recorded responses
//! (tests/fixtures/kubernetes; tests/kubernetes_support is the server).
//!
//! What is pinned down: the rendered families equal the hand-checked expected text for the
//! fixture cluster; watch events (MODIFIED, DELETED, ADDED, BOOKMARK) change them without a
//! relist; the kubeconfig's credentials reach the server; annotated services become HTTP checks
//! that really probe and go away with the service; an unreachable API server fails this
//! collector alone; and the `serve` binary built with the feature does all of it end to end.
#![cfg(feature = "kubernetes")]

mod common;
mod kubernetes_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubernetes_support::{Replay, collection_path};
use machinenativenops_auto_monitor::checks::{self, Checker};
use machinenativenops_auto_monitor::collectors::kubernetes::{KubernetesCollector, StartOptions};
use machinenativenops_auto_monitor::collectors::{Collector, Context};
use machinenativenops_auto_monitor::config::{FlagOverrides, MonitorConfig};
use machinenativenops_auto_monitor::exposition::render_text;
use machinenativenops_auto_monitor::{Agent, Family};

const NAMESPACES: &[&str] = &["default", "kube-system"];
const TOKEN: &str = "replay-token-4f1c"; // mno:allow (a test fixture, not a credential)

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubernetes")
}

fn expected(name: &str) -> String {
    let p = fixtures().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn config(kubeconfig: &Path) -> MonitorConfig {
    let mut cfg = MonitorConfig::default();
    cfg.services.discovery_namespaces = NAMESPACES.iter().map(|s| s.to_string()).collect();
    cfg.services.auto_discover = true;
    cfg.monitoring.interval = 1;
    cfg.monitoring.health_check_timeout = 2.0;
    let k = &mut cfg.collectors.kubernetes.0;
    k.enabled = true;
    k.kubeconfig = Some(kubeconfig.to_path_buf());
    k.sync_timeout_seconds = 30.0;
    cfg
}

/// Run one collection off the async threads, as the agent does.
async fn collect(c: &Arc<KubernetesCollector>) -> Result<Vec<Family>, String> {
    let c = c.clone();
    tokio::task::spawn_blocking(move || {
        let ctx = Context {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            rootfs: "/".into(),
        };
        let mut out = Vec::new();
        c.collect(&ctx, &mut out)
            .map(|_| out)
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap()
}

/// Render until it equals the expected file `name` (watch events arrive asynchronously), or
/// fail with a diff; the text rendered last is left in the test's temporary directory.
async fn wait_for_text(c: &Arc<KubernetesCollector>, name: &str) {
    let want = expected(name);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = render_text(&collect(c).await.expect("collect"));
        if got == want {
            return;
        }
        if Instant::now() > deadline {
            let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
            let _ = std::fs::write(&kept, &got);
            panic!(
                "rendered metrics differ from {name} (got: {}):\n{}",
                kept.display(),
                diff_lines(&want, &got).join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn diff_lines(want: &str, got: &str) -> Vec<String> {
    let w: std::collections::BTreeSet<&str> = want.lines().collect();
    let g: std::collections::BTreeSet<&str> = got.lines().collect();
    let mut out: Vec<String> = w.difference(&g).map(|l| format!("- {l}")).collect();
    out.extend(g.difference(&w).map(|l| format!("+ {l}")));
    if out.is_empty() {
        out.push("(same lines, different order)".into());
    }
    out
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A local health endpoint for the discovered check to probe.
async fn health_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_cluster_renders_expected_metrics_and_follows_watch_events() {
    let (health, health_task) = health_server().await;
    let port = health.port().to_string();
    let replay = Replay::start(
        &fixtures(),
        NAMESPACES,
        &[("__HEALTH_HOST__", "127.0.0.1"), ("__HEALTH_PORT__", &port)],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&replay.kubeconfig(dir.path(), TOKEN));

    let checker = Checker::new(checks::specs(&cfg).unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    checker.spawn(checks::http_client(&cfg).unwrap(), stop.clone());
    let collector = Arc::new(
        KubernetesCollector::start(StartOptions::from_config(&cfg), checker.clone()).unwrap(),
    );

    // 1. The initial lists: every family as expected. The first collection waits for them,
    // so it must match at once, not after retries.
    let first = render_text(&collect(&collector).await.expect("first collection"));
    if first != expected("expected-initial.prom") {
        wait_for_text(&collector, "expected-initial.prom").await;
        panic!("the first collection did not wait for the initial lists");
    }
    let health_fams = collector.health_source()();
    let up = &health_fams[0];
    assert_eq!(up.name, "mno_kubernetes_watch_up");
    assert_eq!(up.samples.len(), 4 * NAMESPACES.len() + 1, "{up:?}");
    assert!(up.samples.iter().all(|s| s.value == 1.0), "{up:?}");
    assert!(health_fams[1].samples.iter().all(|s| s.value == 0.0));
    assert_eq!(
        health_fams[2].value(&[("resource", "pods"), ("namespace", "default")]),
        Some(4.0)
    );
    assert_eq!(replay.auth_headers(), vec![format!("Bearer {TOKEN}")]);

    // 2. The annotated service is checked, for real; the one with a bad annotation is not.
    wait_until("the discovered check of default/web to succeed", || {
        checker
            .result("default/web")
            .is_some_and(|r| r.up && r.status == 200)
    })
    .await;
    assert_eq!(checker.discovered_names(), vec!["default/web".to_string()]);
    let svc_up = checker.families();
    assert_eq!(svc_up[0].value(&[("service", "default/web")]), Some(1.0));

    // 3. Watch events change the metrics without a relist.
    replay.play("default", "pods");
    replay.play("default", "deployments");
    replay.play("default", "endpointslices");
    replay.play("kube-system", "pods");
    wait_for_text(&collector, "expected-after-watch.prom").await;
    for path in replay.paths() {
        assert_eq!(replay.lists(&path), 1, "{path} was listed again");
        assert!(replay.watches(&path) >= 1, "{path} was never watched");
    }

    // 4. The service is deleted: its check and its endpoint families go.
    replay.play("default", "services");
    wait_until("the check of the deleted service to go", || {
        checker.discovered_names().is_empty() && checker.result("default/web").is_none()
    })
    .await;
    let text = render_text(&collect(&collector).await.unwrap());
    assert!(!text.contains("service=\"web\""), "{text}");
    assert!(text.contains(
        "mno_kubernetes_service_ready_endpoints{namespace=\"default\",service=\"kubernetes\"} 1"
    ));
    assert_eq!(replay.lists(&collection_path("default", "services")), 1);

    stop.cancel();
    health_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_api_server_fails_this_collector_only() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\ncurrent-context: gone\nusers:\n- name: u\n  user:\n    token: t\n"),
    )
    .unwrap();
    let mut cfg = config(&kubeconfig);
    cfg.collectors.kubernetes.0.sync_timeout_seconds = 1.0;
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    cfg.collectors.procfs_path = fx.join("proc");
    cfg.collectors.sysfs_path = fx.join("sys");

    let agent = Agent::new(&cfg, Checker::default()).unwrap();
    assert!(agent.collector_names().contains(&"kubernetes"));
    let agent = Arc::new(std::sync::Mutex::new(agent));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = agent.clone();
        let batch = tokio::task::spawn_blocking(move || a.lock().unwrap().collect())
            .await
            .unwrap();
        let success = batch.family("mno_collector_success").unwrap();
        assert_eq!(success.value(&[("collector", "kubernetes")]), Some(0.0));
        assert_eq!(success.value(&[("collector", "loadavg")]), Some(1.0));
        assert_eq!(success.value(&[("collector", "meminfo")]), Some(1.0));
        assert!(batch.family("node_load1").is_some());
        assert!(!batch.families.iter().any(|f| f.name.starts_with("kube_")));
        let up = batch.family("mno_kubernetes_watch_up").unwrap();
        assert!(up.samples.iter().all(|s| s.value == 0.0), "{up:?}");
        let errors = batch.family("mno_kubernetes_watch_errors_total").unwrap();
        if errors.samples.iter().all(|s| s.value >= 1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no watch error counted: {errors:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_kubeconfig_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let mut cfg = config(&missing);
    cfg.collectors.kubernetes.0.sync_timeout_seconds = 1.0;
    let c = Arc::new(
        KubernetesCollector::start(StartOptions::from_config(&cfg), Checker::default()).unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = collect(&c).await.unwrap_err();
        if e.contains("no-such-kubeconfig") {
            assert!(e.contains("no initial list yet for pods in default"), "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "{e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn bad_namespace_in_config_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("monitor.yaml");
    std::fs::write(
        &f,
        "collectors:\n  kubernetes:\n    enabled: true\nservices:\n  discovery_namespaces:\n    - default\n    - Kube_System\n",
    )
    .unwrap();
    let err = machinenativenops_auto_monitor::config::load(
        Some(&f),
        &|_| None,
        &FlagOverrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("monitor.yaml:7:"), "{err}");
    assert!(err.contains("services.discovery_namespaces.1"), "{err}");
    std::fs::write(
        &f,
        "collectors:\n  kubernetes:\n    enabled: true\n    sync_timeout_seconds: -1\n",
    )
    .unwrap();
    let err = machinenativenops_auto_monitor::config::load(
        Some(&f),
        &|_| None,
        &FlagOverrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("collectors.kubernetes.sync_timeout_seconds"),
        "{err}"
    );
}

#[test]
fn metrics_reference_lists_every_kubernetes_family() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md"),
    )
    .unwrap();
    let mut names: Vec<String> = ["expected-initial.prom", "expected-after-watch.prom"]
        .iter()
        .flat_map(|f| {
            expected(f)
                .lines()
                .filter_map(|l| l.strip_prefix("# TYPE "))
                .filter_map(|l| l.split(' ').next())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    names.extend(
        [
            "mno_kubernetes_watch_up",
            "mno_kubernetes_watch_errors_total",
            "mno_kubernetes_watch_events_total",
        ]
        .map(String::from),
    );
    assert!(names.len() > 20, "{names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(missing.is_empty(), "docs/metrics.md lacks {missing:?}");
}

/// The real binary (built with the feature): `serve` exposes the cluster's families and the
/// discovered check on /metrics.
#[test]
fn serve_exposes_kubernetes_families_and_discovered_checks() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (health, _health_task) = rt.block_on(health_server());
    let port = health.port().to_string();
    let replay = rt.block_on(Replay::start(
        &fixtures(),
        NAMESPACES,
        &[("__HEALTH_HOST__", "127.0.0.1"), ("__HEALTH_PORT__", &port)],
    ));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = replay.kubeconfig(dir.path(), TOKEN);
    let yaml = format!(
        "monitoring:\n  interval: 1\n  health_check_timeout: 2\nservices:\n  auto_discover: true\n  discovery_namespaces: [default, kube-system]\ncollectors:\n  kubernetes:\n    enabled: true\n    kubeconfig: {}\n",
        kubeconfig.display()
    );
    let mut agent = common::Agent::start(&yaml, &[]);
    agent.wait_ready(Duration::from_secs(30));
    let wanted = [
        "mno_collector_success{collector=\"kubernetes\"} 1",
        "kube_deployment_status_replicas_available{namespace=\"default\",deployment=\"web\"} 2",
        "kube_pod_container_status_waiting_reason{namespace=\"kube-system\",pod=\"metrics-server-7db4fb59f9-xq6nm\",container=\"metrics-server\",reason=\"CrashLoopBackOff\"} 1",
        "kube_node_status_condition{node=\"worker-1\",condition=\"MemoryPressure\",status=\"true\"} 1",
        "mno_kubernetes_watch_up{resource=\"nodes\"} 1",
        "mno_service_up{service=\"default/web\"} 1",
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = common::http_get(&agent.url("/metrics"), &[])
            .map(|(_, _, b)| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let missing: Vec<&&str> = wanted
            .iter()
            .filter(|w| !body.lines().any(|l| l == **w))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/metrics lacks {missing:?}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, stderr) = agent.terminate();
    assert!(status.success(), "{status}: {stderr}");
}
