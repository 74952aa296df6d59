//! Test support shared by the integration tests of every crate: free loopback ports,
//! the reference tools on PATH (required under CI, skipped with a note otherwise),
//! and running a tool with text on its stdin.
//!
//! Only ever a dev-dependency. Each crate's `tests/common` re-exports what it uses,
//! so tests keep calling `common::tool("promtool")`.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// Whether a missing tool must fail the test (CI, scripts/test.sh sets
/// `MNO_REQUIRE_TOOLS=1`) instead of skipping it.
pub fn tools_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("MNO_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// An executable on PATH; `None` (with a note) when missing and not required.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    if tools_required() {
        panic!("{name} is required (CI / MNO_REQUIRE_TOOLS=1) but not on PATH");
    }
    eprintln!("SKIP: {name} not installed (run scripts/test.sh to install it)");
    None
}

/// Run `program args…` with `input` on its stdin; its whole output.
pub fn run_with_stdin(program: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    // A tool that exits early closes its stdin; its output says why.
    let _ = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes());
    child.wait_with_output().expect("wait for the tool")
}

/// `promtool check metrics` over an exposition text.
pub fn promtool_check_metrics(promtool: &Path, text: &str) -> Output {
    run_with_stdin(promtool, &["check", "metrics"], text)
}

/// Run git in `dir` as a test repository's author: fixed identity, no signing, `main` as the
/// first branch, no global excludes, no inherited `GIT_DIR`. Its trimmed stdout; panics
/// with git's stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(["-c", "core.excludesFile=/dev/null"])
        .args(args)
        .env_remove("GIT_DIR")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
pub mod web;

/// A `redis-server` started by a test on 127.0.0.1 (no persistence), killed on drop.
///
/// `start` gives `None` (with a `SKIP:` note) when redis-server is not installed and tools are
/// not required. `stop` and `restart` keep the port, for outage tests.
pub struct RedisServer {
    bin: PathBuf,
    /// The port it listens on.
    pub port: u16,
    extra: Vec<String>,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Start one on a free port with `extra` arguments (`--requirepass s3cret`, …).
    pub fn start(extra: &[&str]) -> Option<RedisServer> {
        let bin = tool("redis-server")?;
        let mut s = RedisServer {
            bin,
            port: free_port(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        s.launch();
        Some(s)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if self.answers() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    /// Whether it answers PING (NOAUTH counts: it is up).
    fn answers(&self) -> bool {
        use std::io::Read;
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut b = [0u8; 64];
        matches!(s.read(&mut b), Ok(n) if n > 0)
    }

    /// Kill it (SIGKILL: everything in memory is gone, as in a crash).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port (empty: it keeps no data).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Run `redis-cli` against it (`None` when redis-cli is missing); its trimmed stdout.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let cli = self.bin.with_file_name("redis-cli");
        let out = Command::new(if cli.is_file() {
            cli
        } else {
            PathBuf::from("redis-cli")
        })
        .args(["-p", &self.port.to_string()])
        .args(args)
        .output()
        .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
