//! Helpers for the end-to-end tests: run the real `super-agent` binary in a scratch directory.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_super-agent"))
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// A command for the binary with an environment independent of the caller's.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    for v in [
        "MNO_LOG_LEVEL",
        "MNO_LOG_FORMAT",
        "MNO_REGISTRY",
        "MNO_RUNTIME_DIR",
        "MNO_EVIDENCE_DIR",
        "MNO_MONITOR_URL",
        "NO_COLOR",
    ] {
        cmd.env_remove(v);
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
