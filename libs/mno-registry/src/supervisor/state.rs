//! The state file `registry status` and `registry down` read: a JSON document
//! rewritten atomically (temp file + rename) on every change.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// File name of the state file inside the runtime directory.
pub const STATE_FILE: &str = "registry-state.json";

/// Where a module is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModState {
    /// Not started yet.
    Pending,
    /// Not started: optional and not installed, or depends on a skipped module.
    Skipped,
    /// Started, not yet healthy.
    Starting,
    /// Passed its health check (or has none and is running).
    Healthy,
    /// Failed its health check `retries` times in a row.
    Unhealthy,
    /// Exited; waiting to be restarted.
    Restarting,
    /// Exited normally and is not restarted.
    Exited,
    /// Exited and reached its restart limit, or could not be started.
    Failed,
    /// Being stopped.
    Stopping,
    /// Stopped.
    Stopped,
}

impl ModState {
    /// Lowercase name for display.
    pub fn as_str(self) -> &'static str {
        match self {
            ModState::Pending => "pending",
            ModState::Skipped => "skipped",
            ModState::Starting => "starting",
            ModState::Healthy => "healthy",
            ModState::Unhealthy => "unhealthy",
            ModState::Restarting => "restarting",
            ModState::Exited => "exited",
            ModState::Failed => "failed",
            ModState::Stopping => "stopping",
            ModState::Stopped => "stopped",
        }
    }
}

/// The outcome of one health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResult {
    /// It passed.
    pub ok: bool,
    /// What was checked and what happened.
    pub message: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// One module in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleState {
    /// Module name.
    pub name: String,
    /// Its stage.
    pub stage: u32,
    /// Where it is.
    pub state: ModState,
    /// Process id (also its process group id) while it runs.
    pub pid: Option<u32>,
    /// Start time of that process (from /proc), to tell it from a later process with the same pid.
    pub pid_start: Option<u64>,
    /// Restarts so far.
    pub restarts: u32,
    /// Time between SIGTERM and SIGKILL, in milliseconds.
    pub grace_ms: u64,
    /// The last health check.
    pub last_health: Option<HealthResult>,
    /// Why it is skipped, failed or exited.
    pub message: Option<String>,
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// The supervisor's pid.
    pub supervisor_pid: u32,
    /// Its start time (from /proc).
    pub supervisor_start: Option<u64>,
    /// The registry file it runs.
    pub registry: String,
    /// `starting`, `running`, `stopping`, `stopped` or `failed`.
    pub phase: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// Modules in start order.
    pub modules: Vec<ModuleState>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The runtime directory: `MNO_RUNTIME_DIR`, `$XDG_RUNTIME_DIR/machinenativenops`,
/// or `/tmp/machinenativenops-<uid>`.
pub fn default_runtime_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MNO_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("machinenativenops");
    }
    std::env::temp_dir().join(format!(
        "machinenativenops-{}",
        rustix::process::getuid().as_raw()
    ))
}

/// Write the state file atomically.
pub fn write(dir: &Path, state: &StateFile) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{STATE_FILE}.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(STATE_FILE))
}

/// Read the state file; `Ok(None)` when there is none.
pub fn read(dir: &Path) -> std::io::Result<Option<StateFile>> {
    let path = dir.join(STATE_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))
}

/// Start time of a process (field 22 of /proc/PID/stat), `None` when it does not exist.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')' come field 3 (state) onwards; starttime is field 22.
    if fields.first() == Some(&"Z") {
        return None; // a zombie has exited already
    }
    fields.get(19)?.parse().ok()
}

/// Whether `pid` is the same live process that had start time `start`.
pub fn same_process(pid: u32, start: Option<u64>) -> bool {
    match (process_start(pid), start) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_a_start_time() {
        let me = std::process::id();
        let start = process_start(me);
        assert!(start.is_some());
        assert!(same_process(me, start));
        assert!(!same_process(me, start.map(|s| s + 1)));
    }

    #[test]
    fn state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let s = StateFile {
            supervisor_pid: 1,
            supervisor_start: None,
            registry: "r.yaml".into(),
            phase: "running".into(),
            started_at_ms: now_ms(),
            modules: vec![],
        };
        write(dir.path(), &s).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(s));
    }
}
