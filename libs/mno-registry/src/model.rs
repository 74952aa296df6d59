//! The registry as the checker, the planner and the supervisor see it, every value located.

use std::collections::BTreeMap;
use std::time::Duration;

use mno_common::Location;

/// A value with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it is in the file.
    pub at: Location,
}

/// A whole registry file after legacy shapes were mapped to the canonical one.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// The file name used in findings.
    pub file: String,
    /// Directory that relative `cwd`s are resolved against (the file's directory).
    pub base_dir: std::path::PathBuf,
    /// Modules in file order.
    pub modules: Vec<Module>,
    /// Declared stages: number → name and optional capacity.
    pub stages: BTreeMap<u32, Stage>,
    /// Total capacity: resource name → quantity text.
    pub capacity: BTreeMap<String, Spanned<String>>,
    /// Where `capacity:` is, when given.
    pub capacity_at: Option<Location>,
}

/// A declared stage.
#[derive(Debug, Clone, Default)]
pub struct Stage {
    /// Its name ("Core Services").
    pub name: String,
    /// Requests of this stage's modules must fit in this, when given.
    pub capacity: BTreeMap<String, Spanned<String>>,
    /// Where the stage is declared.
    pub at: Location,
}

/// One registered module.
#[derive(Debug, Clone, Default)]
pub struct Module {
    /// Unique name.
    pub name: String,
    /// Where the module's entry starts (its name, or its key in a map of modules).
    pub at: Location,
    /// Version text (a leading `v` already removed).
    pub version: Option<Spanned<String>>,
    /// Group for priority uniqueness.
    pub group: Option<String>,
    /// Priority 0–100; unique within a group unless shared priorities are allowed.
    pub priority: Option<Spanned<i64>>,
    /// This module may share its priority with others in its group that allow it too.
    pub allow_shared_priority: bool,
    /// Skip the module (and say so) when its program is not installed.
    pub optional: bool,
    /// Source directory (informational).
    pub path: Option<String>,
    /// What it is.
    pub description: Option<String>,
    /// What it needs.
    pub dependencies: Vec<Dependency>,
    /// Resource name → request and limit.
    pub resources: BTreeMap<String, ResourceSpec>,
    /// Stage from `load_sequence.stage` (or a legacy equivalent).
    pub stage: Option<Spanned<u32>>,
    /// `registry up` starts it.
    pub auto_start: bool,
    /// Where `auto_start` was set.
    pub auto_start_at: Option<Location>,
    /// How to tell it is up.
    pub health_check: Option<HealthCheck>,
    /// How to run it.
    pub run: Option<RunSpec>,
    /// How to build it (the gate's `build_verification` runs it).
    pub build: Option<RunSpec>,
}

/// A dependency of a module on another.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// The module depended on.
    pub name: String,
    /// The constraint as written (`>=1.0.0`), if any.
    pub constraint: Option<String>,
    /// The parsed constraint; `None` when absent, `*`, or unparseable (reported).
    pub req: Option<semver::VersionReq>,
    /// A missing optional dependency is a note, not an error.
    pub optional: bool,
    /// Where the dependency is written.
    pub at: Location,
}

/// Request and limit of one resource.
#[derive(Debug, Clone, Default)]
pub struct ResourceSpec {
    /// The request, as written.
    pub request: Option<Spanned<String>>,
    /// The limit, as written.
    pub limit: Option<Spanned<String>>,
}

/// What a health check probes.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// An HTTP GET; healthy on a 2xx status or one of `expect_status`.
    Http {
        /// The URL.
        url: String,
        /// Accepted statuses; empty means any 2xx.
        expect_status: Vec<u16>,
    },
    /// A TCP connect to `host:port`.
    Tcp {
        /// The address.
        address: String,
    },
    /// A command run from an argument list; healthy when it exits 0.
    Command {
        /// Program and arguments.
        argv: Vec<String>,
    },
}

/// A health check with its timing.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// What to probe.
    pub probe: Probe,
    /// Time between checks once `start_period` is over.
    pub interval: Duration,
    /// Time a single check may take.
    pub timeout: Duration,
    /// Consecutive failures (after `start_period`) that make the module unhealthy.
    pub retries: u32,
    /// Grace time after start during which failures do not count.
    pub start_period: Duration,
    /// Time between checks during `start_period`.
    pub start_interval: Duration,
    /// Where the check is written.
    pub at: Location,
}

/// When to restart a module that exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartMode {
    /// Never.
    Never,
    /// When it exits with a non-zero status or is killed by a signal.
    #[default]
    OnFailure,
    /// Whenever it exits.
    Always,
}

/// Restart policy of a running module.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    /// When to restart.
    pub mode: RestartMode,
    /// Restarts allowed before the module is marked failed.
    pub limit: u32,
    /// Delay before the first restart; doubled for each further one.
    pub backoff: Duration,
    /// The delay never grows past this.
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            mode: RestartMode::OnFailure,
            limit: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A command to run, with its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory, relative to the registry file's directory.
    pub cwd: Option<String>,
    /// What to do when it exits.
    pub restart: RestartPolicy,
    /// Time between SIGTERM and SIGKILL on stop.
    pub grace_period: Duration,
    /// Longest time the command may take (`build` only; the gate's default otherwise).
    pub timeout: Option<Duration>,
    /// Where it is written.
    pub at: Location,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            command: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            restart: RestartPolicy::default(),
            grace_period: Duration::from_secs(10),
            timeout: None,
            at: Location::default(),
        }
    }
}

impl Registry {
    /// The module called `name`.
    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// A stage's display name ("stage 2" when undeclared).
    pub fn stage_name(&self, stage: u32) -> String {
        match self.stages.get(&stage) {
            Some(s) if !s.name.is_empty() => s.name.clone(),
            _ => format!("stage {stage}"),
        }
    }

    /// "stage 2 (Supporting Services)", or "stage 2" when it has no name.
    pub fn stage_label(&self, stage: u32) -> String {
        match self.stages.get(&stage) {
            Some(s) if !s.name.is_empty() => format!("stage {stage} ({})", s.name),
            _ => format!("stage {stage}"),
        }
    }
}
