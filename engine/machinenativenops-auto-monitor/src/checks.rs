//! HTTP service health checks.
//!
//! Each check (from `http_checks:` and from the `services.*_layer` maps of the
//! original config) runs as its own task at its own interval and records its
//! latest result; the collection tick turns the results into
//! `mno_service_up`, `mno_service_response_time_seconds` and
//! `mno_service_http_status`, so probes never slow a tick down. Checks found at run time
//! (Kubernetes services annotated for discovery) are added and removed with
//! [`Checker::set_discovered`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reqwest::Url;
use tokio_util::sync::CancellationToken as CancelToken;

use crate::config::MonitorConfig;
use crate::metrics::Family;

/// Join a possibly relative URL onto `network.base_url` and check it is http(s).
pub fn resolve_url(base: &str, url: &str) -> Result<Url, String> {
    let parsed = match Url::parse(url) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) if !base.is_empty() => {
            let b =
                Url::parse(base).map_err(|e| format!("invalid network.base_url {base:?}: {e}"))?;
            b.join(url)
                .map_err(|e| format!("invalid URL {url:?}: {e}"))?
        }
        Err(e) => return Err(format!("invalid URL {url:?}: {e}")),
    };
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        s => Err(format!(
            "unsupported URL scheme {s:?} in {url:?} (use http or https)"
        )),
    }
}

/// A check ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    /// Service name (`service` label).
    pub name: String,
    /// Target URL.
    pub url: Url,
    /// HTTP method.
    pub method: reqwest::Method,
    /// Status codes that count as up (empty: any 2xx).
    pub expected: Vec<u16>,
    /// Request timeout.
    pub timeout: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
}

/// Build the list of checks from the configuration (already validated).
pub fn specs(cfg: &MonitorConfig) -> Result<Vec<CheckSpec>, String> {
    let default_timeout = Duration::from_secs_f64(cfg.monitoring.health_check_timeout);
    let default_interval = Duration::from_secs(cfg.monitoring.interval.max(1) as u64);
    let mut out: Vec<CheckSpec> = Vec::new();
    for c in &cfg.http_checks {
        out.push(CheckSpec {
            name: c.name.clone(),
            url: resolve_url(&cfg.network.base_url, &c.url)?,
            method: reqwest::Method::from_bytes(c.method.to_ascii_uppercase().as_bytes())
                .map_err(|e| e.to_string())?,
            expected: c.expected_status.clone(),
            timeout: c
                .timeout
                .map(Duration::from_secs_f64)
                .unwrap_or(default_timeout),
            interval: c
                .interval
                .map(Duration::from_secs_f64)
                .unwrap_or(default_interval),
            headers: c.headers.clone(),
        });
    }
    for map in [
        &cfg.services.foundation_layer,
        &cfg.services.intelligence_layer,
        &cfg.services.quantum_layer,
    ] {
        for (name, url) in map {
            if out.iter().any(|s| &s.name == name) {
                return Err(format!("service name {name:?} is defined twice"));
            }
            out.push(CheckSpec {
                name: name.clone(),
                url: resolve_url(&cfg.network.base_url, url)?,
                method: reqwest::Method::GET,
                expected: Vec::new(),
                timeout: default_timeout,
                interval: default_interval,
                headers: BTreeMap::new(),
            });
        }
    }
    Ok(out)
}

/// The latest outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// Whether the service answered with an expected status in time.
    pub up: bool,
    /// Time to the response headers (or to the failure), seconds.
    pub response_time: f64,
    /// HTTP status, 0 when there was no response.
    pub status: u16,
    /// Why it is down, when it is.
    pub error: Option<String>,
}

/// Runs the checks and keeps their latest results.
#[derive(Clone, Default)]
pub struct Checker {
    specs: Arc<Vec<CheckSpec>>,
    results: Arc<RwLock<BTreeMap<String, CheckResult>>>,
    discovered: Arc<Mutex<Discovered>>,
}

/// Checks found at run time, and what runs them once [`Checker::spawn`] was called.
#[derive(Default)]
struct Discovered {
    runner: Option<(reqwest::Client, CancelToken)>,
    /// Name → spec and the token stopping its task (None until a runner exists).
    running: BTreeMap<String, (CheckSpec, Option<CancelToken>)>,
}

impl Checker {
    /// A checker for `specs`.
    pub fn new(specs: Vec<CheckSpec>) -> Checker {
        Checker {
            specs: Arc::new(specs),
            results: Arc::default(),
            discovered: Arc::default(),
        }
    }

    /// Whether there is anything to check.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Start one task per check; they stop when `stop` is cancelled. Checks discovered later
    /// start as they are found.
    pub fn spawn(&self, client: reqwest::Client, stop: CancelToken) {
        for spec in self.specs.iter().cloned() {
            spawn_check(spec, self.results.clone(), client.clone(), stop.clone());
        }
        if let Ok(mut d) = self.discovered.lock() {
            for (spec, token) in d.running.values_mut().filter(|(_, t)| t.is_none()) {
                let t = stop.child_token();
                spawn_check(
                    spec.clone(),
                    self.results.clone(),
                    client.clone(),
                    t.clone(),
                );
                *token = Some(t);
            }
            d.runner = Some((client, stop));
        }
    }

    /// Replace the discovered checks by `specs`: new ones start, vanished or changed ones
    /// stop and their results go. A name already used by a configured check is skipped.
    pub fn set_discovered(&self, specs: Vec<CheckSpec>) {
        let Ok(mut d) = self.discovered.lock() else {
            return;
        };
        let mut wanted: BTreeMap<String, CheckSpec> = BTreeMap::new();
        for spec in specs {
            if self.specs.iter().any(|s| s.name == spec.name) {
                tracing::warn!(service = %spec.name, "discovered check has the name of a configured one; skipped");
                continue;
            }
            wanted.insert(spec.name.clone(), spec);
        }
        let gone: Vec<String> = d
            .running
            .iter()
            .filter(|(name, (spec, _))| wanted.get(*name) != Some(spec))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some((_, Some(token))) = d.running.remove(&name) {
                token.cancel();
            }
            if let Ok(mut r) = self.results.write() {
                r.remove(&name);
            }
            tracing::info!(service = %name, "discovered check removed");
        }
        for (name, spec) in wanted {
            if d.running.contains_key(&name) {
                continue;
            }
            tracing::info!(service = %name, url = %spec.url, "discovered check added");
            let token = d.runner.as_ref().map(|(client, stop)| {
                let t = stop.child_token();
                spawn_check(
                    spec.clone(),
                    self.results.clone(),
                    client.clone(),
                    t.clone(),
                );
                t
            });
            d.running.insert(name, (spec, token));
        }
    }

    /// Names of the discovered checks, sorted.
    pub fn discovered_names(&self) -> Vec<String> {
        self.discovered
            .lock()
            .map(|d| d.running.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Probe every check once, now (for `collect --once`).
    pub async fn run_once(&self, client: &reqwest::Client) {
        let mut set = tokio::task::JoinSet::new();
        for spec in self.specs.iter().cloned() {
            let client = client.clone();
            set.spawn(async move { (spec.name.clone(), probe(&client, &spec).await) });
        }
        while let Some(Ok((name, r))) = set.join_next().await {
            if let Ok(mut m) = self.results.write() {
                m.insert(name, r);
            }
        }
    }

    /// The latest results as metric families.
    pub fn families(&self) -> Vec<Family> {
        let mut up = Family::gauge(
            "mno_service_up",
            "Whether the service's health check succeeded (1) or not (0).",
        );
        let mut rt = Family::gauge(
            "mno_service_response_time_seconds",
            "Response time of the service's last health check, in seconds.",
        );
        let mut st = Family::gauge(
            "mno_service_http_status",
            "HTTP status code of the service's last health check (0: no response).",
        );
        if let Ok(m) = self.results.read() {
            for (name, r) in m.iter() {
                let l = [("service", name.as_str())];
                up.push(&l, if r.up { 1.0 } else { 0.0 });
                rt.push(&l, r.response_time);
                st.push(&l, r.status as f64);
            }
        }
        vec![up, rt, st]
    }

    /// The latest result of `name`.
    pub fn result(&self, name: &str) -> Option<CheckResult> {
        self.results.read().ok().and_then(|m| m.get(name).cloned())
    }
}

/// Probe `spec` every interval until `stop`, keeping its latest result in `results`.
fn spawn_check(
    spec: CheckSpec,
    results: Arc<RwLock<BTreeMap<String, CheckResult>>>,
    client: reqwest::Client,
    stop: CancelToken,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(spec.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let r = probe(&client, &spec).await;
            if let Some(e) = &r.error {
                tracing::debug!(service = %spec.name, error = %e, "service check failed");
            }
            if let Ok(mut m) = results.write() {
                // A check removed while probing must not leave its result behind (the
                // remover cancels before it takes this lock to delete the result).
                if stop.is_cancelled() {
                    break;
                }
                m.insert(spec.name.clone(), r);
            }
        }
    });
}

async fn probe(client: &reqwest::Client, spec: &CheckSpec) -> CheckResult {
    let mut req = client
        .request(spec.method.clone(), spec.url.clone())
        .timeout(spec.timeout);
    for (k, v) in &spec.headers {
        req = req.header(k, v);
    }
    let start = Instant::now();
    let res = req.send().await;
    let elapsed = start.elapsed().as_secs_f64();
    match res {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let up = if spec.expected.is_empty() {
                resp.status().is_success()
            } else {
                spec.expected.contains(&code)
            };
            CheckResult {
                up,
                response_time: elapsed,
                status: code,
                error: (!up).then(|| format!("unexpected status {code}")),
            }
        }
        Err(e) => CheckResult {
            up: false,
            response_time: elapsed,
            status: 0,
            error: Some(if e.is_timeout() {
                format!("timed out after {:?}", spec.timeout)
            } else {
                error_chain(&e)
            }),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The HTTP client used for checks, honouring `network.verify_ssl` and `network.headers`.
pub fn http_client(cfg: &MonitorConfig) -> Result<reqwest::Client, String> {
    crate::install_crypto_provider();
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &cfg.network.headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| format!("network.headers: {k:?}: {e}"))?;
        let val = reqwest::header::HeaderValue::from_str(v)
            .map_err(|e| format!("network.headers: {k:?}: {e}"))?;
        headers.insert(name, val);
    }
    if let Some(t) = &cfg.network.auth_token {
        let val = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
            .map_err(|e| format!("network.auth_token: {e}"))?;
        headers.insert(reqwest::header::AUTHORIZATION, val);
    }
    reqwest::Client::builder()
        .user_agent(concat!(
            "machinenativenops-auto-monitor/",
            env!("CARGO_PKG_VERSION")
        ))
        .default_headers(headers)
        .tls_danger_accept_invalid_certs(!cfg.network.verify_ssl)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| error_chain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_join_the_base() {
        assert_eq!(
            resolve_url("http://10.0.0.1:8080/", "health")
                .unwrap()
                .as_str(),
            "http://10.0.0.1:8080/health"
        );
        assert!(resolve_url("", "health").is_err());
        assert!(resolve_url("", "ftp://x/").is_err());
    }

    #[test]
    fn discovered_checks_are_replaced_and_configured_names_win() {
        let spec = |name: &str, url: &str| CheckSpec {
            name: name.into(),
            url: Url::parse(url).unwrap(),
            method: reqwest::Method::GET,
            expected: vec![],
            timeout: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            headers: BTreeMap::new(),
        };
        let checker = Checker::new(vec![spec("api", "http://127.0.0.1:1/")]);
        checker.set_discovered(vec![
            spec("api", "http://10.0.0.1/"),
            spec("shop/web", "http://10.0.0.2/healthz"),
            spec("shop/db", "http://10.0.0.3/"),
        ]);
        assert_eq!(checker.discovered_names(), ["shop/db", "shop/web"]);
        // No runner yet (spawn not called): a stale result of a removed check still goes.
        checker.results.write().unwrap().insert(
            "shop/db".into(),
            CheckResult {
                up: true,
                response_time: 0.1,
                status: 200,
                error: None,
            },
        );
        checker.set_discovered(vec![spec("shop/web", "http://10.0.0.2/healthz")]);
        assert_eq!(checker.discovered_names(), ["shop/web"]);
        assert!(checker.result("shop/db").is_none());
    }

    #[tokio::test]
    async fn checks_report_up_down_and_status() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    break;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]);
                    let status = if req.starts_with("GET /ok") {
                        "200 OK"
                    } else {
                        "503 Service Unavailable"
                    };
                    let _ = s
                        .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes())
                        .await;
                });
            }
        });
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let mut cfg = MonitorConfig {
            http_checks: vec![
                crate::config::HttpCheck {
                    name: "ok".into(),
                    url: format!("http://{addr}/ok"),
                    method: "GET".into(),
                    expected_status: vec![],
                    timeout: Some(2.0),
                    interval: None,
                    headers: BTreeMap::new(),
                },
                crate::config::HttpCheck {
                    name: "sick".into(),
                    url: format!("http://{addr}/sick"),
                    method: "GET".into(),
                    expected_status: vec![200],
                    timeout: Some(2.0),
                    interval: None,
                    headers: BTreeMap::new(),
                },
            ],
            ..Default::default()
        };
        cfg.services
            .foundation_layer
            .insert("gone".into(), format!("http://127.0.0.1:{closed_port}/"));
        let checker = Checker::new(specs(&cfg).unwrap());
        let client = http_client(&cfg).unwrap();
        checker.run_once(&client).await;
        let ok = checker.result("ok").unwrap();
        assert!(ok.up && ok.status == 200, "{ok:?}");
        let sick = checker.result("sick").unwrap();
        assert!(!sick.up && sick.status == 503, "{sick:?}");
        let gone = checker.result("gone").unwrap();
        assert!(
            !gone.up && gone.status == 0 && gone.error.is_some(),
            "{gone:?}"
        );
        let fams = checker.families();
        assert_eq!(fams[0].value(&[("service", "ok")]), Some(1.0));
        assert_eq!(fams[0].value(&[("service", "gone")]), Some(0.0));
        assert_eq!(fams[2].value(&[("service", "sick")]), Some(503.0));
    }
}
