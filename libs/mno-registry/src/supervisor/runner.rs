//! One module's life under the supervisor: start, health checks, restarts with
//! exponential backoff, and stop on request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::health;
use super::process::{self, Prefix};
use super::state::{self, HealthResult, ModState, ModuleState, StateFile};
use crate::duration::format_duration;
use crate::model::{HealthCheck, RestartMode, RunSpec};

/// What bring-up waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Not ready yet.
    Waiting,
    /// Passed its health check (or has none and started).
    Ready,
    /// Will not become ready; the reason says which check failed and how.
    Failed(String),
}

/// The state file, shared by all runners and rewritten on every change.
pub struct Shared {
    /// Runtime directory holding the state file.
    pub dir: PathBuf,
    /// The state.
    pub state: Mutex<StateFile>,
}

impl Shared {
    /// Change module `idx`'s entry and persist the file.
    pub fn update(&self, idx: usize, f: impl FnOnce(&mut ModuleState)) {
        self.edit(|s| {
            if let Some(m) = s.modules.get_mut(idx) {
                f(m);
            }
        });
    }

    /// Change the state and persist it.
    pub fn edit(&self, f: impl FnOnce(&mut StateFile)) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        f(&mut s);
        if let Err(e) = state::write(&self.dir, &s) {
            tracing::warn!("cannot write the state file in {}: {e}", self.dir.display());
        }
    }
}

/// Everything a runner needs.
pub struct Runner {
    /// Index of the module in the state file.
    pub idx: usize,
    /// Module name.
    pub name: String,
    /// How to run it; `None` for a module that is only health-checked (started elsewhere).
    pub run: Option<RunSpec>,
    /// Its health check.
    pub health: Option<HealthCheck>,
    /// Directory relative `cwd`s start from.
    pub base_dir: PathBuf,
    /// Output prefix.
    pub prefix: Prefix,
    /// The shared state.
    pub shared: Arc<Shared>,
    /// Where the gate is published.
    pub gate: watch::Sender<Gate>,
}

/// Run a module until it is told to stop (`stop` becomes true) or gives up.
pub async fn run(r: Runner, mut stop: watch::Receiver<bool>) {
    let client = health::client();
    let Some(spec) = r.run.clone() else {
        // Started elsewhere: only watch its health.
        r.shared.update(r.idx, |m| m.state = ModState::Starting);
        tokio::select! {
            _ = health_loop(&r, client.as_ref(), Instant::now()) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
        r.shared.update(r.idx, |m| m.state = ModState::Stopped);
        return;
    };
    let mut restarts = 0u32;
    loop {
        let mut child = match process::spawn(&spec, &r.base_dir, &r.prefix) {
            Ok(c) => c,
            Err(e) => {
                // A missing program or directory will not fix itself: no restarts.
                let msg = format!("could not be started ({:?}: {e})", spec.command[0]);
                tracing::error!("module `{}` {msg}", r.name);
                r.shared.update(r.idx, |m| {
                    m.state = ModState::Failed;
                    m.message = Some(msg.clone());
                });
                r.gate
                    .send_replace(Gate::Failed(format!("module `{}` {msg}", r.name)));
                return;
            }
        };
        let pid = child.id();
        let started = Instant::now();
        tracing::info!("module `{}` started (pid {})", r.name, pid.unwrap_or(0));
        r.shared.update(r.idx, |m| {
            m.state = if r.health.is_some() {
                ModState::Starting
            } else {
                ModState::Healthy
            };
            m.pid = pid;
            m.pid_start = pid.and_then(state::process_start);
            m.restarts = restarts;
            m.message = None;
        });
        if r.health.is_none() {
            r.gate.send_if_modified(|g| {
                let waiting = *g == Gate::Waiting;
                if waiting {
                    *g = Gate::Ready;
                }
                waiting
            });
        }
        let exit = tokio::select! {
            s = child.wait() => Some(s),
            _ = health_loop(&r, client.as_ref(), started) => None,
            _ = stop.wait_for(|s| *s) => None,
        };
        let Some(status) = exit else {
            // Told to stop (the health loop never returns).
            r.shared.update(r.idx, |m| m.state = ModState::Stopping);
            let status = process::stop(&mut child, spec.grace_period).await;
            tracing::info!(
                "module `{}` stopped{}",
                r.name,
                status.map(|s| format!(" ({s})")).unwrap_or_default()
            );
            r.shared.update(r.idx, |m| {
                m.state = ModState::Stopped;
                m.pid = None;
                m.pid_start = None;
            });
            return;
        };
        // The leader exited: whatever it left in its group goes too.
        if let Some(pgid) = pid {
            process::clear_group(pgid, spec.grace_period.min(Duration::from_secs(2))).await;
        }
        let how = match &status {
            Ok(s) => describe_exit(*s),
            Err(e) => format!("could not be waited for: {e}"),
        };
        let failed = !matches!(&status, Ok(s) if s.success());
        let policy = &spec.restart;
        let wanted = match policy.mode {
            RestartMode::Never => false,
            RestartMode::OnFailure => failed,
            RestartMode::Always => true,
        };
        if wanted && restarts < policy.limit {
            let delay = backoff(policy.backoff, policy.max_backoff, restarts);
            restarts += 1;
            let msg = format!(
                "{how}; restart {restarts}/{} in {}",
                policy.limit,
                format_duration(delay)
            );
            tracing::warn!("module `{}` {msg}", r.name);
            r.shared.update(r.idx, |m| {
                m.state = ModState::Restarting;
                m.pid = None;
                m.pid_start = None;
                m.restarts = restarts;
                m.message = Some(msg.clone());
            });
            tokio::select! {
                _ = tokio::time::sleep(delay) => continue,
                _ = stop.wait_for(|s| *s) => {
                    r.shared.update(r.idx, |m| m.state = ModState::Stopped);
                    return;
                }
            }
        }
        let (state, msg) = if wanted {
            (
                ModState::Failed,
                format!("{how} and reached its restart limit ({})", policy.limit),
            )
        } else if failed {
            (ModState::Failed, format!("{how} (restart policy: never)"))
        } else {
            (ModState::Exited, how)
        };
        if state == ModState::Failed {
            tracing::error!("module `{}` {msg}", r.name);
        } else {
            tracing::info!("module `{}` {msg}", r.name);
        }
        r.shared.update(r.idx, |m| {
            m.state = state;
            m.pid = None;
            m.pid_start = None;
            m.message = Some(msg.clone());
        });
        r.gate.send_if_modified(|g| {
            if *g != Gate::Waiting {
                return false;
            }
            *g = if state == ModState::Failed {
                Gate::Failed(format!("module `{}` {msg}", r.name))
            } else if r.health.is_some() {
                Gate::Failed(format!(
                    "module `{}` {msg} before passing its health check",
                    r.name
                ))
            } else {
                Gate::Ready
            };
            true
        });
        return;
    }
}

/// Delay before restart number `n + 1`: `base × 2ⁿ`, at most `max`.
pub fn backoff(base: Duration, max: Duration, n: u32) -> Duration {
    let factor = 2u32.saturating_pow(n.min(30));
    base.saturating_mul(factor).min(max)
}

fn describe_exit(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => format!("exited ({s})"),
    }
}

/// Check health for as long as the process lives; never returns.
async fn health_loop(r: &Runner, client: Option<&reqwest::Client>, started: Instant) {
    let Some(hc) = &r.health else {
        return std::future::pending().await;
    };
    let what = health::describe(&hc.probe);
    let mut healthy_once = false;
    let mut failures = 0u32;
    loop {
        tokio::time::sleep(if healthy_once {
            hc.interval
        } else {
            hc.start_interval
        })
        .await;
        let result = health::check(hc, client).await;
        let in_start_period = started.elapsed() < hc.start_period;
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        let message = format!("{what}: {detail}");
        let mut new_state = None;
        if ok {
            failures = 0;
            if !healthy_once {
                healthy_once = true;
                tracing::info!("module `{}` is healthy ({message})", r.name);
                r.gate.send_if_modified(|g| {
                    let w = *g == Gate::Waiting;
                    if w {
                        *g = Gate::Ready;
                    }
                    w
                });
            }
            new_state = Some(ModState::Healthy);
        } else if !in_start_period {
            failures += 1;
            if failures >= hc.retries {
                new_state = Some(ModState::Unhealthy);
                let reason = format!(
                    "module `{}` failed its health check: {message} ({failures} consecutive failure{})",
                    r.name,
                    if failures == 1 { "" } else { "s" }
                );
                if failures == hc.retries {
                    tracing::error!("{reason}");
                }
                r.gate.send_if_modified(|g| {
                    let w = *g == Gate::Waiting;
                    if w {
                        *g = Gate::Failed(reason.clone());
                    }
                    w
                });
            }
        }
        let at_ms = state::now_ms();
        r.shared.update(r.idx, |m| {
            m.last_health = Some(HealthResult { ok, message, at_ms });
            if let Some(s) = new_state {
                m.state = s;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = |n| backoff(Duration::from_millis(100), Duration::from_secs(1), n);
        assert_eq!(b(0), Duration::from_millis(100));
        assert_eq!(b(1), Duration::from_millis(200));
        assert_eq!(b(3), Duration::from_millis(800));
        assert_eq!(b(4), Duration::from_secs(1));
        assert_eq!(b(100), Duration::from_secs(1));
    }
}
