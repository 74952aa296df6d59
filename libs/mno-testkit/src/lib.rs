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
