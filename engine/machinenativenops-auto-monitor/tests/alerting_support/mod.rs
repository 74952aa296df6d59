//! Helpers for the alerting end-to-end tests: an agent that can be restarted on the same
//! data directory, small HTTP servers (a recording webhook receiver, a switchable health
//! endpoint), and HTTP calls with a method, headers and a body.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Poll `f` every 100 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The agent started with `serve` on a data directory that survives restarts.
pub struct Agent {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    runs: usize,
}

impl Agent {
    /// Write `config` to `dir/config.yaml` and start the agent on `port`.
    pub fn start(
        dir: &Path,
        port: u16,
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Agent {
        std::fs::write(dir.join("config.yaml"), config).expect("write config");
        let mut a = Agent {
            child: None,
            port,
            dir: dir.to_path_buf(),
            runs: 0,
        };
        a.spawn(args, env);
        a
    }

    fn spawn(&mut self, args: &[&str], env: &[(&str, &str)]) {
        self.runs += 1;
        let log = std::fs::File::create(self.dir.join(format!("agent-{}.log", self.runs)))
            .expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_machinenativenops-auto-monitor"));
        for v in [
            "MNO_CONFIG",
            "MNO_LOG_LEVEL",
            "MNO_LOG_FORMAT",
            "MNO_BIND",
            "MNO_INTERVAL",
            "MNO_API_TOKEN",
        ] {
            cmd.env_remove(v);
        }
        cmd.env("MNO_DB_PATH", self.dir.join("data/metrics.db"))
            .env("MNO_LOG_FILE", "")
            .env("MNO_PORT", self.port.to_string())
            .arg("--config")
            .arg(self.dir.join("config.yaml"))
            .arg("serve")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn agent"));
    }

    /// Base URL + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Wait for `/ready`.
    pub fn wait_ready(&mut self) {
        let ok = wait_until(Duration::from_secs(30), || {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("agent exited early with {st}: {}", self.logs());
            }
            matches!(request("GET", &self.url("/ready"), &[], None), Ok((200, _)))
        });
        assert!(ok, "agent not ready: {}", self.logs());
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM");
            let end = Instant::now() + Duration::from_secs(15);
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop and start again with the same directory and configuration.
    pub fn restart(&mut self, args: &[&str], env: &[(&str, &str)]) {
        self.stop();
        self.spawn(args, env);
        self.wait_ready();
    }

    /// Send a signal (`HUP`, …) to the agent.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            signal(c.id(), sig);
        }
    }

    /// Every log written so far.
    pub fn logs(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                std::fs::read_to_string(self.dir.join(format!("agent-{i}.log"))).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    /// `GET path` as JSON.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let (st, body) = request("GET", &self.url(path), &[], None).expect("GET");
        assert_eq!(st, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// The value of one sample on /metrics (exact label match), if present.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let (_, text) = request("GET", &self.url("/metrics"), &[], None).ok()?;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| {
                let (head, _) = l.rsplit_once(' ').unwrap_or((l, ""));
                let n = head.split('{').next().unwrap_or("");
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| head.contains(&format!("{k}=\"{v}\"")))
            })
            .and_then(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Send a signal by name to a process id (the `kill` program, no shell).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// A blocking HTTP call: (status, body).
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<(u16, String), String> {
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
        let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = client.request(m, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let st = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Ok((st, text))
    })
}

/// A minimal HTTP/1.1 server on a thread; `handler(method, path, body) -> (status, body)`.
pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Handler = dyn Fn(&str, &str, &str) -> (u16, String) + Send + Sync;

impl Server {
    /// Listen on `port` (0: any) and serve until dropped.
    pub fn start(port: u16, handler: Arc<Handler>) -> Server {
        let l = TcpListener::bind(("127.0.0.1", port)).expect("bind test server");
        let port = l.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in l.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let h = handler.clone();
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &*h);
                });
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(conn: TcpStream, h: &Handler) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let (status, out) = h(&method, &path, &String::from_utf8_lossy(&body));
    let mut w = conn;
    write!(
        w,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}",
        out.len()
    )?;
    w.flush()
}

/// A webhook receiver that records every POST body with its arrival time.
pub struct Recorder {
    pub server: Server,
    pub got: Arc<Mutex<Vec<(Instant, serde_json::Value)>>>,
}

impl Recorder {
    /// Start on `port` (0: any).
    pub fn start(port: u16) -> Recorder {
        let got: Arc<Mutex<Vec<(Instant, serde_json::Value)>>> = Arc::default();
        let g2 = got.clone();
        let server = Server::start(
            port,
            Arc::new(move |m: &str, _p: &str, body: &str| {
                if m == "POST" {
                    let v = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
                    g2.lock().expect("lock").push((Instant::now(), v));
                }
                (200, "{}".into())
            }),
        );
        Recorder { server, got }
    }

    /// Bodies received so far.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Number received.
    pub fn count(&self) -> usize {
        self.got.lock().expect("lock").len()
    }
}

/// A health endpoint that answers 200 or 503 as told.
pub struct Switch {
    pub server: Server,
    pub up: Arc<AtomicBool>,
}

impl Switch {
    /// Start (initially `up`).
    pub fn start(up: bool) -> Switch {
        let flag = Arc::new(AtomicBool::new(up));
        let f2 = flag.clone();
        let server = Server::start(
            0,
            Arc::new(move |_: &str, _: &str, _: &str| {
                if f2.load(Ordering::SeqCst) {
                    (200, "{\"status\":\"ok\"}".into())
                } else {
                    (503, "{\"status\":\"down\"}".into())
                }
            }),
        );
        Switch { server, up: flag }
    }

    /// Turn it up or down.
    pub fn set(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}
