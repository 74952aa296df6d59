//! Helpers for the end-to-end tests: run the real `super-agent` binary in a scratch directory,
//! or start `serve` on a free loopback port, talk to it over HTTP and stop it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Path of the binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_super-agent"))
}

/// A command for the binary with an environment independent of the caller's.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("MNO_") || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir).stdin(Stdio::null());
    cmd
}

/// Run the binary to completion.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).output().expect("run super-agent")
}

/// Write `text` as `name` in `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

/// A running `registry up`, its output going to files; killed on drop.
pub struct Up {
    pub child: Child,
    pub dir: PathBuf,
    pub runtime: PathBuf,
}

impl Up {
    /// Start `registry up REGISTRY --runtime-dir DIR/run` in `dir`.
    pub fn start(dir: &Path, registry: &str) -> Up {
        let runtime = dir.join("run");
        let out = std::fs::File::create(dir.join("up.out")).expect("stdout file");
        let err = std::fs::File::create(dir.join("up.err")).expect("stderr file");
        let child = command(dir)
            .args(["registry", "up", registry, "--runtime-dir"])
            .arg(&runtime)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn registry up");
        Up {
            child,
            dir: dir.to_path_buf(),
            runtime,
        }
    }

    /// The supervisor's stdout and stderr so far.
    pub fn output(&self) -> (String, String) {
        let read = |n: &str| std::fs::read_to_string(self.dir.join(n)).unwrap_or_default();
        (read("up.out"), read("up.err"))
    }

    /// `registry status --format json`.
    pub fn status(&self) -> serde_json::Value {
        let out = command(&self.dir)
            .args(["registry", "status", "--format", "json", "--runtime-dir"])
            .arg(&self.runtime)
            .output()
            .expect("run status");
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// Wait until the state file's phase is `phase`; panics with the output on timeout.
    pub fn wait_phase(&mut self, phase: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status();
            if s["state"]["phase"] == phase {
                return s;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let (o, e) = self.output();
                panic!(
                    "registry up exited with {status} before phase {phase}\nstdout:\n{o}\nstderr:\n{e}"
                );
            }
            if Instant::now() > deadline {
                let (o, e) = self.output();
                panic!("phase {phase} not reached in {timeout:?}: {s}\nstdout:\n{o}\nstderr:\n{e}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for the supervisor to exit.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let (o, e) = self.output();
                panic!("registry up did not exit within {timeout:?}\nstdout:\n{o}\nstderr:\n{e}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // Stop it the normal way so that its modules go too, then make sure.
            let _ = command(&self.dir)
                .args(["registry", "down", "--timeout", "10", "--runtime-dir"])
                .arg(&self.runtime)
                .output();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// Every live process whose process group is `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(i) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[i + 1..].split_whitespace().collect();
        // fields[0] = state, fields[2] = pgrp
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
            && fields.first() != Some(&"Z")
        {
            out.push(pid);
        }
    }
    out
}

/// Processes whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) && alive(pid) {
                out.push(pid);
            }
        }
    }
    out
}

// Each test binary uses a different subset.
#[allow(unused_imports)]
pub use mno_testkit::{free_port, tool, tools_required};

/// How to start a server.
#[derive(Clone, Default)]
pub struct Opts {
    /// Written to `super-agent.yaml` in the server's directory and passed with --config.
    pub config: Option<String>,
    /// Bearer token (through MNO_AGENT_TOKEN).
    pub token: Option<String>,
    /// --allowed-root values (default: the server's `repos/` folder).
    pub allowed_roots: Vec<PathBuf>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Use this data directory instead of `<dir>/data` (to restart on the same state).
    pub data_dir: Option<PathBuf>,
}

/// A running `super-agent serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// The server's working directory (holds `repos/`, `data/`, `stderr.log`).
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    pub token: Option<String>,
}

impl Server {
    /// Start in `dir` (which must exist) and wait until `/ready` answers.
    pub fn start(dir: &Path, opts: Opts) -> Server {
        let port = free_port();
        let data_dir = opts.data_dir.clone().unwrap_or_else(|| dir.join("data"));
        std::fs::create_dir_all(dir.join("repos")).expect("repos dir");
        let mut cmd = command(dir);
        cmd.arg("serve")
            .arg("--port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(&data_dir);
        if let Some(c) = &opts.config {
            std::fs::write(dir.join("super-agent.yaml"), c).expect("write config");
            cmd.arg("--config").arg(dir.join("super-agent.yaml"));
        }
        let roots = if opts.allowed_roots.is_empty() {
            vec![dir.join("repos")]
        } else {
            opts.allowed_roots.clone()
        };
        for r in roots {
            cmd.arg("--allowed-root").arg(r);
        }
        if let Some(t) = &opts.token {
            cmd.env("MNO_AGENT_TOKEN", t);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("stderr.log"))
            .expect("stderr file");
        cmd.stdout(Stdio::null()).stderr(Stdio::from(err));
        let child = cmd.spawn().expect("spawn super-agent serve");
        let mut s = Server {
            child,
            port,
            dir: dir.to_path_buf(),
            data_dir,
            token: opts.token,
        };
        s.wait_ready(Duration::from_secs(30));
        s
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let client = Http::new();
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("server exited early with {status}: {}", self.stderr());
            }
            if let Ok(r) = client.try_get(&self.url("/ready"))
                && r.status == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server not ready within {timeout:?}: {}", self.stderr());
    }

    /// SIGTERM, then wait for the exit (killed after `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        wait_timeout(&mut self.child, timeout)
    }

    /// SIGKILL: a crash, no shutdown work.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The bearer header for this server's token.
    pub fn auth(&self) -> Vec<(&'static str, String)> {
        match &self.token {
            Some(t) => vec![("authorization", format!("Bearer {t}"))],
            None => vec![],
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Wait for a child with a deadline; kill it if it overstays.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
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

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header (name in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A blocking facade over reqwest with its own runtime.
pub struct Http {
    pub rt: tokio::runtime::Runtime,
    pub client: reqwest::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Http {
        super_agent::install_crypto_provider();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .expect("client");
        Http { rt, client }
    }

    /// Send a request: method, url, headers, body with content type.
    pub fn try_send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<Resp, String> {
        let req = build(&self.client, method, url, headers, body);
        self.rt.block_on(send(req))
    }

    pub fn try_get(&self, url: &str) -> Result<Resp, String> {
        self.try_send("GET", url, &[], None)
    }

    pub fn get(&self, url: &str) -> Resp {
        self.try_get(url)
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// POST `body` as JSON.
    pub fn post(&self, url: &str, headers: &[(&str, String)], body: &Value) -> Resp {
        self.post_raw(
            url,
            headers,
            body.to_string().into_bytes(),
            "application/json",
        )
    }

    pub fn post_raw(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        content_type: &str,
    ) -> Resp {
        self.try_send("POST", url, headers, Some((body, content_type)))
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
    }
}

pub fn build(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<(Vec<u8>, &str)>,
) -> reqwest::RequestBuilder {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(m, url);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    if let Some((b, ct)) = body {
        req = req.header("content-type", ct).body(b);
    }
    req
}

pub async fn send(req: reqwest::RequestBuilder) -> Result<Resp, String> {
    let resp = req.send().await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let body = resp.bytes().await.map_err(|e| format!("{e:?}"))?.to_vec();
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// A 40-hex commit sha derived from `n`.
pub fn sha(n: u64) -> String {
    format!(
        "{:08x}{:032x}",
        n as u32 ^ 0x5eed_f00d,
        u128::from(n) * 7919
    )
}

/// A GateValidationRequest payload.
pub fn gate_payload(pr: u64, root: &str) -> Value {
    json!({
        "metadata": {
            "pr_number": pr,
            "commit_sha": sha(pr),
            "repository": "machinenativeops/fixture",
            "base_ref": "main",
            "head_ref": format!("pr-{pr}"),
        },
        "artifacts": { "root": root },
    })
}

/// An envelope around `payload`.
pub fn envelope(message_type: &str, trace_id: &str, payload: Value) -> Value {
    json!({
        "meta": {
            "trace_id": trace_id,
            "source_agent": "ci",
            "target_agent": "super-agent",
            "message_type": message_type,
            "schema_version": "1.0",
        },
        "context": { "namespace": "default", "cluster": "test", "urgency": "normal" },
        "payload": payload,
    })
}

/// `gate-<pr>-<sha8>` as the server computes it.
pub fn validation_id(pr: u64) -> String {
    format!("gate-{pr}-{}", &sha(pr)[..8])
}

/// Poll `GET /api/v1/gates/{id}` until the job has ended; returns the job.
pub fn poll_done(http: &Http, server: &Server, id: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let r = http.get(&server.url(&format!("/api/v1/gates/{id}")));
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let s = v["status"].as_str().unwrap_or("").to_string();
        if !matches!(s.as_str(), "QUEUED" | "RUNNING") {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{id} still {s} after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A committed schema from `schemas/`.
pub fn schema(file: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("schema is JSON")
}

/// Assert `instance` is valid against `schema`, listing every error.
pub fn assert_valid(schema: &Value, instance: &Value) {
    let v = jsonschema::validator_for(schema).expect("schema compiles");
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "schema errors: {errors:#?}\n{instance:#}"
    );
}

/// A repo whose only module builds with `sh -c 'sleep SECONDS'` (a slow, passing gate).
pub fn write_slow_repo(root: &Path, seconds: f64) {
    std::fs::create_dir_all(root).expect("mkdir");
    std::fs::write(
        root.join("root.modules.yaml"),
        format!(
            "modules:\n  - name: slow\n    version: 1.0.0\n    load_sequence: {{ stage: 1 }}\n    \
             build: {{ command: [sh, -c, 'sleep {seconds}'] }}\nstages: {{ 1: Core }}\n"
        ),
    )
    .expect("write registry");
}
