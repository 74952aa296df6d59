//! Running one health check: an HTTP GET, a TCP connect, or a command.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::duration::format_duration;
use crate::model::{HealthCheck, Probe};

/// Install the TLS crypto provider (ring) once, for https:// health checks.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reusable HTTP client for health checks.
pub fn client() -> Option<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .ok()
}

/// What a probe is, in words ("GET http://…", "TCP 127.0.0.1:6379", "command [a, b]").
pub fn describe(p: &Probe) -> String {
    match p {
        Probe::Http { url, .. } => format!("http GET {url}"),
        Probe::Tcp { address } => format!("tcp connect {address}"),
        Probe::Command { argv } => format!("command {argv:?}"),
    }
}

/// Run one check; `Ok(detail)` when healthy, `Err(detail)` when not.
pub async fn check(hc: &HealthCheck, client: Option<&reqwest::Client>) -> Result<String, String> {
    let timeout = hc.timeout;
    let out = tokio::time::timeout(timeout, probe(&hc.probe, client, timeout)).await;
    match out {
        Ok(r) => r,
        Err(_) => Err(format!("timed out after {}", format_duration(timeout))),
    }
}

async fn probe(
    p: &Probe,
    client: Option<&reqwest::Client>,
    timeout: Duration,
) -> Result<String, String> {
    match p {
        Probe::Http { url, expect_status } => {
            let client = client.ok_or("no HTTP client could be built")?;
            let resp = client
                .get(url)
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| http_error(&e))?;
            let status = resp.status();
            let ok = if expect_status.is_empty() {
                status.is_success()
            } else {
                expect_status.contains(&status.as_u16())
            };
            let detail = format!("status {status}");
            if ok { Ok(detail) } else { Err(detail) }
        }
        Probe::Tcp { address } => tokio::net::TcpStream::connect(address.as_str())
            .await
            .map(|_| "connected".to_string())
            .map_err(|e| e.to_string()),
        Probe::Command { argv } => command(argv).await,
    }
}

fn http_error(e: &reqwest::Error) -> String {
    // reqwest's top-level message hides the cause ("error sending request"): show the chain.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    if e.is_connect() && msg.contains("Connection refused") {
        return "connection refused".into();
    }
    msg
}

async fn command(argv: &[String]) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut out = Vec::new();
    let mut err = Vec::new();
    let (mut so, mut se) = (child.stdout.take(), child.stderr.take());
    let read_out = async {
        if let Some(s) = so.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut out).await;
        }
    };
    let read_err = async {
        if let Some(s) = se.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut err).await;
        }
    };
    let (status, _, _) = tokio::join!(child.wait(), read_out, read_err);
    let status = status.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(if err.iter().any(|b| !b.is_ascii_whitespace()) {
        &err
    } else {
        &out
    })
    .to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let last: String = last.chars().take(200).collect();
    let detail = if last.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {last}")
    };
    if status.success() {
        Ok(detail)
    } else {
        Err(detail)
    }
}
