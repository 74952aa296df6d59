//! Helpers shared by the end-to-end tests: start the real binary, find free
//! ports, locate reference tools, parse the exposition format.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the agent binary built by cargo for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_machinenativenops-auto-monitor"))
}

// Each test binary uses a different subset.
#[allow(unused_imports)]
pub use mno_testkit::{free_port, tool, tools_required};

/// Run the agent with `args` and an isolated environment; wait for it to exit.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = base_command(dir.path());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run agent")
}

fn base_command(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    // Keep tests off the real /var paths and independent of the caller's environment.
    for v in [
        "MNO_CONFIG",
        "MNO_LOG_LEVEL",
        "MNO_LOG_FORMAT",
        "MNO_PORT",
        "MNO_BIND",
        "MNO_INTERVAL",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("MNO_DB_PATH", dir.join("data/metrics.db"));
    cmd.env("MNO_LOG_FILE", dir.join("log/monitor.log"));
    cmd
}

/// A running agent, killed on drop.
pub struct Agent {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Agent {
    /// Start `serve` on a free port with `config_yaml` (written to a file) and extra env.
    pub fn start(config_yaml: &str, env: &[(&str, &str)]) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let cfg = dir.path().join("config.yaml");
        std::fs::write(&cfg, config_yaml).expect("write config");
        let mut cmd = base_command(dir.path());
        cmd.arg("--config")
            .arg(&cfg)
            .arg("serve")
            .env("MNO_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn agent");
        Agent { child, port, dir }
    }

    /// Base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Wait until `/ready` answers 200.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("agent exited early with {status}: {err}");
            }
            if let Ok((200, _, _)) = http_get(&self.url("/ready"), &[]) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("agent not ready within {timeout:?}");
    }

    /// Send SIGTERM and wait for the exit status and stderr.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let status = wait_timeout(&mut self.child, Duration::from_secs(10));
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait for a child with a deadline; kill it if it overstays.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (status, headers with lowercased names, body).
pub type HttpResponse = (u16, BTreeMap<String, String>, Vec<u8>);

/// A minimal blocking HTTP/1.1 GET for tests: (status, headers lowercased, body bytes).
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        machinenativenops_auto_monitor::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let mut req = client.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let hs = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let body = resp.bytes().await.map_err(|e| e.to_string())?.to_vec();
        Ok((status, hs, body))
    })
}

/// One parsed family of the text format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFamily {
    pub kind: String,
    pub help: String,
    /// (labels, value)
    pub samples: Vec<(BTreeMap<String, String>, f64)>,
}

/// Parse the Prometheus text format 0.0.4 (enough for comparisons in tests).
pub fn parse_text(text: &str) -> BTreeMap<String, ParsedFamily> {
    let mut out: BTreeMap<String, ParsedFamily> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.entry(name.to_string()).or_default().help = help.to_string();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            out.entry(name.to_string()).or_default().kind = kind.to_string();
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else {
            let (name, labels, value) = parse_sample(line);
            out.entry(name).or_default().samples.push((labels, value));
        }
    }
    out
}

fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let mut labels = BTreeMap::new();
    let (name, rest) = match line.find('{') {
        Some(i) => {
            let end = line.rfind('}').expect("closing brace");
            let inner = &line[i + 1..end];
            let mut chars = inner.chars().peekable();
            loop {
                let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                if key.is_empty() {
                    break;
                }
                assert_eq!(chars.next(), Some('"'));
                let mut val = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some('n') => val.push('\n'),
                            Some(o) => val.push(o),
                            None => {}
                        },
                        '"' => break,
                        c => val.push(c),
                    }
                }
                labels.insert(key.trim_start_matches(',').to_string(), val);
                if chars.peek() == Some(&',') {
                    chars.next();
                }
            }
            (line[..i].to_string(), line[end + 1..].trim())
        }
        None => {
            let (n, r) = line.split_once(' ').expect("sample value");
            (n.to_string(), r.trim())
        }
    };
    let v = rest.split_whitespace().next().unwrap_or("NaN");
    let value = match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().expect("numeric value"),
    };
    (name, labels, value)
}

/// Write a config file with `yaml` in a temp dir; returns (dir, path).
pub fn config_file(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("config.yaml");
    std::fs::write(&p, yaml).expect("write");
    (dir, p)
}
