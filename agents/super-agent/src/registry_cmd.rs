//! `super-agent registry …`: map each subcommand onto mno-registry and its result onto an exit code.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use mno_registry::supervisor::{self, DownOutcome, UpOptions, UpOutcome, state};
use mno_registry::{Checked, GraphFormat, LoadError, Style};

use crate::{Format, GraphFormatArg, RegistryCommand};

/// Exit status: the registry has errors (or the supervisor failed).
const EXIT_FINDINGS: u8 = 1;
/// Exit status: the file could not be read at all.
const EXIT_UNREADABLE: u8 = 2;

/// Run one registry subcommand.
pub fn run(
    cmd: RegistryCommand,
    log_level: Option<String>,
    log_format: Option<mno_common::LogFormat>,
) -> ExitCode {
    // One-shot commands print results on stdout and keep logs quiet; `up` narrates.
    let default_level = if matches!(
        cmd,
        RegistryCommand::Up { .. } | RegistryCommand::Down { .. }
    ) {
        "INFO"
    } else {
        "WARNING"
    };
    let settings = mno_common::LogSettings {
        level: log_level.unwrap_or_else(|| default_level.into()),
        format: log_format.unwrap_or_default(),
        file: None,
        max_size: 10 << 20,
        backup_count: 1,
    };
    if let Err(e) = mno_common::logging::init(&settings) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_UNREADABLE);
    }
    match cmd {
        RegistryCommand::Check {
            file,
            format,
            strict,
        } => check(&registry_path(file), format, strict),
        RegistryCommand::Plan { file, format } => plan(&registry_path(file), format),
        RegistryCommand::Graph { file, format } => graph(&registry_path(file), format),
        RegistryCommand::Up { file, runtime_dir } => up(&registry_path(file), runtime(runtime_dir)),
        RegistryCommand::Down {
            runtime_dir,
            timeout,
        } => down(&runtime(runtime_dir), timeout),
        RegistryCommand::Status {
            runtime_dir,
            format,
        } => status(&runtime(runtime_dir), format),
    }
}

fn registry_path(file: Option<PathBuf>) -> PathBuf {
    file.or_else(|| {
        std::env::var_os("MNO_REGISTRY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| PathBuf::from("root.modules.yaml"))
}

fn runtime(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(state::default_runtime_dir)
}

fn load(path: &Path) -> Result<Checked, ExitCode> {
    mno_registry::check_file(path).map_err(|e: LoadError| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_UNREADABLE)
    })
}

fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path, format: Format, strict: bool) -> ExitCode {
    let checked = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let n = checked.registry.modules.len();
    let report = &checked.report;
    let text = match format {
        Format::Text => {
            mno_registry::render_text(report, n, Style::detect(std::io::stdout().is_terminal()))
        }
        Format::Json => mno_registry::render_json(report, n) + "\n",
    };
    let written = print(&text);
    let s = report.summary();
    if s.errors > 0 || (strict && s.warnings > 0) {
        return ExitCode::from(EXIT_FINDINGS);
    }
    written
}

fn plan_of(path: &Path) -> Result<(Checked, mno_registry::Plan), ExitCode> {
    let checked = load(path)?;
    match mno_registry::plan(&checked) {
        Ok(p) => Ok((checked, p)),
        Err(e) => {
            let style = Style::detect(std::io::stderr().is_terminal());
            eprint!(
                "{}",
                mno_registry::render_text(&checked.report, checked.registry.modules.len(), style)
            );
            eprintln!("error: {e}");
            Err(ExitCode::from(EXIT_FINDINGS))
        }
    }
}

fn plan(path: &Path, format: Format) -> ExitCode {
    let (_, p) = match plan_of(path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    match format {
        Format::Text => print(&mno_registry::render_plan(&p)),
        Format::Json => match serde_json::to_string_pretty(&p) {
            Ok(s) => print(&(s + "\n")),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn graph(path: &Path, format: GraphFormatArg) -> ExitCode {
    // A graph is drawn even for an invalid registry: seeing a cycle helps fixing it.
    let checked = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let f = match format {
        GraphFormatArg::Dot => GraphFormat::Dot,
        GraphFormatArg::Mermaid => GraphFormat::Mermaid,
    };
    print(&mno_registry::render_graph(&checked, f))
}

fn up(path: &Path, runtime_dir: PathBuf) -> ExitCode {
    let (checked, _) = match plan_of(path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    for f in checked
        .report
        .findings
        .iter()
        .filter(|f| f.severity == mno_registry::Severity::Warning)
    {
        tracing::warn!("{f}");
    }
    let rt = match crate::multi_thread_runtime(2) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let opts = UpOptions {
        runtime_dir,
        color: std::io::stdout().is_terminal(),
    };
    let result = rt.block_on(supervisor::up(&checked, &opts));
    match result {
        Ok(UpOutcome::Stopped) => ExitCode::SUCCESS,
        Ok(UpOutcome::AllExited { failed: 0 }) => {
            tracing::info!("every module exited");
            ExitCode::SUCCESS
        }
        Ok(UpOutcome::AllExited { failed }) => {
            eprintln!("error: every module exited; {failed} failed");
            ExitCode::from(EXIT_FINDINGS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FINDINGS)
        }
    }
}

fn down(dir: &Path, timeout: u64) -> ExitCode {
    match supervisor::down(dir, Duration::from_secs(timeout)) {
        Ok(DownOutcome::NothingRunning) => print("nothing is running (no state file)\n"),
        Ok(DownOutcome::Stopped { supervisor_pid }) => print(&format!(
            "stopped (supervisor pid {supervisor_pid} and its modules)\n"
        )),
        Ok(DownOutcome::StoppedOrphans { modules }) if modules.is_empty() => {
            print("nothing was running\n")
        }
        Ok(DownOutcome::StoppedOrphans { modules }) => print(&format!(
            "the supervisor was gone; stopped the modules it left: {}\n",
            modules.join(", ")
        )),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn status(dir: &Path, format: Format) -> ExitCode {
    let (st, alive) = match supervisor::status(dir) {
        Ok(Some(x)) => x,
        Ok(None) => {
            return match format {
                Format::Text => print(&format!(
                    "nothing is running (no state in {})\n",
                    dir.display()
                )),
                Format::Json => print("{\"running\": false, \"modules\": []}\n"),
            };
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match format {
        Format::Json => {
            let v = serde_json::json!({ "running": alive, "state": st });
            match serde_json::to_string_pretty(&v) {
                Ok(s) => print(&(s + "\n")),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Format::Text => print(&status_text(&st, alive)),
    }
}

fn status_text(st: &state::StateFile, alive: bool) -> String {
    let now = state::now_ms();
    let mut out = format!(
        "registry {}: supervisor pid {} {}; phase {}\n",
        st.registry,
        st.supervisor_pid,
        if alive { "running" } else { "not running" },
        st.phase
    );
    let w = st
        .modules
        .iter()
        .map(|m| m.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    out.push_str(&format!(
        "{:<w$}  STAGE  {:<10}  {:>7}  RESTARTS  HEALTH\n",
        "MODULE", "STATE", "PID"
    ));
    for m in &st.modules {
        let health = match (&m.last_health, &m.message) {
            (Some(h), _) => format!(
                "{} {}s ago: {}",
                if h.ok { "ok" } else { "FAIL" },
                now.saturating_sub(h.at_ms) / 1000,
                h.message
            ),
            (None, Some(msg)) => msg.clone(),
            (None, None) => "-".into(),
        };
        out.push_str(&format!(
            "{:<w$}  {:>5}  {:<10}  {:>7}  {:>8}  {health}\n",
            m.name,
            m.stage,
            m.state.as_str(),
            m.pid.map_or("-".into(), |p| p.to_string()),
            m.restarts
        ));
    }
    out
}
