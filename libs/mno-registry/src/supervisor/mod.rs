//! Starting, watching and stopping the modules of a registry.
//!
//! `up` walks the load plan: stage by stage and, within a stage, step by step,
//! it starts the auto-start modules of a step together and waits until each
//! passes its health check before starting the next step. A module that fails
//! its check (or exits for good) before that stops the bring-up: nothing later
//! starts, everything already started is stopped, and the error says which
//! check failed and how. Once up, it restarts modules that exit (exponential
//! backoff, limited) until SIGTERM or Ctrl-C, then stops modules in reverse
//! order. Every change is written to a JSON state file that `status` reads and
//! `down` uses to find the supervisor (or, if it died, the module process groups).

pub mod health;
pub mod process;
pub mod runner;
pub mod state;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::Signal;
use tokio::sync::watch;

use crate::plan::{Plan, PlanError, plan};
use crate::validate::Checked;
use runner::{Gate, Runner, Shared};
use state::{ModState, ModuleState, StateFile};

/// How `up` runs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Directory of the state file.
    pub runtime_dir: PathBuf,
    /// Color the output prefixes.
    pub color: bool,
}

/// Why `up` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The registry has errors.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Another supervisor uses the same runtime directory.
    #[error(
        "a supervisor (pid {pid}) is already running {registry} with state in {dir}; \
         run `super-agent registry down` first"
    )]
    AlreadyRunning {
        /// Its pid.
        pid: u32,
        /// Its registry.
        registry: String,
        /// The runtime directory.
        dir: String,
    },
    /// The state file could not be read or written.
    #[error("state file in {dir}: {source}")]
    State {
        /// The runtime directory.
        dir: String,
        /// The error.
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// A stage did not come up.
    #[error(
        "{label} did not come up: {reason}; later stages were not started \
         and the modules already started were stopped"
    )]
    StageFailed {
        /// The stage.
        stage: u32,
        /// "stage 2 (Supporting Services)".
        label: String,
        /// Which module, which check, and what happened.
        reason: String,
    },
}

/// How `up` ended without error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpOutcome {
    /// Stopped by SIGTERM, Ctrl-C or `registry down`.
    Stopped,
    /// Every module exited on its own; `failed` of them failed.
    AllExited {
        /// How many failed.
        failed: usize,
    },
}

struct Started {
    stop: watch::Sender<bool>,
    gate: watch::Receiver<Gate>,
    handle: tokio::task::JoinHandle<()>,
}

/// Bring the registry's auto-start modules up and supervise them until stopped.
pub async fn up(checked: &Checked, opts: &UpOptions) -> Result<UpOutcome, SupervisorError> {
    let plan = plan(checked)?;
    let dir = &opts.runtime_dir;
    let state_err = |source| SupervisorError::State {
        dir: dir.display().to_string(),
        source,
    };
    if let Some(prev) = state::read(dir).map_err(state_err)? {
        let live = state::same_process(prev.supervisor_pid, prev.supervisor_start);
        if live
            && prev.supervisor_pid != std::process::id()
            && !matches!(prev.phase.as_str(), "stopped" | "failed")
        {
            return Err(SupervisorError::AlreadyRunning {
                pid: prev.supervisor_pid,
                registry: prev.registry,
                dir: dir.display().to_string(),
            });
        }
    }
    // Orphans of our modules' processes are re-parented to us, so we can reap them.
    let me = rustix::process::getpid();
    let _ = rustix::process::set_child_subreaper(Some(me));
    let targets = targets(checked, &plan);
    let width = targets
        .iter()
        .map(|t| checked.registry.modules[t.index].name.len())
        .max()
        .unwrap_or(0);
    let shared = Arc::new(Shared {
        dir: dir.clone(),
        state: Mutex::new(StateFile {
            supervisor_pid: std::process::id(),
            supervisor_start: state::process_start(std::process::id()),
            registry: checked.registry.file.clone(),
            phase: "starting".into(),
            started_at_ms: state::now_ms(),
            modules: targets.iter().map(|t| t.state.clone()).collect(),
        }),
    });
    shared.edit(|_| {});
    let (shutdown_tx, shutdown) = watch::channel(false);
    install_signals(shutdown_tx)?;
    for t in targets
        .iter()
        .filter(|t| t.state.state == ModState::Skipped)
    {
        tracing::warn!(
            "module `{}` skipped: {}",
            t.state.name,
            t.state.message.as_deref().unwrap_or("")
        );
    }
    let mut started: Vec<Vec<Started>> = Vec::new();
    for stage in &plan.stages {
        let in_stage: Vec<&Target> = targets
            .iter()
            .filter(|t| t.state.stage == stage.stage)
            .collect();
        if in_stage.iter().all(|t| t.state.state == ModState::Skipped) {
            continue;
        }
        tracing::info!("{}: starting", checked.registry.stage_label(stage.stage));
        for step in 0..stage.steps.len() {
            let mut group = Vec::new();
            for (idx, t) in targets.iter().enumerate() {
                if t.state.stage != stage.stage
                    || t.step != step
                    || t.state.state == ModState::Skipped
                {
                    continue;
                }
                group.push(start(checked, idx, t, width, opts.color, &shared));
            }
            let outcome = wait_ready(&group, shutdown.clone()).await;
            started.push(group);
            match outcome {
                Ok(()) => {}
                Err(None) => {
                    stop_all(started, &shared).await;
                    return Ok(UpOutcome::Stopped);
                }
                Err(Some(reason)) => {
                    shared.edit(|s| s.phase = "failed".into());
                    stop_all(started, &shared).await;
                    shared.edit(|s| s.phase = "failed".into());
                    return Err(SupervisorError::StageFailed {
                        stage: stage.stage,
                        label: checked.registry.stage_label(stage.stage),
                        reason,
                    });
                }
            }
        }
        tracing::info!("{} is up", checked.registry.stage_label(stage.stage));
    }
    shared.edit(|s| s.phase = "running".into());
    tracing::info!("all stages are up; Ctrl-C or `super-agent registry down` stops them");
    let mut shutdown = shutdown;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if started.iter().flatten().all(|s| s.handle.is_finished()) {
            let failed = shared
                .state
                .lock()
                .map(|s| {
                    s.modules
                        .iter()
                        .filter(|m| m.state == ModState::Failed)
                        .count()
                })
                .unwrap_or(0);
            shared.edit(|s| s.phase = "stopped".into());
            return Ok(UpOutcome::AllExited { failed });
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    stop_all(started, &shared).await;
    Ok(UpOutcome::Stopped)
}

struct Target {
    index: usize,
    step: usize,
    state: ModuleState,
}

/// The auto-start modules in plan order, with skipped ones marked.
fn targets(checked: &Checked, plan: &Plan) -> Vec<Target> {
    let reg = &checked.registry;
    let mut skipped: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for stage in &plan.stages {
        for (step, modules) in stage.steps.iter().enumerate() {
            for pm in modules.iter().filter(|p| p.auto_start) {
                let m = &reg.modules[pm.index];
                let mut reason = None;
                if m.run.is_none() && m.health_check.is_none() {
                    reason = Some("nothing to run: no `run` and no `health_check`".to_string());
                } else if let Some(run) = m.run.as_ref().filter(|_| m.optional) {
                    let cwd = run
                        .cwd
                        .as_ref()
                        .map_or(reg.base_dir.clone(), |c| reg.base_dir.join(c));
                    if !program_exists(&run.command[0], &cwd) {
                        reason = Some(format!(
                            "optional, and `{}` is not installed",
                            run.command[0]
                        ));
                    }
                }
                if reason.is_none()
                    && let Some(d) = m
                        .dependencies
                        .iter()
                        .find(|d| skipped.contains(d.name.as_str()))
                {
                    reason = Some(format!("depends on `{}`, which is skipped", d.name));
                }
                if reason.is_some() {
                    skipped.insert(&m.name);
                }
                out.push(Target {
                    index: pm.index,
                    step,
                    state: ModuleState {
                        name: m.name.clone(),
                        stage: stage.stage,
                        state: if reason.is_some() {
                            ModState::Skipped
                        } else {
                            ModState::Pending
                        },
                        pid: None,
                        pid_start: None,
                        restarts: 0,
                        grace_ms: m
                            .run
                            .as_ref()
                            .map_or(0, |r| r.grace_period.as_millis() as u64),
                        last_health: None,
                        message: reason,
                    },
                });
            }
        }
    }
    out
}

/// Whether `program` can be run: a path (relative to `cwd`) that exists, or a name on PATH.
pub fn program_exists(program: &str, cwd: &Path) -> bool {
    if program.contains('/') {
        return cwd.join(program).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| d.join(program).is_file())
}

fn start(
    checked: &Checked,
    idx: usize,
    t: &Target,
    width: usize,
    color: bool,
    shared: &Arc<Shared>,
) -> Started {
    let m = &checked.registry.modules[t.index];
    const COLORS: [&str; 6] = ["36", "35", "34", "32", "33", "96"];
    let name = format!("{:<width$} | ", m.name);
    let text = if color {
        format!("\x1b[{}m{name}\x1b[0m", COLORS[idx % COLORS.len()])
    } else {
        name
    };
    let (gate_tx, gate_rx) = watch::channel(Gate::Waiting);
    let (stop_tx, stop_rx) = watch::channel(false);
    let r = Runner {
        idx,
        name: m.name.clone(),
        run: m.run.clone(),
        health: m.health_check.clone(),
        base_dir: checked.registry.base_dir.clone(),
        prefix: process::Prefix { text },
        shared: shared.clone(),
        gate: gate_tx,
    };
    let handle = tokio::spawn(runner::run(r, stop_rx));
    Started {
        stop: stop_tx,
        gate: gate_rx,
        handle,
    }
}

/// Wait until every module of a step is ready. `Err(None)`: shutdown asked; `Err(Some)`: failed.
async fn wait_ready(
    group: &[Started],
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Option<String>> {
    loop {
        if *shutdown.borrow() {
            return Err(None);
        }
        let mut all_ready = true;
        for s in group {
            match &*s.gate.borrow() {
                Gate::Ready => {}
                Gate::Waiting => all_ready = false,
                Gate::Failed(reason) => return Err(Some(reason.clone())),
            }
        }
        if all_ready {
            return Ok(());
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(25)) => {}
        }
    }
}

/// Stop started modules in reverse order, one step at a time, each step's modules together.
async fn stop_all(started: Vec<Vec<Started>>, shared: &Shared) {
    shared.edit(|s| {
        s.phase = if s.phase == "failed" {
            "failed".into()
        } else {
            "stopping".into()
        }
    });
    for group in started.into_iter().rev() {
        for s in &group {
            let _ = s.stop.send(true);
        }
        for s in group {
            let _ = s.handle.await;
        }
    }
    shared.edit(|s| {
        if s.phase != "failed" {
            s.phase = "stopped".into();
        }
        for m in &mut s.modules {
            if m.state == ModState::Pending {
                m.state = ModState::Stopped;
                m.message = Some("not started".into());
            }
        }
    });
    tracing::info!("all modules stopped");
}

fn install_signals(tx: watch::Sender<bool>) -> Result<(), SupervisorError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(SupervisorError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(SupervisorError::Signals)?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping modules"),
            _ = int.recv() => tracing::info!("interrupted: stopping modules"),
        }
        let _ = tx.send(true);
    });
    Ok(())
}

/// What `down` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownOutcome {
    /// No state file: nothing was running.
    NothingRunning,
    /// The supervisor stopped its modules and exited.
    Stopped {
        /// Its pid.
        supervisor_pid: u32,
    },
    /// The supervisor was gone; its leftover module groups were stopped directly.
    StoppedOrphans {
        /// Module names whose processes were stopped.
        modules: Vec<String>,
    },
}

/// Stop a running supervisor (SIGTERM, then wait up to `timeout`), or, when it is
/// gone, the module process groups it left, in reverse start order.
pub fn down(dir: &Path, timeout: Duration) -> Result<DownOutcome, SupervisorError> {
    let state_err = |source| SupervisorError::State {
        dir: dir.display().to_string(),
        source,
    };
    let Some(st) = state::read(dir).map_err(state_err)? else {
        return Ok(DownOutcome::NothingRunning);
    };
    let pid = st.supervisor_pid;
    if state::same_process(pid, st.supervisor_start) {
        if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(p, Signal::TERM);
        }
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline && state::same_process(pid, st.supervisor_start)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !state::same_process(pid, st.supervisor_start) {
            if leftover(dir).is_empty() {
                return Ok(DownOutcome::Stopped {
                    supervisor_pid: pid,
                });
            }
        } else if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
            tracing::warn!(
                "the supervisor (pid {pid}) did not stop within {timeout:?}; killing it"
            );
            let _ = rustix::process::kill_process(p, Signal::KILL);
        }
    }
    let stopped = leftover(dir);
    for (name, pgid, grace) in &stopped {
        tracing::info!("stopping `{name}` (process group {pgid})");
        process::stop_orphan_group(*pgid, *grace);
    }
    let names = stopped.into_iter().map(|(n, _, _)| n).collect();
    if let Ok(Some(mut st)) = state::read(dir) {
        st.phase = "stopped".into();
        for m in &mut st.modules {
            if m.pid.is_some() {
                m.state = ModState::Stopped;
                m.pid = None;
                m.pid_start = None;
            }
        }
        let _ = state::write(dir, &st);
    }
    Ok(DownOutcome::StoppedOrphans { modules: names })
}

/// Module process groups from the state file that are still alive, in reverse start order.
fn leftover(dir: &Path) -> Vec<(String, u32, Duration)> {
    let Ok(Some(st)) = state::read(dir) else {
        return Vec::new();
    };
    st.modules
        .iter()
        .rev()
        .filter_map(|m| {
            let pid = m.pid?;
            (state::same_process(pid, m.pid_start) || process::group_alive(pid))
                .then(|| (m.name.clone(), pid, Duration::from_millis(m.grace_ms)))
        })
        .collect()
}

/// The state file for `registry status`, with whether its supervisor is alive.
pub fn status(dir: &Path) -> Result<Option<(StateFile, bool)>, SupervisorError> {
    let st = state::read(dir).map_err(|source| SupervisorError::State {
        dir: dir.display().to_string(),
        source,
    })?;
    Ok(st.map(|s| {
        let alive = state::same_process(s.supervisor_pid, s.supervisor_start);
        (s, alive)
    }))
}
