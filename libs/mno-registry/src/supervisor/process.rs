//! Module processes: each in its own process group, output prefixed with the module's
//! name, stopped by signalling the whole group so that nothing it started is left behind.

use std::io::Write;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::model::RunSpec;

/// Where module output goes, with the name prefix.
#[derive(Debug, Clone)]
pub struct Prefix {
    /// The text before each line (`name | `, padded and maybe colored).
    pub text: String,
}

/// Start `run` in its own process group; its output is copied line by line with `prefix`.
pub fn spawn(run: &RunSpec, base_dir: &Path, prefix: &Prefix) -> std::io::Result<Child> {
    let (program, args) = run
        .command
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let cwd = match &run.cwd {
        Some(c) => base_dir.join(c),
        None => base_dir.to_path_buf(),
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(&run.env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: stopping the module signals everything it started.
        .process_group(0);
    let mut child = cmd.spawn()?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(copy_lines(out, prefix.text.clone(), false));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(copy_lines(err, prefix.text.clone(), true));
    }
    Ok(child)
}

async fn copy_lines(stream: impl AsyncRead + Unpin, prefix: String, to_stderr: bool) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Long lines are cut at 64 KiB so that one module cannot make us buffer without bound.
        match (&mut reader)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        let written = if to_stderr {
            writeln!(std::io::stderr().lock(), "{prefix}{text}")
        } else {
            writeln!(std::io::stdout().lock(), "{prefix}{text}")
        };
        if written.is_err() {
            return;
        }
    }
}

/// Send `sig` to process group `pgid`.
pub fn signal_group(pgid: u32, sig: Signal) -> bool {
    match Pid::from_raw(pgid as i32) {
        Some(p) => rustix::process::kill_process_group(p, sig).is_ok(),
        None => false,
    }
}

/// Whether any process of group `pgid` still exists (zombies of our own children included).
pub fn group_alive(pgid: u32) -> bool {
    Pid::from_raw(pgid as i32).is_some_and(|p| rustix::process::test_kill_process_group(p).is_ok())
}

/// Reap exited members of group `pgid` that are our children (we are their subreaper).
/// Only call this once the group leader has been waited for.
pub fn reap_group(pgid: u32) {
    let Some(p) = Pid::from_raw(pgid as i32) else {
        return;
    };
    while let Ok(Some(_)) = rustix::process::waitpgid(p, WaitOptions::NOHANG) {}
}

/// Stop a running module: SIGTERM to its group, wait up to `grace` for the leader,
/// then SIGKILL the group; finally make sure no member of the group is left.
pub async fn stop(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let Some(pgid) = child.id() else {
        // Already reaped.
        return child.try_wait().ok().flatten();
    };
    signal_group(pgid, Signal::TERM);
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(s) => s.ok(),
        Err(_) => {
            signal_group(pgid, Signal::KILL);
            child.wait().await.ok()
        }
    };
    clear_group(pgid, grace).await;
    status
}

/// After the leader exited: TERM what is left of its group, wait up to `grace`, KILL the rest.
pub async fn clear_group(pgid: u32, grace: Duration) {
    reap_group(pgid);
    if !group_alive(pgid) {
        return;
    }
    signal_group(pgid, Signal::TERM);
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        reap_group(pgid);
        if !group_alive(pgid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal_group(pgid, Signal::KILL);
    for _ in 0..50 {
        reap_group(pgid);
        if !group_alive(pgid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stop a group we did not start (its supervisor is gone): TERM, wait up to `grace`, KILL.
pub fn stop_orphan_group(pgid: u32, grace: Duration) {
    if !group_alive(pgid) {
        return;
    }
    signal_group(pgid, Signal::TERM);
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if !group_alive(pgid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_group(pgid, Signal::KILL);
}
