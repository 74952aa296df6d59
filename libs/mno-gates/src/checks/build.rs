//! `build_verification`: each module's build command, run with a timeout, output kept as a tail.
//!
//! Commands come from the registry (`modules[].build` in root.modules.yaml)
//! and from `build_verification.modules` in root.gates.yaml, whose entry for a
//! module replaces the registry's. Each is an argument list run without a
//! shell, in a working directory that must resolve (symlinks followed) to a
//! folder inside the repository, with stdin closed, a cleared environment (an
//! allow-list, a scratch `HOME`) plus the module's `env`, kept away from the server's
//! key and data directory by Landlock (see [`sandbox`]), and in a process group of its own: on timeout the group
//! gets SIGTERM, then SIGKILL two seconds later, so whatever the build started
//! goes too; after the build exits, anything it left in its group is killed.
//!
//! Modules build one after another, in registry order, then the modules only
//! root.gates.yaml names: builds saturate the CPUs and share caches and locks
//! (cargo's `target/`), so running them side by side mostly adds contention.
//! stdout and stderr are read as they come and only the last `tail_lines`
//! lines (each cut at 4 KiB) are kept, so a chatty build cannot fill memory.
//! A module without a command is a SKIPPED item; if no module has one, the
//! check is SKIPPED, never PASSED.

pub mod guard;
mod output;
pub mod sandbox;

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mno_common::{Location, PathIndex};
use mno_registry::supervisor::process::{reap_group, signal_group};
use rustix::process::{Signal, WaitId, WaitIdOptions};

use self::output::Tail;
pub use self::sandbox::BuildSandbox;
use crate::config::{BuildConfig, CONFIG_FILE};
use crate::finding::{CheckResult, Finding, ItemResult, Severity, Status};

/// The check's name.
pub const CHECK: &str = "build_verification";

/// Time between SIGTERM and SIGKILL when a build runs out of time.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Time the output readers get to drain the pipes after the build's group is gone; only a
/// process that left the group (and kept the pipe) makes them wait this long.
const READ_GRACE: Duration = Duration::from_secs(10);

/// One module's build as configured.
struct Job {
    name: String,
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    /// The folder the working directory is relative to, and the directory as written.
    base: PathBuf,
    workdir: Option<String>,
    timeout: Duration,
    /// Where the build is written (file relative to the root, location).
    file: String,
    at: Location,
    /// Why there is nothing to run, when `argv` is empty.
    skip: &'static str,
}

/// How one build ended.
struct Outcome {
    status: Status,
    exit_code: Option<i32>,
    detail: Option<String>,
    tail: String,
    finding: Option<(&'static str, String, Option<String>)>,
    /// Why the build ran without filesystem isolation, when it did.
    not_enforced: Option<String>,
}

/// Build every module with a command, with the default sandbox (nothing protected beyond
/// the cleared environment); SKIPPED when none has one.
pub fn run(root: &Path, cfg: &BuildConfig, registry_file: &str) -> CheckResult {
    run_with(root, cfg, registry_file, &BuildSandbox::default())
}

/// Build every module with a command inside `sb`; SKIPPED when none has one.
pub fn run_with(
    root: &Path,
    cfg: &BuildConfig,
    registry_file: &str,
    sb: &BuildSandbox,
) -> CheckResult {
    run_guarded(root, cfg, registry_file, sb, Vec::new())
}

/// [`run_with`], failing the check if a build changes one of `checked` (files other checks
/// read, root-relative) or moves HEAD ([`guard`]); nothing is hashed when no command runs.
pub fn run_guarded(
    root: &Path,
    cfg: &BuildConfig,
    registry_file: &str,
    sb: &BuildSandbox,
    checked: Vec<String>,
) -> CheckResult {
    let started = Instant::now();
    let mut files_read = Vec::new();
    let mut r = match jobs(root, cfg, registry_file, &mut files_read) {
        Err(detail) => CheckResult::with_status(CHECK, Status::Error, detail),
        Ok(jobs) if jobs.is_empty() => CheckResult::with_status(
            CHECK,
            Status::Skipped,
            format!("no {registry_file} modules and no build_verification.modules"),
        ),
        Ok(jobs) if jobs.iter().all(|j| j.argv.is_empty()) => run_jobs(root, &jobs, cfg, sb),
        Ok(jobs) => {
            let guard = guard::TreeGuard::before(root, checked);
            let mut r = run_jobs(root, &jobs, cfg, sb);
            guard.after(root, &mut r);
            r
        }
    };
    r.files_read = files_read;
    r.duration_ms = started.elapsed().as_millis() as u64;
    r
}

/// The modules to build: the registry's, then those only root.gates.yaml names.
fn jobs(
    root: &Path,
    cfg: &BuildConfig,
    registry_file: &str,
    files_read: &mut Vec<String>,
) -> Result<Vec<Job>, String> {
    let default_timeout = Duration::from_secs(cfg.timeout_seconds);
    let mut jobs: Vec<Job> = Vec::new();
    let registry_path = root.join(registry_file);
    if registry_path.is_file() {
        let loaded = mno_registry::tree::read_file(&registry_path)
            .and_then(|text| mno_registry::load_str(registry_file, &text))
            .map_err(|e| format!("{e} (see module_registry)"))?;
        files_read.push(registry_file.to_string());
        let base = registry_path.parent().unwrap_or(root).to_path_buf();
        for m in &loaded.registry.modules {
            let b = m.build.clone().unwrap_or_default();
            jobs.push(Job {
                name: m.name.clone(),
                argv: b.command,
                env: b.env,
                base: base.clone(),
                workdir: b.cwd,
                timeout: b.timeout.unwrap_or(default_timeout),
                file: registry_file.to_string(),
                at: if m.build.is_some() { b.at } else { m.at },
                skip: "no build command",
            });
        }
    }
    if !cfg.modules.is_empty() {
        let text = std::fs::read_to_string(root.join(CONFIG_FILE)).unwrap_or_default();
        let index = PathIndex::build(CONFIG_FILE, &text).unwrap_or_default();
        if !text.is_empty() {
            files_read.push(CONFIG_FILE.to_string());
        }
        for (name, m) in &cfg.modules {
            let pointer = format!(
                "/build_verification/modules/{}",
                name.replace('~', "~0").replace('/', "~1")
            );
            let job = Job {
                name: name.clone(),
                argv: m.command.clone(),
                env: m.env.clone(),
                base: root.to_path_buf(),
                workdir: m.workdir.clone(),
                timeout: m
                    .timeout_seconds
                    .map_or(default_timeout, Duration::from_secs),
                file: CONFIG_FILE.to_string(),
                at: index
                    .node(&pointer)
                    .map(|n| n.key.unwrap_or(n.value))
                    .unwrap_or_default(),
                skip: "build turned off in root.gates.yaml (empty command)",
            };
            match jobs.iter_mut().find(|j| j.name == *name) {
                Some(j) => *j = job,
                None => jobs.push(job),
            }
        }
    }
    Ok(jobs)
}

fn run_jobs(root: &Path, jobs: &[Job], cfg: &BuildConfig, sb: &BuildSandbox) -> CheckResult {
    let canon_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let require = sb.require || cfg.require_sandbox;
    let mut sandbox_notice: Option<(String, Location, String)> = None;
    let mut findings = Vec::new();
    let mut items = Vec::new();
    for job in jobs {
        if job.argv.is_empty() {
            items.push(ItemResult {
                name: job.name.clone(),
                status: Status::Skipped,
                duration_ms: 0,
                command: Vec::new(),
                exit_code: None,
                detail: Some(job.skip.to_string()),
                output_tail: String::new(),
            });
            continue;
        }
        let started = Instant::now();
        tracing::info!(module = %job.name, command = ?job.argv, "building");
        let out = build(&canon_root, job, cfg.tail_lines, sb, require);
        if let Some(why) = out.not_enforced.clone() {
            sandbox_notice.get_or_insert((job.file.clone(), job.at, why));
        }
        if let Some((rule, message, fix)) = out.finding {
            findings.push(Finding {
                check: CHECK.into(),
                rule_id: rule.into(),
                severity: Severity::Error,
                file: job.file.clone(),
                line: job.at.line,
                column: job.at.column,
                message,
                suggested_fix: fix,
                fingerprint: None,
            });
        }
        items.push(ItemResult {
            name: job.name.clone(),
            status: out.status,
            duration_ms: started.elapsed().as_millis() as u64,
            command: job.argv.clone(),
            exit_code: out.exit_code,
            detail: out.detail,
            output_tail: out.tail,
        });
    }
    if let Some((file, at, why)) = sandbox_notice {
        findings.push(Finding {
            check: CHECK.into(),
            rule_id: "build.sandbox-not-enforced".into(),
            severity: Severity::Warning,
            file,
            line: at.line,
            column: at.column,
            message: format!(
                "builds ran with a cleared environment but without filesystem isolation: {why}; \
                 they could read the server's data directory and signing key"
            ),
            suggested_fix: Some(
                "run the gate on a kernel with Landlock; `require_sandbox: true` refuses to build without it"
                    .into(),
            ),
            fingerprint: None,
        });
    }
    let ran = items.iter().filter(|i| i.status != Status::Skipped).count();
    let mut r = if ran == 0 {
        CheckResult::with_status(CHECK, Status::Skipped, "no module has a build command")
    } else {
        let mut r = CheckResult::from_findings(CHECK, findings, 0);
        let failed = items
            .iter()
            .filter(|i| matches!(i.status, Status::Failed | Status::Error))
            .count();
        r.detail = Some(format!(
            "{ran} run, {failed} failed, {} skipped",
            items.len() - ran
        ));
        r
    };
    r.stats.insert("modules_run".into(), ran as u64);
    r.stats
        .insert("modules_skipped".into(), (items.len() - ran) as u64);
    r.items = items;
    r
}

/// Run one build to its end or its timeout.
fn build(
    canon_root: &Path,
    job: &Job,
    tail_lines: usize,
    sb: &BuildSandbox,
    require: bool,
) -> Outcome {
    let fail = |status, rule, message: String, fix: Option<String>| Outcome {
        status,
        exit_code: None,
        detail: Some(message.clone()),
        tail: String::new(),
        finding: Some((rule, message, fix)),
        not_enforced: None,
    };
    let written = job.workdir.as_deref().unwrap_or(".");
    let cwd = match job.base.join(written).canonicalize() {
        Ok(c) if c.starts_with(canon_root) && c.is_dir() => c,
        Ok(c) if c.starts_with(canon_root) => {
            let msg = format!(
                "module `{}`: working directory `{written}` is not a directory; not built",
                job.name
            );
            return fail(Status::Error, "build.workdir", msg, None);
        }
        Ok(_) => {
            let msg = format!(
                "module `{}`: working directory `{written}` is outside the repository; not built",
                job.name
            );
            return fail(
                Status::Error,
                "build.workdir",
                msg,
                Some("use a folder inside the repository".into()),
            );
        }
        Err(e) => {
            let msg = format!(
                "module `{}`: working directory `{written}`: {e}; not built",
                job.name
            );
            return fail(Status::Error, "build.workdir", msg, None);
        }
    };
    let shown = job.argv.join(" ");
    // A relative program path with a slash is relative to the working directory, as in a shell.
    let program = match Path::new(&job.argv[0]) {
        p if p.is_relative() && job.argv[0].contains('/') => cwd.join(p),
        p => p.to_path_buf(),
    };
    let sandbox = match sandbox::prepare(canon_root, sb) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("module `{}`: {e}; not built", job.name);
            return fail(Status::Error, "build.sandbox", msg, None);
        }
    };
    if let (Some(why), true) = (&sandbox.not_enforced, require) {
        let msg = format!(
            "module `{}`: the build cannot be isolated ({why}) and a sandbox is required; not built",
            job.name
        );
        let fix = Some("run the gate on a kernel with Landlock, or drop `require_sandbox`".into());
        return fail(Status::Error, "build.sandbox", msg, fix);
    }
    let mut cmd = Command::new(&program);
    cmd.args(&job.argv[1..]);
    sandbox.apply(&mut cmd, &job.env);
    let spawned = cmd
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let msg = format!("module `{}`: program `{}` not found", job.name, job.argv[0]);
            let fix = Some(format!(
                "install `{}` or fix the build command",
                job.argv[0]
            ));
            return fail(Status::Error, "build.not-found", msg, fix);
        }
        Err(e) => {
            let msg = format!("module `{}`: cannot start `{shown}`: {e}", job.name);
            return fail(Status::Error, "build.failed", msg, None);
        }
    };
    let tail = Tail::new(tail_lines);
    let readers = tail.read_from(child.stdout.take(), child.stderr.take());
    let (status, timed_out) = wait(&mut child, job.timeout);
    reap_group(child.id());
    readers.finish(READ_GRACE);
    let tail = tail.text();
    let exit_code = status.as_ref().and_then(ExitStatus::code);
    let (st, short, finding) = match (&status, timed_out) {
        (_, true) => (
            Status::Failed,
            format!("timed out after {} s", job.timeout.as_secs_f64()),
            Some((
                "build.timeout",
                format!(
                    "module `{}`: `{shown}` did not finish within {} s; its process group was killed",
                    job.name,
                    job.timeout.as_secs_f64()
                ),
                Some("make the build faster or raise its timeout".to_string()),
            )),
        ),
        (Some(s), false) if s.success() => (Status::Passed, String::new(), None),
        (Some(s), false) => {
            let how = match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit code {c}"),
                (None, Some(sig)) => format!("signal {sig}"),
                _ => "an unknown status".to_string(),
            };
            let msg = format!("module `{}`: `{shown}` failed with {how}", job.name);
            (
                Status::Failed,
                format!("failed with {how}"),
                Some(("build.failed", msg, None)),
            )
        }
        (None, false) => {
            let msg = format!("module `{}`: lost track of `{shown}`", job.name);
            (
                Status::Error,
                "lost track of the process".into(),
                Some(("build.failed", msg, None)),
            )
        }
    };
    // The scratch HOME goes now, with whatever the build left in it.
    let not_enforced = sandbox.not_enforced.clone();
    drop(sandbox);
    Outcome {
        status: st,
        exit_code,
        detail: (!short.is_empty()).then_some(short),
        tail,
        finding,
        not_enforced,
    }
}

/// Wait for `child` up to `timeout` (then SIGTERM its group, SIGKILL after [`KILL_GRACE`]);
/// once it has exited, SIGKILL whatever it left in its group, and only then reap it.
///
/// The order matters: the group id is the leader's pid, and until the leader is reaped
/// (it stays a zombie) no other process can get that pid, so the final group kill cannot
/// hit a stranger's group — a concurrent gate's build, or another test's processes.
fn wait(child: &mut Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let pid = rustix::process::Pid::from_child(child);
    // Exited, without reaping (WNOWAIT); an error means we cannot watch it any more.
    let exited = |opts: WaitIdOptions| {
        rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | opts,
        )
        .map(|s| s.is_some())
        .unwrap_or(true)
    };
    let poll = |until: Instant| -> bool {
        loop {
            if exited(WaitIdOptions::NOHANG) {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(25)));
        }
    };
    let mut timed_out = false;
    if !poll(Instant::now() + timeout) {
        timed_out = true;
        signal_group(child.id(), Signal::TERM);
        if !poll(Instant::now() + KILL_GRACE) {
            signal_group(child.id(), Signal::KILL);
            exited(WaitIdOptions::empty());
        }
    }
    // The leader is a zombie now: its pid, and so the group id, is still ours.
    signal_group(child.id(), Signal::KILL);
    (child.wait().ok(), timed_out)
}

#[cfg(test)]
mod tests;
